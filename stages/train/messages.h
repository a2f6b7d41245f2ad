// Messages of the training half of the graph: train_step -> progress, tensorboard (StepEvent),
// -> validate, checkpoint (ModelSnapshot); validate -> ValResult, ValImages.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>

#include "graph/message.h"
#include "runtime/outputs/checkpoint.h"

namespace vsr {

// One optimizer step, as train_step saw it.
struct StepEvent {
  std::int64_t step = 0;  // 1-based: the number of optimizer steps done
  std::int64_t total_steps = 0;
  std::string format;
  int samples = 0;        // samples in the step (batch_size x accumulation x world size)
  double loss = 0;        // mean loss over the step's micro-batches
  double lr = 0;          // learning rate used for this step (main group)
  double grad_norm = 0;   // before clipping
  double compute_s = 0;   // forward/backward/step time
  double wait_s = 0;      // time train_step waited for data before this step's micro-batches
  bool skipped = false;   // fp16: non-finite gradients, the step was skipped
  double loss_scale = 1;  // fp16 loss scale after the step
  // Peak memory so far: tensors on the device (CUDA), or the process' peak resident set on
  // the CPU (memory_on_device false). 0: unknown.
  std::int64_t peak_memory_bytes = 0;
  bool memory_on_device = false;
  int world_size = 1;       // ranks of a data-parallel job
  double allreduce_s = 0;   // time of this step's gradient all-reduce (world_size > 1)
  double time_left_s = -1;  // of the time budget (TRAINING.time_budget_minutes); -1: none
  bool final = false;       // the run's last step (total_steps, or the time budget spent)
};

using NamedTensors = CheckpointData::Named;

// A copy of the training state at the end of a step, taken on the training thread (CPU
// tensors, never modified afterwards) for the stages that validate and save it: a checkpoint's
// data (runtime/outputs/checkpoint.h: step, architecture, weights, EMA, optimizer state) plus what
// the step is for.
struct ModelSnapshot : CheckpointData {
  std::int64_t total_steps = 0;
  bool validate = false;    // a validation step (val_interval, or the last step)
  bool checkpoint = false;  // a checkpoint step (checkpoint_interval, or the last step)
  bool final = false;       // the last step of the run
};

// Validation metrics of one snapshot over the whole Val/GT set (means over images).
struct ValResult {
  std::int64_t step = 0;
  bool final = false;
  int images = 0;
  double psnr = 0;          // RGB, border of `scale` pixels cropped
  double psnr_y = 0;        // Y of YCbCr (BT.601), same crop
  double ssim = 0;          // on Y, same crop
  double bicubic_psnr = 0;  // the same metrics for bicubic upscaling of the centre frame
  double bicubic_psnr_y = 0;
  double bicubic_ssim = 0;
  double seconds = 0;
};

// Images to write for one validation: name ("pred_000") -> RGB CV_32FC3 in [0, 1], and the
// validation's per-image metrics.
struct ValImages {
  std::int64_t step = 0;
  std::vector<std::pair<std::string, cv::Mat>> images;
  // metrics.json of the step's folder: the means and every image's metrics (file, psnr,
  // psnr_y, ssim and the bicubic ones), JSON text; "" writes none.
  std::string metrics_json;
};

}  // namespace vsr

VSR_MESSAGE_TYPE(vsr::StepEvent, "StepEvent");
VSR_MESSAGE_TYPE(vsr::ModelSnapshot, "ModelSnapshot");
VSR_MESSAGE_TYPE(vsr::ValResult, "ValResult");
VSR_MESSAGE_TYPE(vsr::ValImages, "ValImages");
