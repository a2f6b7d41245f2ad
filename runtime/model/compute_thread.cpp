#include "runtime/model/compute_thread.h"

#include <chrono>
#include <utility>

namespace vsr {

ComputeThread& ComputeThread::global() {
  // Never destroyed: stages may still hand it work while static objects are torn down.
  static ComputeThread* thread = new ComputeThread();
  return *thread;
}

ComputeThread::ComputeThread() : thread_([this] { loop(); }) {}

ComputeThread::~ComputeThread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void ComputeThread::run(const std::function<void()>& work) {
  if (std::this_thread::get_id() == thread_.get_id()) return work();
  std::lock_guard<std::mutex> call(call_mutex_);
  std::unique_lock<std::mutex> lock(mutex_);
  work_ = &work;
  done_ = false;
  error_ = nullptr;
  changed_.notify_all();
  changed_.wait(lock, [&] { return done_; });
  work_ = nullptr;
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void ComputeThread::run_exclusive(const std::function<void()>& work) {
  {
    std::lock_guard<std::mutex> lock(gate_mutex_);
    ++exclusive_;
  }
  struct Open {
    ComputeThread* t;
    ~Open() {
      {
        std::lock_guard<std::mutex> lock(t->gate_mutex_);
        --t->exclusive_;
      }
      t->gate_changed_.notify_all();
    }
  } open{this};
  run(work);
}

double ComputeThread::wait_while_exclusive() {
  if (std::this_thread::get_id() == thread_.get_id()) return 0;  // it would wait for itself
  std::unique_lock<std::mutex> lock(gate_mutex_);
  if (exclusive_ == 0) return 0;
  const auto start = std::chrono::steady_clock::now();
  gate_changed_.wait(lock, [&] { return exclusive_ == 0; });
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void ComputeThread::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return quit_ || (work_ != nullptr && !done_); });
    if (quit_) return;
    const std::function<void()>* work = work_;
    lock.unlock();
    std::exception_ptr error;
    try {
      (*work)();
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    error_ = error;
    done_ = true;
    changed_.notify_all();
  }
}

}  // namespace vsr
