// Messages of the upscaling job: frames -> upscale -> frame_writer. Payloads are immutable
// once emitted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "graph/message.h"

namespace vsr {

// The LR frames one output frame is made from: T paths centred on frame `index`, indices
// clamped to the folder (the first and last frames repeat at the ends).
struct FrameWindow {
  std::int64_t index = 0;  // output frame number, from 0, in name order
  std::string name;        // stem of the centre frame's file ("0001" for 0001.png)
  std::vector<std::filesystem::path> paths;  // T paths, oldest first; paths[T/2] is the centre
};

// One upscaled frame.
struct UpscaledFrame {
  std::int64_t index = 0;
  std::string name;  // written as <name>.png
  cv::Mat image;     // CV_32FC3 RGB in [0, 1]
};

}  // namespace vsr

VSR_MESSAGE_TYPE(vsr::FrameWindow, "FrameWindow");
VSR_MESSAGE_TYPE(vsr::UpscaledFrame, "UpscaledFrame");
