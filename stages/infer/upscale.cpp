#include "stages/infer/upscale.h"

#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/errors.h"
#include "graph/registry.h"
#include "runtime/data/image.h"
#include "runtime/model/device.h"
#include "runtime/model/infer.h"
#include "runtime/model/model.h"
#include "runtime/outputs/checkpoint.h"
#include "stages/infer/forward_params.h"
#include "stages/infer/messages.h"

namespace vsr {

namespace fs = std::filesystem;

StageSchema UpscaleStage::schema() {
  StageSchema s("upscale");
  s.doc(
       "upscales the centre frame of each window with a trained checkpoint (no gradients, "
       "optionally in feathered tiles); decodes each frame file once")
      .input<FrameWindow>("in", "windows of LR frame paths")
      .output<UpscaledFrame>("out", "the centre frame upscaled, float RGB in [0, 1]")
      .required("checkpoint", ParamType::kString, "checkpoint file (checkpoint_step_NNNNNN.pth)")
      .non_empty()
      .existing_file("checkpoint")
      .optional("weights", ParamType::kString, "ema",
                "ema (the model weights when the checkpoint has no EMA) or model")
      .choices({"ema", "model"});
  frames_param(s, "frames per window; must be the checkpoint's (arch.frames)");
  return forward_params(s);
}

struct UpscaleStage::Impl {
  fs::path checkpoint;
  bool use_ema = true;
  int frames = 7;
  ForwardParams run;
  VSRNet net{nullptr};
  std::map<fs::path, cv::Mat> cache;  // decoded frames of the last window
  std::size_t decoded = 0;

  // The window's frames, decoded at most once while they stay in the window.
  std::vector<cv::Mat> read_window(const FrameWindow& w) {
    std::map<fs::path, cv::Mat> next;
    std::vector<cv::Mat> out;
    for (const auto& p : w.paths) {
      auto it = next.find(p);
      if (it == next.end()) {
        auto old = cache.find(p);
        cv::Mat img;
        if (old != cache.end()) {
          img = old->second;
        } else {
          img = read_image_rgb(p);
          ++decoded;
        }
        it = next.emplace(p, img).first;
      }
      out.push_back(it->second);
    }
    cache = std::move(next);
    return out;
  }
};

UpscaleStage::UpscaleStage(const StageContext& ctx) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.checkpoint = ctx.param<std::string>("checkpoint");
  m.use_ema = ctx.param<std::string>("weights") == "ema";
  m.frames = ctx.param<int>("frames");
  m.run = read_forward_params(ctx);
}

UpscaleStage::~UpscaleStage() = default;

std::size_t UpscaleStage::files_decoded() const { return impl_->decoded; }

void UpscaleStage::open() {
  Impl& m = *impl_;
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
  m.cache.clear();
  m.decoded = 0;
}

void UpscaleStage::process(std::size_t, const Message& in, Emitter& out) {
  Impl& m = *impl_;
  auto window = in.as<FrameWindow>();
  if (static_cast<int>(window->paths.size()) != m.frames) {
    throw RunError("window of frame " + window->name + " has " +
                   std::to_string(window->paths.size()) + " paths; the model takes " +
                   std::to_string(m.frames) + " (params.frames of the source)");
  }
  const std::vector<cv::Mat> frames = m.read_window(*window);
  const std::size_t c = frames.size() / 2;
  for (std::size_t t = 0; t < frames.size(); ++t) {
    if (frames[t].size() != frames[c].size()) {
      throw DataError("frame " + window->paths[t].string() + " is " + size_text(frames[t].size()) +
                      " but " + window->paths[c].string() + " is " + size_text(frames[c].size()) +
                      "; every frame of a video must have one size");
    }
  }
  set_threads(m.run.threads);  // per call: the intra-op setting is per calling thread
  auto result = std::make_shared<UpscaledFrame>();
  result->index = window->index;
  result->name = window->name;
  {
    torch::NoGradGuard no_grad;
    result->image =
        tensor_to_image(upscale_tiled(*m.net, frames_to_tensor(frames), m.run.tiles, m.run.device));
  }
  out.emit<UpscaledFrame>(0, std::move(result));
}

void UpscaleStage::close(bool) {
  impl_->net = nullptr;
  impl_->cache.clear();
}

VSR_REGISTER_STAGE(UpscaleStage);

}  // namespace vsr
