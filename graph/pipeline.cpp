#include "graph/pipeline.h"

#include <tbb/flow_graph.h>

#include <chrono>
#include <cstring>
#include <iomanip>
#include <map>
#include <mutex>
#include <sstream>

#include "common/errors.h"

namespace vsr {

namespace flow = tbb::flow;
using Clock = std::chrono::steady_clock;
using CreditNode = flow::function_node<flow::continue_msg, flow::continue_msg, flow::queueing>;

namespace {

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The in-flight bound of one source: credits out, and the node to hand them back to.
struct Credits {
  explicit Credits(int bound) : bound(bound) {}

  void acquire() {
    std::lock_guard<std::mutex> lock(mutex);
    if (++live > peak) peak = live;
    if (live == bound) full_since = Clock::now();
  }
  void release() {
    std::lock_guard<std::mutex> lock(mutex);
    if (live == bound) blocked += Clock::now() - full_since;
    --live;
    if (node) node->try_put(flow::continue_msg());
  }
  void detach() {
    std::lock_guard<std::mutex> lock(mutex);
    node = nullptr;
  }

  const int bound;
  std::mutex mutex;
  CreditNode* node = nullptr;  // null once the graph is finished
  int live = 0;
  int peak = 0;
  Clock::time_point full_since;
  Clock::duration blocked{};
};

}  // namespace

// Held by every message derived from one source message; gives the credit back on death.
struct Ticket {
  explicit Ticket(std::shared_ptr<Credits> c) : credits(std::move(c)) { credits->acquire(); }
  ~Ticket() { credits->release(); }
  std::shared_ptr<Credits> credits;
};

namespace {

// `e`, raised by the stage of `decl`, as a StageError that keeps the kind and file of its cause
// (anything that is not a vsr::Error is a failed run).
StageError stage_error(const StageDecl& decl, const std::exception& e,
                       const std::string& context = "") {
  if (const auto* known = dynamic_cast<const Error*>(&e)) {
    return StageError(decl.name, decl.type, known->kind(), context + e.what(), known->file());
  }
  return StageError(decl.name, decl.type, ErrorKind::kRun, context + e.what());
}

// What travels on an edge: the message and where it came from; the consumer maps the
// producer's (stage, output port) to its own input port. (A per-edge tagging node would
// do that mapping too, but oneTBB's lightweight nodes reorder messages.)
struct Envelope {
  std::size_t from_stage = 0;
  std::size_t from_port = 0;
  Message message;
  Clock::time_point queued;
};

struct StageRt {
  const StageDecl* decl = nullptr;
  const StageSchema* schema = nullptr;
  std::unique_ptr<Stage> stage;
  std::size_t index = 0;  // position in the spec
  std::vector<std::unique_ptr<flow::broadcast_node<Envelope>>> outs;
  std::map<std::pair<std::size_t, std::size_t>, std::size_t> in_port;       // (stage, out) -> in
  std::unique_ptr<flow::function_node<Envelope, flow::continue_msg>> node;  // processors
  std::unique_ptr<CreditNode> source;                                       // sources
  std::shared_ptr<Credits> credits;
  std::atomic<bool> exhausted{false};
  std::atomic<std::uint64_t> in{0};
  std::atomic<std::uint64_t> out{0};
  std::atomic<std::int64_t> busy_ns{0};
  std::atomic<std::int64_t> blocked_ns{0};

  void add(std::atomic<std::int64_t>& counter, Clock::duration d) {
    counter += std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  }

  // Runs a stage call; any exception becomes a StageError naming this stage.
  template <class F>
  void guarded(F&& f) {
    const auto start = Clock::now();
    try {
      f();
    } catch (const StageError&) {
      throw;
    } catch (const std::exception& e) {
      throw stage_error(*decl, e);
    } catch (...) {
      throw StageError(decl->name, decl->type, ErrorKind::kRun, "unknown exception");
    }
    add(busy_ns, Clock::now() - start);
  }
};

class PortEmitter final : public Emitter {
 public:
  PortEmitter(StageRt& rt, const std::shared_ptr<Ticket>* inherited)
      : rt_(rt), inherited_(inherited) {}

