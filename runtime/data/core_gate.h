// CoreGate: how the data stages and a CPU training step share the cores.
//
// On the CPU the step's OpenMP team takes every core, and a decode thread that runs beside it
// takes one away in the middle of a parallel region: the team's other threads wait at the
// region's barrier (spinning, then sleeping and waking: thousands of context switches per step),
// so a data stage that costs a tenth of the step's CPU time slows it by a third or more
// (tests/bench/README.md, train_bench). Interleaving instead keeps them apart: while the step
// computes (a ComputeSection), data work waits to start; a step waits for the data sections
// already running (one sample each) before it starts. The data stages then run when the step
// waits for its next micro-batch, on all the cores, and the step runs alone: the step's cost
// plus the data's CPU time divided by the cores, which is as good as sharing gets when both
// could use every core.
//
// Off (the default, and for a CUDA step, whose compute leaves the CPU free) every section is a
// no-op. train_step turns it on for a CPU step (DATA.share_cores) and off again when it closes.
//
//   CoreGate::global().set_interleave(true);
//   { CoreGate::ComputeSection c(CoreGate::global()); forward, backward, optimizer step }
//   { CoreGate::DataSection d(CoreGate::global()); decode one sample }
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace vsr {

class CoreGate {
 public:
  static CoreGate& global();

  void set_interleave(bool on);
  bool interleave() const { return on_.load(std::memory_order_acquire); }

  // How often a data section had to wait for a step, and how often a step for data.
  std::int64_t data_waits() const;
  std::int64_t compute_waits() const;

  class ComputeSection {
   public:
    explicit ComputeSection(CoreGate& gate);
    ~ComputeSection();
    ComputeSection(const ComputeSection&) = delete;
    ComputeSection& operator=(const ComputeSection&) = delete;

   private:
    CoreGate& gate_;
    bool held_ = false;
  };

  class DataSection {
   public:
    explicit DataSection(CoreGate& gate);
    ~DataSection();
    DataSection(const DataSection&) = delete;
    DataSection& operator=(const DataSection&) = delete;

   private:
    CoreGate& gate_;
    bool held_ = false;
  };

 private:
  std::atomic<bool> on_{false};
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int data_active_ = 0;
  int compute_waiting_ = 0;
  bool compute_active_ = false;
  std::int64_t data_waits_ = 0;
  std::int64_t compute_waits_ = 0;
};

}  // namespace vsr
