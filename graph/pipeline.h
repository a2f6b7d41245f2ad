// Builds a validated Spec onto a tbb::flow::graph and runs it.
//
// Every source is bounded: it makes one message per credit, it starts with max_in_flight
// credits, and a credit comes back only when the last message derived from that source
// message is destroyed. So however fast a source is, at most max_in_flight of its messages
// (and what stages derived from them) are alive at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "graph/registry.h"
#include "graph/spec.h"

namespace vsr {

struct StageStats {
  std::string name;
  std::string type;
  int concurrency = 1;
  std::uint64_t in = 0;   // messages processed (sources: credits used)
  std::uint64_t out = 0;  // messages emitted
  double busy_s = 0;      // time inside produce()/process(), summed over threads
  // Sources: time all credits were out (held back by the in-flight bound).
  // Processors: time inputs waited in the stage's queue for a free worker.
  double blocked_s = 0;
  int max_in_flight = 0;   // sources only
  int peak_in_flight = 0;  // sources only: most credits out at once
};

class Pipeline {
 public:
  // Instantiates every stage (factories may throw; the error names the stage).
  Pipeline(const Spec& spec, const Registry& registry = Registry::global());
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Runs to completion, a stop request, or the first stage failure (rethrown as a
  // StageError naming the stage; the other stages finish their current work first).
  void run();
  // Asks sources to stop; in-flight messages drain. Safe from any thread or a signal-driven
  // watcher (it only stores to an atomic).
  void request_stop();
  bool stop_requested() const;
  // The flag sources poll; point a signal handler at it.
  std::atomic<bool>* stop_flag();

  std::vector<StageStats> stats() const;
  json stats_json() const;
  std::string stats_table() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vsr