  void emit(std::size_t port, Message m) override {
    if (port >= rt_.outs.size()) {
      throw RunError("emitted on output port #" + std::to_string(port) + " but the stage has " +
                     std::to_string(rt_.outs.size()) + " output port(s)");
    }
    const PortSpec& spec = rt_.schema->outputs()[port];
    if (spec.type != m.type_name()) {
      throw RunError(std::string("emitted a ") + m.type_name() + " on port '" + spec.name +
                     "', which is declared as " + spec.type);
    }
    if (!m.ticket()) {
      if (rt_.credits) {
        if (!fresh_) fresh_ = std::make_shared<Ticket>(rt_.credits);
        m.set_ticket(fresh_);
      } else if (inherited_) {
        m.set_ticket(*inherited_);
      }
    }
    ++rt_.out;
    rt_.outs[port]->try_put(Envelope{rt_.index, port, std::move(m), Clock::now()});
  }
  bool used_credit() const { return fresh_ != nullptr; }

 private:
  StageRt& rt_;
  const std::shared_ptr<Ticket>* inherited_;
  std::shared_ptr<Ticket> fresh_;
};

}  // namespace

struct Pipeline::Impl {
  // The graph is declared first so that it outlives the nodes that refer to it.
  flow::graph graph;
  Spec spec;
  std::atomic<bool> stop{false};
  std::atomic<bool> finish{false};  // a stage's request_finish(): the end, not a stop
  std::map<std::string, std::unique_ptr<StageRt>> stages;
  std::vector<StageRt*> order;  // spec order
  bool ran = false;

  ~Impl() {
    for (auto* rt : order) {
      if (rt->credits) rt->credits->detach();
    }
  }

  void build(const Registry& registry) {
    for (const auto& decl : spec.stages) {
      auto rt = std::make_unique<StageRt>();
      rt->decl = &decl;
      rt->index = order.size();
      const StageType& type = registry.get(decl.type);
      rt->schema = &type.schema;
      StageContext ctx;
      ctx.name = decl.name;
      ctx.type = decl.type;
      ctx.params = decl.params;
      ctx.concurrency = decl.concurrency;
      ctx.stop = &stop;
      ctx.finish = &finish;
      try {
        rt->stage = type.factory(ctx);
      } catch (const std::exception& e) {
        throw stage_error(decl, e, "could not be created: ");
      }
      for (size_t i = 0; i < type.schema.outputs().size(); ++i) {
        rt->outs.push_back(std::make_unique<flow::broadcast_node<Envelope>>(graph));
      }
      StageRt* self = rt.get();
      if (type.schema.kind() == StageKind::kSource) {
        rt->credits = std::make_shared<Credits>(decl.max_in_flight);
        rt->source =
            std::make_unique<CreditNode>(graph, flow::serial, [this, self](flow::continue_msg) {
              produce(*self);
              return flow::continue_msg();
            });
      } else {
        const std::size_t concurrency = decl.concurrency == 0
                                            ? static_cast<std::size_t>(flow::unlimited)
                                            : static_cast<std::size_t>(decl.concurrency);
        rt->node = std::make_unique<flow::function_node<Envelope, flow::continue_msg>>(
            graph, concurrency, [self](const Envelope& env) {
              self->add(self->blocked_ns, Clock::now() - env.queued);
              ++self->in;
              const std::size_t port = self->in_port.at({env.from_stage, env.from_port});
              PortEmitter out(*self, &env.message.ticket());
              self->guarded([&] { self->stage->process(port, env.message, out); });
              return flow::continue_msg();
            });
      }
      order.push_back(self);
      stages.emplace(decl.name, std::move(rt));
    }
    for (const auto& edge : spec.edges) {
      StageRt& from = *stages.at(edge.from.stage);
      StageRt& to = *stages.at(edge.to.stage);
      const std::size_t out_port = port_index(from.schema->outputs(), edge.from.port);
      const std::size_t in_port = port_index(to.schema->inputs(), edge.to.port);
      to.in_port[{from.index, out_port}] = in_port;
      flow::make_edge(*from.outs[out_port], *to.node);
    }
  }

  static std::size_t port_index(const std::vector<PortSpec>& ports, const std::string& name) {
    for (std::size_t i = 0; i < ports.size(); ++i) {
      if (ports[i].name == name) return i;
    }
    throw SpecError("internal: port '" + name + "' vanished after validation");
  }

