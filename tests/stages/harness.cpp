#include "tests/stages/harness.h"

#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <thread>

#include "common/errors.h"
#include "runtime/config/specs.h"
#include "runtime/data/image.h"
#include "runtime/data/mock_data.h"
#include "runtime/model/model.h"
#include "runtime/outputs/checkpoint.h"

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

std::unique_ptr<Stage> make_stage(const std::string& type, const json& params,
                                  std::atomic<bool>* stop, std::atomic<bool>* finish) {
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
  ctx.stop = stop;
  ctx.finish = finish;
  return Registry::global().get(type).factory(ctx);
}

namespace fs = std::filesystem;

TrainConfig DataStages::data_config(int workers, int steps, int prefetch,
                                    const std::vector<std::string>& sets) {
  std::vector<std::string> overrides = {
      "DATA.data_root=" + root_.string(), "DATA.num_workers=" + std::to_string(workers),
      "DATA.prefetch=" + std::to_string(prefetch), "TRAINING.total_steps=" + std::to_string(steps)};
  overrides.insert(overrides.end(), sets.begin(), sets.end());
  return load_config_text(R"(DATA:
  category: general
  lr_version: 7frames
  formats: [small_540, medium_169]
  format_weights: {small_540: 0.5, medium_169: 0.5}
  augmentation: {crop: 90}
TRAINING:
  batch_size: {small_540: 2, medium_169: 1}
  gradient_accumulation: {small_540: 1, medium_169: 2}
  warmup_steps: 0
  seed: 11
)",
                          "data stages test", overrides);
}

json DataStages::training_data_spec(const TrainConfig& config, double sink_delay_ms) {
  SpecBuilder spec;
  const std::string batches = add_training_data(spec, config);
  spec.stage("sink", "collect_batches", {{"delay_ms", sink_delay_ms}});
  spec.edge(batches + ".out", "sink.in");
  return spec.build("data_stages", config.data.prefetch);
}

std::vector<std::shared_ptr<const MicroBatch>> DataStages::run_batches(
    const json& doc, std::vector<StageStats>* stats) {
  clear_collected();
  const Registry& r = stage_test_registry();
  Pipeline p(parse_spec(doc, r), r);
  p.run();
  if (stats) *stats = p.stats();
  std::vector<std::shared_ptr<const MicroBatch>> out;
  for (const auto& m : collected("sink")) out.push_back(m.as<MicroBatch>());
  return out;
}

void InferStagesTest::SetUp() {
  root_ = fs::path(::testing::TempDir()) / ("vsr_infer_stages_" + std::to_string(getpid()));
  fs::remove_all(root_);
  fs::create_directories(root_ / "lr");
  for (int i = 0; i < 5; ++i) write_frame(i, cv::Size(40, 32));
}

void InferStagesTest::TearDown() { fs::remove_all(root_); }

fs::path InferStagesTest::frame_path(int i) const {
  return root_ / "lr" / ("000" + std::to_string(i) + ".png");
}

void InferStagesTest::write_frame(int i, cv::Size size) {
  write_png_atomic(frame_path(i), make_mock_image(size, 100 + static_cast<std::uint64_t>(i)));
}

fs::path InferStagesTest::write_checkpoint(int frames, bool with_ema) {
  torch::manual_seed(7);
  VSRNet net(VSRNetOptions().base_channels(8).num_blocks(1).scale(kScale).frames(frames));
  CheckpointData c;
  c.step = 1;
  c.base_channels = 8;
  c.num_blocks = 1;
  c.scale = kScale;
  c.frames = frames;
  for (const auto& p : net->named_parameters()) {
    c.model.emplace_back(p.key(), p.value().detach().clone());
  }
  if (with_ema) c.ema = c.model;
  const fs::path path = root_ / ("model_" + std::to_string(frames) + ".pth");
  save_checkpoint(path, c);
  return path;
}

std::vector<std::shared_ptr<const FrameWindow>> InferStagesTest::windows(int frames) {
  auto source = make_stage("frames", {{"dir", (root_ / "lr").string()}, {"frames", frames}});
  source->open();
  CapturingEmitter out;
  while (source->produce(out)) {
  }
  std::vector<std::shared_ptr<const FrameWindow>> w;
  for (const auto& [port, m] : out.messages) {
    EXPECT_EQ(port, 0u);
    w.push_back(m.as<FrameWindow>());
  }
  return w;
}

std::vector<cv::Mat> InferStagesTest::upscale_all(const json& params, int frames) {
  auto stage = make_stage("upscale", params);
  stage->open();
  CapturingEmitter out;
  for (const auto& w : windows(frames)) stage->process(0, Message::of<FrameWindow>(w), out);
  std::vector<cv::Mat> images;
  for (const auto& [port, m] : out.messages) {
    auto f = m.as<UpscaledFrame>();
    EXPECT_EQ(f->index, static_cast<std::int64_t>(images.size()));
    EXPECT_EQ(f->name, "000" + std::to_string(images.size()));
    images.push_back(f->image);
  }
  stage->close(true);
  return images;
}

double max_abs_diff(const cv::Mat& a, const cv::Mat& b) {
  EXPECT_EQ(a.size(), b.size());
  EXPECT_EQ(a.type(), b.type());
  return cv::norm(a, b, cv::NORM_INF);
}

}  // namespace vsr::testing
