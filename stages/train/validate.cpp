#include "stages/train/validate.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/errors.h"
#include "common/validation.h"
#include "graph/registry.h"
#include "runtime/data/dataset.h"
#include "runtime/data/formats.h"
#include "runtime/data/image.h"
#include "runtime/model/compute_thread.h"
#include "runtime/model/device.h"
#include "runtime/model/infer.h"
#include "runtime/model/model.h"
#include "runtime/outputs/metrics.h"
#include "stages/infer/forward_params.h"
#include "stages/train/messages.h"

namespace vsr {

namespace fs = std::filesystem;

StageSchema ValidateStage::schema() {
  StageSchema s("validate");
  s.doc(
       "PSNR, PSNR-Y and SSIM-Y of a snapshot (EMA weights when present) on every Val/GT "
       "image, next to bicubic upscaling; emits the means and the first num_images pred/gt "
       "pairs")
      .input<ModelSnapshot>("in", "snapshots; those with validate=false are ignored")
      .output<ValResult>("out", "mean metrics over the validation set")
      .output<ValImages>("images", "pred_NNN, bicubic_NNN and gt_NNN images to write")
      .required("val_dir", ParamType::kString, "folder of validation GT images (Val/GT)")
      .non_empty()
      .existing_dir("validation folder");
  frames_param(s);
  scale_param(s, "upscaling factor; also the metrics' border crop");
  s.optional("shifts", ParamType::kFloatList, json::array(),
             "horizontal shift of each LR frame in GT pixels; [] = the spec's list for "
             "`frames` (0.5 px apart, centred)")
      .check("shifts has one entry per frame",
             [](const json& p, ParamProblems& out) {
               const auto& shifts = p.at("shifts");
               const int frames = p.at("frames").get<int>();
               if (!shifts.empty() && static_cast<int>(shifts.size()) != frames) {
                 out.add("shifts", "shifts has " + std::to_string(shifts.size()) +
                                       " entries; it needs one per frame (" +
                                       std::to_string(frames) + ")");
               }
             })
      .optional("num_images", ParamType::kInt, 10,
                "pred/gt pairs to save per validation (0 = all); every image is evaluated")
      .at_least(0);
  return forward_params(s);
}

namespace {

cv::Mat clamp01(const cv::Mat& img) {
  cv::Mat out;
  cv::min(img, 1.0, out);
  cv::max(out, 0.0, out);
  return out;
}

}  // namespace

struct ValidateStage::Impl {
  struct Image {
    cv::Mat gt;        // cropped to a multiple of scale
    torch::Tensor lr;  // [1,T,3,h,w] on the CPU
    cv::Mat bicubic;   // the centre frame upscaled, clamped to [0, 1]
    std::string file;  // the GT file's name
    double bicubic_psnr = 0, bicubic_psnr_y = 0, bicubic_ssim = 0;
  };

  fs::path val_dir;
  int frames = 7;
  int scale = 3;
  std::vector<double> shifts;
  int num_images = 0;
  ForwardParams run;

  std::vector<Image> images;
  double bicubic_psnr = 0, bicubic_psnr_y = 0, bicubic_ssim = 0;
  VSRNet net{nullptr};
  VSRNetOptions net_options;

  void ensure_net(const ModelSnapshot& s) {
    if (s.scale != scale || s.frames != frames) {
      throw RunError("snapshot of step " + std::to_string(s.step) + " is a x" +
                     std::to_string(s.scale) + ", " + std::to_string(s.frames) +
                     "-frame model but validation is set up for x" + std::to_string(scale) +
                     " with " + std::to_string(frames) + " frames (params.scale, params.frames)");
    }
    if (net && net_options.base_channels() == s.base_channels &&
        net_options.num_blocks() == s.num_blocks) {
      return;
    }
    net_options = VSRNetOptions()
                      .base_channels(s.base_channels)
                      .num_blocks(s.num_blocks)
                      .scale(s.scale)
                      .frames(s.frames)
                      .use_checkpointing(false);
    net = VSRNet(net_options);
    net->to(run.device);
    net->eval();
  }
};

ValidateStage::ValidateStage(const StageContext& ctx) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.val_dir = ctx.param<std::string>("val_dir");
  m.frames = ctx.param<int>("frames");
  m.scale = ctx.param<int>("scale");
  m.shifts = ctx.param<std::vector<double>>("shifts");
  m.num_images = ctx.param<int>("num_images");
  if (m.shifts.empty()) m.shifts = validation_shifts(m.frames);
  m.run = read_forward_params(ctx);
}

ValidateStage::~ValidateStage() = default;

void ValidateStage::open() {
  // On the one thread that runs LibTorch work (runtime/model/compute_thread.h): the
  // frames become tensors here, and a large op on another thread would start a second
  // OpenMP pool.
  ComputeThread::global().run([&] {
    Impl& m = *impl_;
    const auto files = list_validation_images(m.val_dir);
    m.images.clear();
    double bp = 0, bpy = 0, bs = 0;
    for (const auto& file : files) {
      const cv::Mat gt = read_image_rgb(file);
      check_val_image_size(gt.size(), m.scale, file.string());
      ValSample s = make_val_lr_frames(gt, m.shifts, m.scale);
      const cv::Mat bicubic = clamp01(bicubic_upscale(s.frames[s.frames.size() / 2], m.scale));
      Impl::Image img{s.gt, frames_to_tensor(s.frames), bicubic, file.filename().string()};
      img.bicubic_psnr = psnr(bicubic, img.gt, m.scale);
      img.bicubic_psnr_y = psnr_y(bicubic, img.gt, m.scale);
      img.bicubic_ssim = ssim_y(bicubic, img.gt, m.scale);
      bp += img.bicubic_psnr;
      bpy += img.bicubic_psnr_y;
      bs += img.bicubic_ssim;
      m.images.push_back(std::move(img));
    }
    const double n = static_cast<double>(m.images.size());
    m.bicubic_psnr = bp / n;
    m.bicubic_psnr_y = bpy / n;
    m.bicubic_ssim = bs / n;
  });
}

