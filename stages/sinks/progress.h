// progress: the console view of a training run. When the stream is not a terminal (or with
// live=false), one line per log_interval steps and at the last step:
//
//   step 500/10000 | loss 0.0312 (smoothed EMA 0.98) | lr 1.00e-04 | 12.3 samples/s |
//   data wait 3% | ETA 0:12:34                                          (one line)
//
// On a terminal, a single bar line redrawn at most 5 times a second. Each validation gets its
// own line:
//
//   val step 500: PSNR 28.41 dB (Y 29.80) SSIM 0.8123 | bicubic 27.10 dB | +1.31 dB
//
// The loss is an exponential moving average (beta 0.98, bias-corrected); samples/s, data
// wait and ETA come from the step timings of the last interval (train_step's wait + compute).
//
//   {"name": "progress", "type": "progress",
//    "params": {"total_steps": 10000, "log_interval": 100, "stream": "stdout", "live": "auto"}}
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

#include "graph/stage.h"
#include "runtime/outputs/throughput.h"
#include "stages/train/messages.h"

namespace vsr {

class ProgressStage : public Stage {
 public:
  static StageSchema schema();
  explicit ProgressStage(const StageContext& ctx);
  // Writes to `out` instead of the param's stream (tests); `live` picks the bar format.
  ProgressStage(const StageContext& ctx, std::ostream& out, bool live);
  void process(std::size_t port, const Message& in, Emitter& out) override;
  void close(bool completed) override;

  static constexpr double kLossBeta = 0.98;

  // "0:12:34"; "-:--:--" when unknown.
  static std::string format_duration(double seconds);

 private:
  void on_step(const StepEvent& e);
  void on_result(const ValResult& r);
  std::string status(std::int64_t step, std::int64_t total) const;
  void clear_bar();

  std::ostream* out_;
  bool live_;
  std::int64_t total_steps_;
  std::int64_t log_interval_;

  double loss_avg_ = 0;  // biased EMA; divided by (1 - beta^n) when shown
  std::int64_t loss_count_ = 0;
  std::int64_t skipped_ = 0;  // steps skipped for a non-finite loss or gradient
  double lr_ = 0;
  std::int64_t peak_memory_ = 0;  // bytes, StepEvent::peak_memory_bytes
  bool memory_on_device_ = false;
  // Window of the rate figures: the last interval (plain) or since the last redraw (live).
  IntervalThroughput window_;
  double samples_per_s_ = 0;
  double wait_fraction_ = 0;
  double step_seconds_ = 0;  // per step, for the ETA
  double time_left_ = -1;    // of the run's time budget; -1: none
  std::int64_t last_step_ = 0;
  std::int64_t last_total_ = 0;
  bool bar_shown_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace vsr
