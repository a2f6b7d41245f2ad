// Running stages alone or in small specs, for the stage tests: a registry with every real
// stage plus collector sinks, and an emitter that keeps what a stage emits.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "graph/pipeline.h"
#include "graph/registry.h"

namespace vsr::testing {

// Everything a collector sink received, by stage name, in arrival order.
std::vector<Message> collected(const std::string& stage);
void clear_collected();

// Registry::global() plus: collect_batches (MicroBatch), collect_requests (SampleRequest),
// collect_frames (FrameSample); each with param delay_ms (sleep per message).
const Registry& stage_test_registry();

// Keeps what a stage emits when it is driven by hand.
class CapturingEmitter : public Emitter {
 public:
  void emit(std::size_t port, Message m) override {
    std::lock_guard<std::mutex> lock(mutex_);
    messages.push_back({port, std::move(m)});
  }
  std::vector<std::pair<std::size_t, Message>> messages;

 private:
  std::mutex mutex_;
};

// Builds the stage `type` from `params` (defaults filled in) with the global registry.
std::unique_ptr<Stage> make_stage(const std::string& type, const json& params = json::object());

}  // namespace vsr::testing
