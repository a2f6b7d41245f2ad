// Messages of the data half of the training graph: sample -> decode -> split -> augment ->
// batch. Payloads are immutable once emitted. Images are as OpenCV decoded them (BGR,
// CV_8UC3 or CV_16UC3) until batch converts them to float RGB in [0, 1].
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "graph/message.h"

namespace vsr {

// One sample of one micro-batch: which files, where it goes, how to augment it.
struct SampleRequest {
  std::int64_t seq = 0;   // micro-batch number within this run, from 0
  std::int64_t step = 0;  // optimizer step
  int micro = 0;          // micro-batch within the step, 0..accum-1
  int slot = 0;           // position in the micro-batch, 0..batch_size-1
  int batch_size = 1;
  int accum = 1;
  std::string format;  // "small_540"
  int format_index = 0;
  cv::Size gt_size;  // the format's GT size
  int frames = 7;
  int scale = 3;
  std::filesystem::path gt_path;
  std::filesystem::path lr_path;
  std::uint64_t seed = 0;  // augmentation randomness, from (seed, step, micro, slot) only
};

// GT and the LR stack as read from disk.
struct DecodedSample {
  std::shared_ptr<const SampleRequest> request;
  cv::Mat gt;
  cv::Mat lr_stack;
};

// GT and its T LR frames (after split, and after augment).
struct FrameSample {
  std::shared_ptr<const SampleRequest> request;
  cv::Mat gt;
  std::vector<cv::Mat> frames;
};

// One micro-batch of one format, in request order.
struct MicroBatch {
  std::int64_t seq = 0;
  std::int64_t step = 0;
  int micro = 0;
  int accum = 1;
  std::string format;
  int format_index = 0;
  at::Tensor lr;  // [B, T, 3, h, w] float32 in [0, 1]
  at::Tensor gt;  // [B, 3, H, W] float32 in [0, 1]
};

}  // namespace vsr

VSR_MESSAGE_TYPE(vsr::SampleRequest, "SampleRequest");
VSR_MESSAGE_TYPE(vsr::DecodedSample, "DecodedSample");
VSR_MESSAGE_TYPE(vsr::FrameSample, "FrameSample");
VSR_MESSAGE_TYPE(vsr::MicroBatch, "MicroBatch");
