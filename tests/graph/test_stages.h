// Test-only stages and a registry holding them, for the graph engine's tests.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "graph/pipeline.h"
#include "graph/registry.h"

namespace vsr::testing {

// A number; counts how many made by a source are alive, and the most ever alive at once.
struct Num {
  explicit Num(long long value, bool from_source = false);
  Num(const Num&) = delete;
  ~Num();
  long long value;
  bool from_source;
  static std::atomic<int> live_from_source;
  static std::atomic<int> peak_from_source;
};

struct Text {
  std::string value;
};

// What sink stages saw, by stage name.
struct SinkLog {
  std::vector<long long> values;
  bool closed = false;
  bool completed = false;
};
SinkLog sink_log(const std::string& stage);
void clear_sink_logs();

// counter (source), square, add_pair (two inputs), to_text, thrower, hoarder, sink.
const Registry& test_registry();

// Parses `spec` against test_registry(); throws SpecError on problems.
Spec test_spec(const json& spec);

}  // namespace vsr::testing

VSR_MESSAGE_TYPE(vsr::testing::Num, "Num");
VSR_MESSAGE_TYPE(vsr::testing::Text, "Text");
