// tensorboard: writes <dir>/events.out.tfevents.<time>.<host> (runtime/outputs/tensorboard.h).
// Every log_interval steps (and at the last step): train/loss (mean over the interval, skipped
// fp16 steps left out), train/lr, train/samples_per_s, train/data_wait_fraction
// (wait / (wait + compute) over the interval), train/grad_norm (mean),
// train/effective_batch/<format> (samples per step of each format trained in the interval) and
// train/skipped_steps (non-finite steps so far, once there is one). Per validation: val/psnr,
// val/psnr_y, val/ssim, val/bicubic_psnr, val/bicubic_psnr_y, val/psnr_gain_over_bicubic, and
// for the first `max_images` pred_NNN images of ValImages a PNG image summary: the strip
// pred | bicubic | GT (val_images/pred_bicubic_gt_NNN) when bicubic_NNN and gt_NNN are there,
// else pred alone (val_images/pred_NNN). Flushed after each validation and on close.
//
//   {"name": "tensorboard", "type": "tensorboard",
//    "params": {"dir": "experiments/x/tensorboard", "log_interval": 100, "max_images": 3}}
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>

#include "graph/stage.h"
#include "runtime/outputs/tensorboard.h"
#include "runtime/outputs/throughput.h"
#include "stages/train/messages.h"

namespace vsr {

class TensorBoardStage : public Stage {
 public:
  static StageSchema schema();
  explicit TensorBoardStage(const StageContext& ctx);
  void open() override;
  void process(std::size_t port, const Message& in, Emitter& out) override;
  void close(bool completed) override;

 private:
  void on_step(const StepEvent& e);
  void on_result(const ValResult& r);
  void on_images(const ValImages& images);
  void write_interval();

  std::filesystem::path dir_;
  std::int64_t log_interval_;
  int max_images_;
  std::int64_t start_step_;
  std::unique_ptr<TensorBoardWriter> writer_;
  std::int64_t skipped_total_ = 0;
  std::map<std::string, int> effective_batch_;  // format -> samples per step, this interval

  // Sums over the steps since the last write.
  std::int64_t last_step_ = 0;
  int steps_ = 0;
  int loss_steps_ = 0;
  double loss_ = 0;
  double lr_ = 0;
  std::int64_t peak_memory_ = 0;
  bool memory_on_device_ = false;
  double grad_norm_ = 0;
  IntervalThroughput throughput_;
};

}  // namespace vsr
