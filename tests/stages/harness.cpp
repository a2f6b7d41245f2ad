#include "tests/stages/harness.h"

#include <chrono>
#include <map>
#include <thread>

#include "common/errors.h"
#include "stages/data/messages.h"

namespace vsr::testing {

namespace {

std::mutex g_mutex;
std::map<std::string, std::vector<Message>> g_collected;

template <class T>
class Collector : public Stage {
 public:
  static StageSchema schema(const std::string& type) {
    return StageSchema(type).input<T>("in").optional("delay_ms", ParamType::kFloat, 0.0,
                                                     "sleep per message");
  }
  explicit Collector(const StageContext& c)
      : name_(c.name), delay_ms_(c.param<double>("delay_ms")) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_collected[name_].clear();
  }
  void process(std::size_t, const Message& in, Emitter&) override {
    if (delay_ms_ > 0) {
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(delay_ms_));
    }
    Message copy = in;
    copy.set_ticket(nullptr);  // keeping it must not hold the source's credit
    std::lock_guard<std::mutex> lock(g_mutex);
    g_collected[name_].push_back(std::move(copy));
  }

 private:
  std::string name_;
  double delay_ms_;
};

template <class T>
void add_collector(Registry& r, const std::string& type) {
  r.add(Collector<T>::schema(type),
        [](const StageContext& c) { return std::make_unique<Collector<T>>(c); });
}

}  // namespace

std::vector<Message> collected(const std::string& stage) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_collected[stage];
}

void clear_collected() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_collected.clear();
}

const Registry& stage_test_registry() {
  static const Registry registry = [] {
    Registry r = Registry::global();
    add_collector<MicroBatch>(r, "collect_batches");
    add_collector<SampleRequest>(r, "collect_requests");
    add_collector<FrameSample>(r, "collect_frames");
    return r;
  }();
  return registry;
}

std::unique_ptr<Stage> make_stage(const std::string& type, const json& params) {
  const json doc = {{"version", 1},
                    {"stages", {{{"name", "x"}, {"type", type}, {"params", params}}}},
                    {"edges", json::array()}};
  // Validation fills defaults; an unconnected input is fine for a hand-driven stage, and the
  // world is the test's to set up (its open() is what is under test).
  std::vector<SpecProblem> problems;
  for (const auto& p : check_spec(doc, Registry::global(), nullptr, CheckOptions{false})) {
    if (p.message.find("is not connected") == std::string::npos) problems.push_back(p);
  }
  if (!problems.empty()) throw SpecError(problems[0].path + ": " + problems[0].message);
  const json params_filled = fill_defaults(Registry::global().get(type).schema.params(), params);
  StageContext ctx;
  ctx.name = "x";
  ctx.type = type;
  ctx.params = params_filled;
  return Registry::global().get(type).factory(ctx);
}

}  // namespace vsr::testing
