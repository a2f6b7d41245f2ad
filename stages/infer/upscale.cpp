#include "stages/infer/upscale.h"

#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/errors.h"
#include "graph/registry.h"
#include "runtime/data/image.h"
#include "runtime/data/pixels.h"
#include "runtime/model/compute_thread.h"
#include "runtime/model/device.h"
#include "runtime/model/infer.h"
#include "runtime/model/model.h"
#include "runtime/outputs/checkpoint.h"
#include "stages/infer/forward_params.h"
#include "stages/infer/messages.h"

namespace vsr {

namespace fs = std::filesystem;

namespace {

const char kFp16OnCpu[] = "precision fp16 needs a CUDA device; use bf16 (or off) on the CPU";

}  // namespace

StageSchema UpscaleStage::schema() {
  StageSchema s("upscale");
  s.doc(
       "upscales the centre frame of each window with a trained checkpoint (no gradients, "
       "optionally under autocast and in feathered tiles)")
      .input<FrameWindow>("in", "windows of decoded LR frames")
      .output<UpscaledFrame>("out", "the centre frame upscaled, float RGB in [0, 1]")
      .required("checkpoint", ParamType::kString, "checkpoint file (checkpoint_step_NNNNNN.pth)")
      .non_empty()
      .existing_file("checkpoint")
      .optional("weights", ParamType::kString, "ema",
                "ema (the model weights when the checkpoint has no EMA) or model")
      .choices({"ema", "model"})
      .optional("precision", ParamType::kString, "off",
                "autocast of the forward pass: off (float32), bf16 (CPU or CUDA), fp16 (CUDA "
                "only) or auto (bf16 on a CPU with AMX-BF16 or CUDA from compute capability 8.0, "
                "else off)")
      .choices({"off", "auto", "bf16", "fp16"})
      .check("fp16 runs on CUDA", [](const json& p, ParamProblems& out) {
        if (p.at("precision") == "fp16" && p.at("device") == "cpu")
          out.add("precision", kFp16OnCpu);
      });
  frames_param(s, "frames per window; must be the checkpoint's (arch.frames)");
  return forward_params(s).world_check(
      "fp16 has a CUDA device here", [](const json& p, ParamProblems& out) {
        if (p.at("precision") != "fp16" || p.at("device") == "cpu") return;
        try {
          if (!pick_device(p.at("device").get<std::string>()).is_cuda()) {
            out.add("precision", "precision fp16 needs a CUDA device, and device " +
                                     p.at("device").get<std::string>() +
                                     " is the CPU on this machine; use bf16 (or off) on the CPU");
          }
        } catch (const std::exception&) {
          // The device check reports it.
        }
      });
}

struct UpscaleStage::Impl {
  fs::path checkpoint;
  bool use_ema = true;
  int frames = 7;
  std::string precision_name;             // as configured: off, auto, bf16 or fp16
  Precision precision = Precision::kOff;  // resolved on the device at open()
  ForwardParams run;
  VSRNet net{nullptr};
};

UpscaleStage::UpscaleStage(const StageContext& ctx) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.checkpoint = ctx.param<std::string>("checkpoint");
  m.use_ema = ctx.param<std::string>("weights") == "ema";
  m.frames = ctx.param<int>("frames");
  m.precision_name = ctx.param<std::string>("precision");
  m.run = read_forward_params(ctx);
}

UpscaleStage::~UpscaleStage() = default;

void UpscaleStage::open() {
  // On the one thread that runs LibTorch work (runtime/model/compute_thread.h).
  ComputeThread::global().run([&] {
    Impl& m = *impl_;
    m.precision = open_precision("upscale", "precision", m.precision_name, m.run.device);
    if (m.precision == Precision::kFp16 && !m.run.device.is_cuda()) {
      throw RunError(kFp16OnCpu);  // only when CUDA went away since the spec was checked
    }
    const CheckpointData c = load_checkpoint(m.checkpoint);
    const std::string file = m.checkpoint.string();
    if (c.base_channels <= 0 || c.num_blocks <= 0 || c.scale <= 0 || c.frames <= 0) {
      throw DataError("checkpoint " + file +
                      " has no architecture (arch: base_channels, num_blocks, scale, frames); "
                      "use a checkpoint written by vsr_flow training");
    }
    if (c.frames != m.frames) {
      throw DataError("checkpoint " + file + " is a " + std::to_string(c.frames) +
                      "-frame model but params.frames is " + std::to_string(m.frames) +
                      "; set frames to " + std::to_string(c.frames) +
                      " in both the frames and the upscale stages");
    }
    const bool ema = m.use_ema && !c.ema.empty();
    if (m.use_ema && !ema) {
      std::cerr << "upscale: " << file << " has no EMA weights; using the model weights\n";
    }
    m.net = VSRNet(VSRNetOptions()
                       .base_channels(c.base_channels)
                       .num_blocks(c.num_blocks)
                       .scale(c.scale)
                       .frames(c.frames)
                       .use_checkpointing(false));
    load_named_weights(*m.net, ema ? c.ema : c.model,
                       std::string("the ") + (ema ? "EMA" : "model") + " weights of " + file +
                           " do not fit the network built from its architecture:");
    m.net->to(m.run.device);
    m.net->eval();
  });
}

void UpscaleStage::process(std::size_t, const Message& in, Emitter& out) {
  // On the one thread that runs LibTorch work (runtime/model/compute_thread.h).
  ComputeThread::global().run([&] {
    Impl& m = *impl_;
    auto window = in.as<FrameWindow>();
    const std::vector<cv::Mat>& frames = window->frames;
    if (static_cast<int>(frames.size()) != m.frames) {
      throw RunError("window of frame " + window->name + " has " + std::to_string(frames.size()) +
                     " frames; the model takes " + std::to_string(m.frames) +
                     " (params.frames of the source)");
    }
    const std::size_t c = frames.size() / 2;
    const cv::Size size = frames[c].size();
    for (std::size_t t = 0; t < frames.size(); ++t) {
      if (frames[t].size() != size) {
        throw DataError("frame " + std::to_string(window->sources.at(t)) + " of the window of " +
                        window->name + " is " + size_text(frames[t].size()) +
                        " but the centre is " + size_text(size) +
                        "; every frame of a video must have one size");
      }
    }
    set_threads(m.run.threads);  // per call: the intra-op setting is per calling thread
    // [1, T, 3, h, w] float RGB in [0, 1], converted as the training batches are.
    torch::Tensor lr = torch::empty(
        {1, static_cast<std::int64_t>(frames.size()), 3, size.height, size.width}, torch::kFloat);
    for (std::size_t t = 0; t < frames.size(); ++t) {
      copy_float_rgb(frames[t], lr[0][static_cast<std::int64_t>(t)]);
    }
    auto result = std::make_shared<UpscaledFrame>();
    result->index = window->index;
    result->name = window->name;
    result->clip = window->clip;
    {
      torch::NoGradGuard no_grad;
      AutocastGuard autocast(m.run.device, m.precision);
      result->image = tensor_to_image(upscale_tiled(*m.net, lr, m.run.tiles, m.run.device));
    }
    out.emit<UpscaledFrame>(0, std::move(result));
  });
}

void UpscaleStage::close(bool) { impl_->net = nullptr; }

VSR_REGISTER_STAGE(UpscaleStage);

}  // namespace vsr