void ValidateStage::process(std::size_t, const Message& in, Emitter& out) {
  // On the one thread that runs LibTorch work (runtime/model/compute_thread.h).
  ComputeThread::global().run([&] {
    auto snapshot = in.as<ModelSnapshot>();
    if (!snapshot->validate) return;
    Impl& m = *impl_;
    const auto t0 = std::chrono::steady_clock::now();
    set_threads(m.run.threads);  // per call: the intra-op setting is per calling thread
    m.ensure_net(*snapshot);
    const bool ema = !snapshot->ema.empty();
    load_named_weights(*m.net, ema ? snapshot->ema : snapshot->model,
                       std::string("the ") + (ema ? "EMA" : "model") +
                           " weights of the snapshot of step " + std::to_string(snapshot->step) +
                           " do not fit the network built from its architecture:");
    m.net->eval();

    auto result = std::make_shared<ValResult>();
    result->step = snapshot->step;
    result->final = snapshot->final;
    result->images = static_cast<int>(m.images.size());
    auto images = std::make_shared<ValImages>();
    images->step = snapshot->step;
    const std::size_t keep =
        m.num_images == 0 ? m.images.size() : std::min<std::size_t>(m.images.size(), m.num_images);
    nlohmann::json per_image = nlohmann::json::array();
    {
      torch::NoGradGuard no_grad;
      for (std::size_t i = 0; i < m.images.size(); ++i) {
        const Impl::Image& img = m.images[i];
        cv::Mat pred;
        try {
          pred = tensor_to_image(upscale_tiled(*m.net, img.lr, m.run.tiles, m.run.device));
        } catch (const std::exception& e) {
          if (!is_out_of_memory(e)) throw;
          throw RunError(validation_out_of_memory_message(m.run.device.str(), snapshot->step,
                                                          static_cast<int>(i), img.gt.size(),
                                                          m.run.tiles.tile, error_first_line(e)));
        }
        const double p = psnr(pred, img.gt, m.scale), py = psnr_y(pred, img.gt, m.scale),
                     ps = ssim_y(pred, img.gt, m.scale);
        result->psnr += p;
        result->psnr_y += py;
        result->ssim += ps;
        per_image.push_back({{"file", img.file},
                             {"psnr", p},
                             {"psnr_y", py},
                             {"ssim", ps},
                             {"bicubic_psnr", img.bicubic_psnr},
                             {"bicubic_psnr_y", img.bicubic_psnr_y},
                             {"bicubic_ssim", img.bicubic_ssim}});
        if (i < keep) {
          const std::string index = zero_padded(static_cast<long long>(i), 3);
          images->images.emplace_back("pred_" + index, pred);
          images->images.emplace_back("bicubic_" + index, img.bicubic);
          images->images.emplace_back("gt_" + index, img.gt);
        }
      }
    }
    const double n = static_cast<double>(m.images.size());
    result->psnr /= n;
    result->psnr_y /= n;
    result->ssim /= n;
    result->bicubic_psnr = m.bicubic_psnr;
    result->bicubic_psnr_y = m.bicubic_psnr_y;
    result->bicubic_ssim = m.bicubic_ssim;
    result->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    images->metrics_json = nlohmann::json({{"step", result->step},
                                           {"weights", ema ? "ema" : "model"},
                                           {"crop_border", m.scale},
                                           {"mean",
                                            {{"psnr", result->psnr},
                                             {"psnr_y", result->psnr_y},
                                             {"ssim", result->ssim},
                                             {"bicubic_psnr", result->bicubic_psnr},
                                             {"bicubic_psnr_y", result->bicubic_psnr_y},
                                             {"bicubic_ssim", result->bicubic_ssim}}},
                                           {"images", per_image}})
                               .dump(2) +
                           "\n";
    out.emit<ValResult>(0, std::move(result));
    out.emit<ValImages>(1, std::move(images));
  });
}

std::string validation_out_of_memory_message(const std::string& device, std::int64_t step,
                                             int image, cv::Size gt_size, int tile,
                                             const std::string& error) {
  return "out of memory on " + device + " validating step " + std::to_string(step) +
         " (validation image " + std::to_string(image) + ", " + std::to_string(gt_size.width) +
         "x" + std::to_string(gt_size.height) + "): " + error + "\nTo fit it: " +
         (tile == 0 ? std::string("set VALIDATION.tile (now 0: whole images), e.g. 128")
                    : "lower VALIDATION.tile (now " + std::to_string(tile) + ", e.g. " +
                          std::to_string(std::max(32, tile / 2)) + ")") +
         ". Checkpoints written so far are intact.";
}

void ValidateStage::close(bool) { impl_->net = nullptr; }

VSR_REGISTER_STAGE(ValidateStage);

}  // namespace vsr
