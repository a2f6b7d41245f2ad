// The stage base class: the lifecycle and threading guarantees every stage relies on.
//
// Lifecycle, all driven by Pipeline:
//   1. construction, by the registered factory, when the pipeline is built and before
//      anything runs: read and check params here and throw to reject them;
//   2. open(), once, on the thread that calls Pipeline::run(), before any message flows;
//   3. produce() (sources) or process() (processors) on oneTBB worker threads; never two
//      calls at once unless the schema says concurrent() and the spec gives concurrency > 1;
//   4. close(), once, on the run() thread after the graph has finished, also after a
//      failure or a stop: flush and release here. close() must not emit.
// A stage is non-copyable; it may keep state between calls (serial stages need no locks).
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include "graph/message.h"
#include "graph/schema.h"

namespace vsr {

// What a factory gets: the stage's name, type and its params with every default filled in.
struct StageContext {
  std::string name;
  std::string type;
  json params = json::object();
  int concurrency = 1;  // 0 means unlimited
  std::atomic<bool>* stop = nullptr;
  std::atomic<bool>* finish = nullptr;

  bool stop_requested() const { return stop && stop->load(std::memory_order_relaxed); }
  // Asks the pipeline to stop as Ctrl-C does: sources stop (at a unit boundary, see
  // Stage::can_stop), in-flight work drains. For a stage that knows the rest is useless.
  void request_stop() const {
    if (stop) stop->store(true, std::memory_order_relaxed);
  }
  // Ends the sources' input as a stop does (at a unit boundary, in-flight work drains), but the
  // run counts as complete, not as stopped: for a stage that has reached its own end, e.g. a
  // training time budget.
  void request_finish() const {
    if (finish) finish->store(true, std::memory_order_relaxed);
  }
  template <class T>
  T param(const std::string& key) const {
    return params.at(key).get<T>();
  }
};

// Sends messages out of a stage. Thread-safe; a message emitted while processing an input
// carries that input's ticket, so it counts against the same source's in-flight bound.
class Emitter {
 public:
  virtual ~Emitter() = default;
  virtual void emit(std::size_t port, Message message) = 0;

  template <class T>
  void emit(std::size_t port, std::shared_ptr<const T> payload) {
    emit(port, Message::of<T>(std::move(payload)));
  }
};

class Stage {
 public:
  Stage() = default;
  Stage(const Stage&) = delete;
  Stage& operator=(const Stage&) = delete;
  virtual ~Stage() = default;

  virtual void open() {}
  // Sources: emit the next message(s) for one credit of the in-flight bound and return
  // true, or return false when there is nothing more to make.
  virtual bool produce(Emitter& out) { return false; }
  // Sources, after a stop request: whether the source may end now. A source whose messages
  // form units (the micro-batches of one optimizer step) returns false inside a unit, and
  // produce() is called until it returns true.
  virtual bool can_stop() { return true; }
  // Processors: handle one message that arrived on input port number `port`.
  virtual void process(std::size_t port, const Message& in, Emitter& out) {}
  // `completed` is false after a failure elsewhere in the graph.
  virtual void close(bool completed) {}
};

}  // namespace vsr
