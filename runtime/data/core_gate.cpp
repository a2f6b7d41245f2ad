#include "runtime/data/core_gate.h"

namespace vsr {

CoreGate& CoreGate::global() {
  static CoreGate gate;
  return gate;
}

void CoreGate::set_interleave(bool on) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    on_.store(on, std::memory_order_release);
  }
  changed_.notify_all();  // sections waiting when it is turned off go on
}

std::int64_t CoreGate::data_waits() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return data_waits_;
}

std::int64_t CoreGate::compute_waits() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return compute_waits_;
}

CoreGate::ComputeSection::ComputeSection(CoreGate& gate) : gate_(gate) {
  if (!gate_.interleave()) return;
  std::unique_lock<std::mutex> lock(gate_.mutex_);
  // Waiting keeps new data sections from starting; those already running finish first.
  ++gate_.compute_waiting_;
  if (gate_.data_active_ > 0) ++gate_.compute_waits_;
  gate_.changed_.wait(lock, [&] { return gate_.data_active_ == 0 || !gate_.interleave(); });
  --gate_.compute_waiting_;
  gate_.compute_active_ = true;
  held_ = true;
}

CoreGate::ComputeSection::~ComputeSection() {
  if (!held_) return;
  {
    std::lock_guard<std::mutex> lock(gate_.mutex_);
    gate_.compute_active_ = false;
  }
  gate_.changed_.notify_all();
}

CoreGate::DataSection::DataSection(CoreGate& gate) : gate_(gate) {
  if (!gate_.interleave()) return;
  std::unique_lock<std::mutex> lock(gate_.mutex_);
  auto free = [&] {
    return (!gate_.compute_active_ && gate_.compute_waiting_ == 0) || !gate_.interleave();
  };
  if (!free()) ++gate_.data_waits_;
  gate_.changed_.wait(lock, free);
  ++gate_.data_active_;
  held_ = true;
}

CoreGate::DataSection::~DataSection() {
  if (!held_) return;
  bool last = false;
  {
    std::lock_guard<std::mutex> lock(gate_.mutex_);
    last = --gate_.data_active_ == 0;
  }
  if (last) gate_.changed_.notify_all();
}

}  // namespace vsr
