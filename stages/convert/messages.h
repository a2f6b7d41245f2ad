// Messages of the conversion job: clip_source -> window -> patches -> make_lr -> stack ->
// dataset_writer, and window's validation frames -> dataset_writer. Frames are BGR as the
// clip decodes them (CV_8UC3 for videos, 8- or 16-bit for frame folders); cv::Mat headers
// share their pixels, so a window holds references, not copies. Payloads are immutable once
// emitted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "graph/message.h"

namespace vsr {

// One frame of one clip, in clip order; clips one after the other.
struct ClipFrame {
  std::filesystem::path source;  // the video file or frame folder
  std::string clip;              // unique clip name: the file stem or folder name
  int clip_index = 0;            // position of the clip in the job
  std::int64_t index = 0;        // frame number in the clip, from 0
  cv::Mat frame;
  bool held_out = false;  // the clip goes to Val/GT only, never to training patches
  bool last = false;      // the clip's last frame
};

// Frames in a training window.
inline constexpr int kTrainWindowFrames = 7;

// 7 consecutive frames of one shot (no scene cut inside) of a training clip.
struct TrainWindow {
  std::filesystem::path source;
  std::string clip;
  int clip_index = 0;
  std::int64_t centre = 0;      // frame number of frames[3]
  std::vector<cv::Mat> frames;  // 7, oldest first
};

// A whole frame of a held-out clip, for Val/GT.
struct ValFrame {
  std::filesystem::path source;
  std::string clip;
  std::int64_t index = 0;
  cv::Mat frame;
};

// One crop of one format from a window: the same rectangle in every frame.
struct PatchSample {
  std::shared_ptr<const TrainWindow> window;
  std::string format;
  int format_index = 0;
  int n = 0;                 // patch number within the window and format
  cv::Rect crop;             // in frame pixels, the format's GT size
  std::string name() const;  // "<clip>_<centre, 6 digits>_<n>"
};

// How one sample's LR was degraded (all zero: a clean downscale).
struct Degradation {
  double blur_sigma = 0;   // Gaussian blur before the downscale, GT pixels
  double noise_sigma = 0;  // Gaussian noise after it, 0..255 scale
  int jpeg_quality = 0;    // JPEG round trip of each LR frame; 0: none
};

// The GT crop and the 7 LR frames made from it.
struct PatchPair {
  std::shared_ptr<const PatchSample> patch;
  cv::Mat gt;
  std::vector<cv::Mat> lr;  // 7, LR size = GT size / scale
  Degradation degradation;
};

// What the dataset holds for one sample: GT, and the LR_5frames and LR_7frames stacks.
struct PatchStacks {
  std::shared_ptr<const PatchSample> patch;
  cv::Mat gt;
  cv::Mat lr5;  // frames 1..5 of the window stacked vertically
  cv::Mat lr7;
  Degradation degradation;
};

}  // namespace vsr

VSR_MESSAGE_TYPE(vsr::ClipFrame, "ClipFrame");
VSR_MESSAGE_TYPE(vsr::TrainWindow, "TrainWindow");
VSR_MESSAGE_TYPE(vsr::ValFrame, "ValFrame");
VSR_MESSAGE_TYPE(vsr::PatchSample, "PatchSample");
VSR_MESSAGE_TYPE(vsr::PatchPair, "PatchPair");
VSR_MESSAGE_TYPE(vsr::PatchStacks, "PatchStacks");
