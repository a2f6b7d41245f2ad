// ComputeThread: one OS thread that runs LibTorch work handed to it, for stages that the flow
// graph runs on whichever of its threads is free.
//
// Why: libgomp (LibTorch's OpenMP) gives every thread that starts a parallel region a pool of
// worker threads of its own. A stage whose calls land on three different graph threads makes
// three pools, and once libgomp manages more threads than there are CPUs it stops spinning at
// barriers ("throttled" spin, 100 iterations) and sleeps on a futex at each one instead: a
// CPU training step fed by the data stages made ~1800 voluntary context switches per step and
// kept 1.4 of 2 cores busy (tests/bench/README.md, train_bench). On one thread there is one
// pool, of exactly the configured size.
//
// The same reason makes a CPU step that uses every core a bad neighbour to share them with:
// OpenMP's threads meet at a barrier after each parallel region, so a decode that preempts one
// of them stalls all of them, and each millisecond of decode costs the step about a
// millisecond of wall time. run_exclusive() marks such work; the decode stage calls
// wait_while_exclusive() before each sample, so it decodes between micro-batches, on all the
// cores at once (TRAINING.pause_data; tests/bench/README.md, train_bench: 80% -> 88-95% of
// the synthetic feed's rate on 2 cores).
//
//   ComputeThread::global().run([&] { step(); });   // blocks until done; rethrows its error
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace vsr {

class ComputeThread {
 public:
  static ComputeThread& global();

  ComputeThread();
  ~ComputeThread();
  ComputeThread(const ComputeThread&) = delete;
  ComputeThread& operator=(const ComputeThread&) = delete;

  // Runs `work` on the compute thread and waits for it; an exception it throws is rethrown
  // here. Calls from several threads run one after the other. A call from the compute thread
  // itself runs `work` directly.
  void run(const std::function<void()>& work);
  // run(), and while `work` runs, callers of wait_while_exclusive() wait (also when it
  // throws: they go on once it has ended).
  void run_exclusive(const std::function<void()>& work);
  // Returns once no run_exclusive() work is running (at once when none is): the seconds it
  // waited.
  double wait_while_exclusive();

 private:
  void loop();

  std::mutex call_mutex_;  // one caller at a time
  std::mutex mutex_;
  std::condition_variable changed_;
  const std::function<void()>* work_ = nullptr;
  std::exception_ptr error_;
  bool done_ = false;
  bool quit_ = false;
  std::mutex gate_mutex_;
  std::condition_variable gate_changed_;
  int exclusive_ = 0;  // run_exclusive() calls under way
  std::thread thread_;
};

}  // namespace vsr