  void produce(StageRt& rt) {
    if (rt.exhausted) return;
    if (stop.load(std::memory_order_relaxed) || finish.load(std::memory_order_relaxed)) {
      if (rt.stage->can_stop()) return;
    }
    ++rt.in;
    PortEmitter out(rt, nullptr);
    bool more = false;
    rt.guarded([&] { more = rt.stage->produce(out); });
    if (!more) {
      rt.exhausted = true;
    } else if (!out.used_credit()) {
      rt.source->try_put(flow::continue_msg());  // nothing made: the credit is still ours
    }
  }
};

Pipeline::Pipeline(const Spec& spec, const Registry& registry) : impl_(std::make_unique<Impl>()) {
  impl_->spec = spec;
  impl_->build(registry);
}

Pipeline::~Pipeline() = default;

void Pipeline::request_stop() { impl_->stop = true; }
bool Pipeline::stop_requested() const { return impl_->stop; }
std::atomic<bool>* Pipeline::stop_flag() { return &impl_->stop; }

void Pipeline::run() {
  Impl& im = *impl_;
  if (im.ran) throw RunError("a Pipeline runs once; build a new one to run again");
  im.ran = true;
  std::exception_ptr error;
  std::vector<StageRt*> opened;
  try {
    for (auto* rt : im.order) {
      rt->guarded([&] { rt->stage->open(); });
      opened.push_back(rt);
    }
  } catch (...) {
    error = std::current_exception();
  }
  if (!error) {
    for (auto* rt : im.order) {
      if (!rt->credits) continue;
      rt->credits->node = rt->source.get();
      for (int i = 0; i < rt->credits->bound; ++i) rt->source->try_put(flow::continue_msg());
    }
    try {
      im.graph.wait_for_all();
    } catch (...) {
      error = std::current_exception();
    }
  }
  for (auto* rt : im.order) {
    if (rt->credits) rt->credits->detach();
  }
  for (auto* rt : opened) {
    try {
      rt->guarded([&] { rt->stage->close(!error); });
    } catch (...) {
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  if (im.stop || im.finish) return;
  for (auto* rt : im.order) {
    if (rt->credits && !rt->exhausted) {
      throw RunError("pipeline stalled: source '" + rt->decl->name + "' has all " +
                     std::to_string(rt->credits->bound) +
                     " credits held by messages that no stage is processing; a stage is keeping "
                     "messages without emitting them. Raise max_in_flight of '" +
                     rt->decl->name + "' or check the stages that collect messages into groups");
    }
  }
}

std::vector<StageStats> Pipeline::stats() const {
  std::vector<StageStats> out;
  for (const auto* rt : impl_->order) {
    StageStats s;
    s.name = rt->decl->name;
    s.type = rt->decl->type;
    s.concurrency = rt->decl->concurrency;
    s.in = rt->in;
    s.out = rt->out;
    s.busy_s = rt->busy_ns * 1e-9;
    s.blocked_s = rt->blocked_ns * 1e-9;
    if (rt->credits) {
      std::lock_guard<std::mutex> lock(rt->credits->mutex);
      s.max_in_flight = rt->credits->bound;
      s.peak_in_flight = rt->credits->peak;
      s.blocked_s = seconds(rt->credits->blocked);
    }
    out.push_back(s);
  }
  return out;
}

json Pipeline::stats_json() const {
  json stages = json::array();
  for (const auto& s : stats()) {
    json j = {{"name", s.name}, {"type", s.type},     {"concurrency", s.concurrency}, {"in", s.in},
              {"out", s.out},   {"busy_s", s.busy_s}, {"blocked_s", s.blocked_s}};
    if (s.max_in_flight) {
      j["max_in_flight"] = s.max_in_flight;
      j["peak_in_flight"] = s.peak_in_flight;
    }
    stages.push_back(std::move(j));
  }
  return {{"stages", stages}};
}

std::string Pipeline::stats_table() const {
  std::ostringstream o;
  o << std::left << std::setw(18) << "stage" << std::setw(16) << "type" << std::right
    << std::setw(10) << "in" << std::setw(10) << "out" << std::setw(11) << "busy s" << std::setw(11)
    << "blocked s"
    << "  in flight\n";
  for (const auto& s : stats()) {
    o << std::left << std::setw(18) << s.name << std::setw(16) << s.type << std::right
      << std::setw(10) << s.in << std::setw(10) << s.out << std::fixed << std::setprecision(3)
      << std::setw(11) << s.busy_s << std::setw(11) << s.blocked_s;
    if (s.max_in_flight) o << "  peak " << s.peak_in_flight << "/" << s.max_in_flight;
    o << "\n";
  }
  return o.str();
}

}  // namespace vsr
