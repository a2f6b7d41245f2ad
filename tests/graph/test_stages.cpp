#include "tests/graph/test_stages.h"

#include <chrono>
#include <map>
#include <thread>

namespace vsr::testing {

std::atomic<int> Num::live_from_source{0};
std::atomic<int> Num::peak_from_source{0};

Num::Num(long long v, bool src) : value(v), from_source(src) {
  if (!src) return;
  const int now = ++live_from_source;
  int peak = peak_from_source;
  while (now > peak && !peak_from_source.compare_exchange_weak(peak, now)) {
  }
}

Num::~Num() {
  if (from_source) --live_from_source;
}

namespace {

std::mutex g_logs_mutex;
std::map<std::string, SinkLog> g_logs;

std::shared_ptr<const Num> num(long long v, bool src = false) {
  return std::make_shared<const Num>(v, src);
}

class Counter : public Stage {
 public:
  static StageSchema schema() {
    return StageSchema("counter")
        .doc("emits 0, 1, ... count-1 (count -1: forever)")
        .output<Num>("out", "the numbers")
        .optional("count", ParamType::kInt, 10, "how many numbers; -1 for no end")
        .at_least(-1);
  }
  explicit Counter(const StageContext& c) : count_(c.param<long long>("count")) {}
  bool produce(Emitter& out) override {
    if (count_ >= 0 && next_ >= count_) return false;
    out.emit<Num>(0, num(next_++, /*src=*/true));
    return true;
  }

 private:
  long long count_;
  long long next_ = 0;
};

class Square : public Stage {
 public:
  static StageSchema schema() {
    return StageSchema("square")
        .doc("squares numbers")
        .input<Num>("in")
        .output<Num>("out")
        .concurrent();
  }
  explicit Square(const StageContext&) {}
  void process(std::size_t, const Message& in, Emitter& out) override {
    const long long v = in.as<Num>()->value;
    out.emit<Num>(0, num(v * v));
  }
};

class AddPair : public Stage {
 public:
  static StageSchema schema() {
    return StageSchema("add_pair")
        .doc("emits a + b for each pair of numbers arriving on a and b, in arrival order")
        .input<Num>("a")
        .input<Num>("b")
        .output<Num>("out");
  }
  explicit AddPair(const StageContext&) {}
  void process(std::size_t port, const Message& in, Emitter& out) override {
    auto& mine = port == 0 ? a_ : b_;
    mine.push_back(in.as<Num>()->value);
    while (!a_.empty() && !b_.empty()) {
      out.emit<Num>(0, num(a_.front() + b_.front()));
      a_.erase(a_.begin());
      b_.erase(b_.begin());
    }
  }

 private:
  std::vector<long long> a_, b_;
};

class ToText : public Stage {
 public:
  static StageSchema schema() {
    return StageSchema("to_text").input<Num>("in").output<Text>("out").optional(
        "prefix", ParamType::kString, "", "text before the number");
  }
  explicit ToText(const StageContext& c) : prefix_(c.param<std::string>("prefix")) {}
  void process(std::size_t, const Message& in, Emitter& out) override {
    out.emit<Text>(
        0, std::make_shared<const Text>(Text{prefix_ + std::to_string(in.as<Num>()->value)}));
  }

 private:
  std::string prefix_;
};

class Thrower : public Stage {
 public:
  static StageSchema schema() {
    return StageSchema("thrower")
        .doc("passes numbers through; throws on fail_at")
        .input<Num>("in")
        .output<Num>("out")
        .required("fail_at", ParamType::kInt, "the number that makes it throw")
        .optional("mode", ParamType::kString, "runtime", "what to throw")
        .choices({"runtime", "int"});
  }
  explicit Thrower(const StageContext& c)
      : fail_at_(c.param<long long>("fail_at")), mode_(c.param<std::string>("mode")) {}
  void process(std::size_t, const Message& in, Emitter& out) override {
    const long long v = in.as<Num>()->value;
    if (v == fail_at_) {
      if (mode_ == "int") throw 42;
      throw std::runtime_error("cannot handle " + std::to_string(v));
    }
    out.emit<Num>(0, num(v));
  }

 private:
  long long fail_at_;
  std::string mode_;
};

// Keeps every message forever: starves its source of credits.
class Hoarder : public Stage {
 public:
  static StageSchema schema() { return StageSchema("hoarder").input<Num>("in"); }
  explicit Hoarder(const StageContext&) {}
  void process(std::size_t, const Message& in, Emitter&) override { kept_.push_back(in); }

 private:
  std::vector<Message> kept_;
};

class Sink : public Stage {
 public:
  static StageSchema schema() {
    return StageSchema("sink")
        .doc("records numbers under its stage name")
        .input<Num>("in")
        .optional("delay_ms", ParamType::kFloat, 0.0, "sleep per message")
        .range(0, 1000);
  }
  explicit Sink(const StageContext& c) : name_(c.name), delay_ms_(c.param<double>("delay_ms")) {
    std::lock_guard<std::mutex> lock(g_logs_mutex);
    g_logs[name_] = SinkLog{};
  }
  void process(std::size_t, const Message& in, Emitter&) override {
    if (delay_ms_ > 0)
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(delay_ms_));
    std::lock_guard<std::mutex> lock(g_logs_mutex);
    g_logs[name_].values.push_back(in.as<Num>()->value);
  }
  void close(bool completed) override {
    std::lock_guard<std::mutex> lock(g_logs_mutex);
    g_logs[name_].closed = true;
    g_logs[name_].completed = completed;
  }

 private:
  std::string name_;
  double delay_ms_;
};

}  // namespace

SinkLog sink_log(const std::string& stage) {
  std::lock_guard<std::mutex> lock(g_logs_mutex);
  return g_logs[stage];
}

void clear_sink_logs() {
  std::lock_guard<std::mutex> lock(g_logs_mutex);
  g_logs.clear();
}

const Registry& test_registry() {
  static const Registry registry = [] {
    Registry r;
    r.add<Counter>();
    r.add<Square>();
    r.add<AddPair>();
    r.add<ToText>();
    r.add<Thrower>();
    r.add<Hoarder>();
    r.add<Sink>();
    return r;
  }();
  return registry;
}

Spec test_spec(const json& spec) { return parse_spec(spec, test_registry(), "test spec"); }

}  // namespace vsr::testing
