// The throughput of an interval of optimizer steps, from the train step's timings of each step
// (time waiting for data + compute time): what progress prints and TensorBoard logs.
//
//   IntervalThroughput t;
//   t.add(/*samples=*/4, /*wait_s=*/0.1, /*compute_s=*/0.9);  // per step
//   t.samples_per_s();   // 4.0
//   t.wait_fraction();   // 0.1
//   t.reset();           // at the end of the interval
#pragma once

#include <cstdint>

namespace vsr {

class IntervalThroughput {
 public:
  void add(double samples, double wait_s, double compute_s) {
    samples_ += samples;
    wait_s_ += wait_s;
    compute_s_ += compute_s;
    ++steps_;
  }
  void reset() { *this = IntervalThroughput(); }

  std::int64_t steps() const { return steps_; }
  // Seconds the steps took (data wait + compute); rates are defined only when it is > 0.
  double busy_s() const { return wait_s_ + compute_s_; }
  bool has_time() const { return busy_s() > 0; }
  double samples_per_s() const { return has_time() ? samples_ / busy_s() : 0; }
  double wait_fraction() const { return has_time() ? wait_s_ / busy_s() : 0; }
  double seconds_per_step() const {
    return steps_ > 0 ? busy_s() / static_cast<double>(steps_) : 0;
  }

 private:
  double samples_ = 0;
  double wait_s_ = 0;
  double compute_s_ = 0;
  std::int64_t steps_ = 0;
};

}  // namespace vsr
