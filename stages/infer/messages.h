// Messages of the upscaling job: frames -> upscale -> frame_writer. Payloads are immutable
// once emitted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "graph/message.h"

namespace vsr {

// What the writer needs to know of the input clip.
struct ClipInfo {
  double fps = 0;                 // 0 when unknown (frame folders)
  std::int64_t frame_count = -1;  // an estimate for videos; -1 unknown
};

// The LR frames one output frame is made from: T decoded frames centred on frame `index`.
// A neighbour beyond either end of the clip, or across a scene cut, is replaced by the
// nearest frame of the centre's shot on that side (the first and last frames of a clip or a
// shot repeat), so no window mixes two shots.
struct FrameWindow {
  std::int64_t index = 0;  // output frame number, from 0, in clip order
  std::string name;        // the centre frame's: its file's stem ("0001"), "%06d" in a video
  // T frames, oldest first, frames[T/2] the centre: BGR as decoded (CV_8UC3, or CV_16UC3
  // from 16-bit PNGs), shared with the neighbouring windows (never modified).
  std::vector<cv::Mat> frames;
  std::vector<std::int64_t> sources;  // the clip index of each frame (clamping shows here)
  ClipInfo clip;
};

// One upscaled frame.
struct UpscaledFrame {
  std::int64_t index = 0;
  std::string name;  // written as <name>.png into a folder
  cv::Mat image;     // CV_32FC3 RGB in [0, 1]
  ClipInfo clip;
};

}  // namespace vsr

VSR_MESSAGE_TYPE(vsr::FrameWindow, "FrameWindow");
VSR_MESSAGE_TYPE(vsr::UpscaledFrame, "UpscaledFrame");
