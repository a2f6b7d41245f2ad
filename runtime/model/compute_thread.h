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

 private:
  void loop();

  std::mutex call_mutex_;  // one caller at a time
  std::mutex mutex_;
  std::condition_variable changed_;
  const std::function<void()>* work_ = nullptr;
  std::exception_ptr error_;
  bool done_ = false;
  bool quit_ = false;
  std::thread thread_;
};

}  // namespace vsr
