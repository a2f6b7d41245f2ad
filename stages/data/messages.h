// Messages of the data half of the training graph: sample -> decode -> split -> augment ->
// batch; and of the dataset check: scan -> check_pair -> check_report. Payloads are immutable
// once emitted. Images are as OpenCV decoded them (BGR, CV_8UC3 or CV_16UC3) until batch
// collates them (runtime/data/pixels.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "graph/message.h"
#include "runtime/data/dataset.h"
#include "runtime/data/image.h"

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
  // The scanned dataset and the pair's index in its format: where decode finds a replacement
  // for a bad sample (DATA.on_bad_sample: skip). May be null (requests made by hand).
  std::shared_ptr<const DatasetIndex> dataset;
  std::size_t file = 0;
};

// GT and the LR stack as read from disk.
struct DecodedSample {
  std::shared_ptr<const SampleRequest> request;
  cv::Mat gt;
  cv::Mat lr_stack;
};

// GT and its T LR frames (after split, and after augment). `flips`: what augment left to
// apply to gt and every frame, for the reader to do while it copies them (batch does;
// apply_flips gives the images as they are meant); none after split.
struct FrameSample {
  std::shared_ptr<const SampleRequest> request;
  cv::Mat gt;
  std::vector<cv::Mat> frames;
  Flips flips;
};

// One micro-batch of one format, in request order.
struct MicroBatch {
  std::int64_t seq = 0;
  std::int64_t step = 0;
  int micro = 0;
  int accum = 1;
  std::string format;
  int format_index = 0;
  // Float form: lr [B, T, 3, h, w], gt [B, 3, H, W], float32 RGB in [0, 1]. Raw form (batch's
  // `pixels: raw`, the default for CUDA): lr [B, T, h, w, 3], gt [B, H, W, 3], BGR uint8 or
  // int16 (16-bit bits) in pinned memory; raw_to_float_rgb (runtime/data/pixels.h) converts.
  at::Tensor lr;
  at::Tensor gt;
};

// One problem check_pair found; `kind` groups problems in the report.
struct PairProblem {
  std::string kind;     // "unreadable", "gt_size", "lr_stack" or "val_size"
  std::string message;  // the full text, naming the file, what was expected and found
};

// What check_pair found about one request of scan: a GT/LR pair, or a validation image (no
// lr_path). Sizes are as read, 0x0 when a file could not be read; no pixels are kept.
struct PairCheck {
  std::shared_ptr<const SampleRequest> request;
  std::vector<PairProblem> problems;  // empty: fine
  std::vector<std::string> notes;     // worth knowing, not a problem
  cv::Size gt_size;
  cv::Size lr_size;  // the whole LR stack
  int gt_bits = 0;   // 8 or 16, as decoded
  int lr_bits = 0;
  int channels = 0;  // as decoded (read_image_bgr expands gray and drops alpha: 3)
  bool ok() const { return problems.empty(); }
};

}  // namespace vsr

VSR_MESSAGE_TYPE(vsr::SampleRequest, "SampleRequest");
VSR_MESSAGE_TYPE(vsr::DecodedSample, "DecodedSample");
VSR_MESSAGE_TYPE(vsr::FrameSample, "FrameSample");
VSR_MESSAGE_TYPE(vsr::MicroBatch, "MicroBatch");
VSR_MESSAGE_TYPE(vsr::PairCheck, "PairCheck");
