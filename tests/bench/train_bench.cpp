// train_bench: the training step fed by the real data stages vs by synthetic in-memory
// batches (the data stall as a ratio), each with float micro-batches (batch converts on the
// host) and raw 8-bit ones (train_step converts on the device: the GPU data path), with the
// precision and layout given, so the same command measures a GPU. Memory with and without
// gradient checkpointing: memory_bench. Not a unit test: it prints figures, see
// tests/bench/README.md.
//
//   train_bench [--steps 60] [--crop 96] [--batch 4] [--channels 16] [--blocks 2]
//               [--device cpu|cuda|auto] [--precision off|auto|bf16|fp16] [--channels-last
//               auto|true|false] [--workers 2] [--cache-mb 0] [--pause-data auto|on|off]
//               [--data-root DIR] [--raw-first true|false] [--warmup 20]
// The real feed runs a fifth time with TRAINING.pause_data off (decode beside the step), to
// compare with the --pause-data of the other four.
// Each run also prints the cores it kept busy (process CPU time / wall time) and the
// involuntary context switches per step (threads preempted while runnable: the two thread
// pools fighting over the cores).
#include <ATen/ATen.h>
#include <sys/resource.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include "graph/pipeline.h"
#include "graph/registry.h"
#include "runtime/cli/compile.h"
#include "runtime/config/config.h"
#include "runtime/config/specs.h"
#include "runtime/model/compute_thread.h"
#include "runtime/model/model.h"
#include "runtime/model/optim.h"
#include "stages/data/messages.h"
#include "stages/train/messages.h"
#include "tests/support/mock_dataset.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Options {
  int steps = 60;
  int crop = 96;
  int batch = 4;
  int channels = 16;
  int blocks = 2;
  std::string device = "cpu";
  std::string precision = "off";       // TRAINING.mixed_precision: off, auto, bf16, fp16
  std::string channels_last = "auto";  // MODEL.channels_last: auto, true, false
  int workers = 2;                     // DATA.num_workers
  long long cache_mb = 0;              // DATA.cache_mb
  std::string pause_data = "auto";     // TRAINING.pause_data of the four runs
  std::string data_root;               // a dataset (general, 7frames, small_540); "": mock data
  bool raw_first = false;              // each feed raw then float (order effects show as swaps)
  int warmup = 20;                     // untimed steps of each of the four runs first
};

// What one run cost the process besides wall time.
struct RunCost {
  double wall_s = 0;
  double cpu_s = 0;      // user + system, all threads
  long involuntary = 0;  // context switches of runnable threads (preempted)
  long voluntary = 0;    // waits (blocking on a lock, a futex, I/O)
};

// The peak memory the last StepEvent reported, and where.
struct PeakMemory {
  std::int64_t bytes = 0;
  bool on_device = false;
};
PeakMemory g_peak;

// The same micro-batch over and over, from memory: the feed with no data cost at all.
class SyntheticBatches : public Stage {
 public:
  static StageSchema schema() {
    return StageSchema("synthetic_batches")
        .output<MicroBatch>("out")
        .required("steps", ParamType::kInt, "micro-batches to emit")
        .required("batch", ParamType::kInt, "B")
        .required("crop", ParamType::kInt, "GT size")
        .required("raw", ParamType::kBool, "raw 8-bit BGR pixels instead of float RGB");
  }
  explicit SyntheticBatches(const StageContext& c) : steps_(c.param<int>("steps")) {
    const int b = c.param<int>("batch"), crop = c.param<int>("crop");
    // On the compute thread, as train_step's work: an OpenMP region on another thread would
    // give it a thread pool of its own (runtime/model/compute_thread.h).
    ComputeThread::global().run([&] {
      if (c.param<bool>("raw")) {
        proto_.lr = at::randint(0, 256, {b, 7, crop / 3, crop / 3, 3}).to(at::kByte);
        proto_.gt = at::randint(0, 256, {b, crop, crop, 3}).to(at::kByte);
      } else {
        proto_.lr = at::rand({b, 7, 3, crop / 3, crop / 3});
        proto_.gt = at::rand({b, 3, crop, crop});
      }
    });
    proto_.format = "small_540";
  }
  bool produce(Emitter& out) override {
    if (next_ >= steps_) return false;
    auto mb = std::make_shared<MicroBatch>(proto_);
    mb->seq = mb->step = next_++;
    out.emit<MicroBatch>(0, std::move(mb));
    return true;
  }

 private:
  int steps_;
  int next_ = 0;
  MicroBatch proto_;
};

class CountSteps : public Stage {
 public:
  static StageSchema schema() { return StageSchema("count_steps").input<StepEvent>("in"); }
  explicit CountSteps(const StageContext&) {}
  void process(std::size_t, const Message& in, Emitter&) override {
    const auto e = in.as<StepEvent>();
    g_peak = {e->peak_memory_bytes, e->memory_on_device};
  }
};

double cpu_seconds(const rusage& u) {
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

RunCost run_spec(const json& doc, const Registry& r, std::string* table) {
  Pipeline p(parse_spec(doc, r), r);
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  const auto start = Clock::now();
  p.run();
  RunCost c;
  c.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  getrusage(RUSAGE_SELF, &after);
  c.cpu_s = cpu_seconds(after) - cpu_seconds(before);
  c.involuntary = after.ru_nivcsw - before.ru_nivcsw;
  c.voluntary = after.ru_nvcsw - before.ru_nvcsw;
  *table = p.stats_table();
  return c;
}

// train_step of the compiled demo spec (`compiled`: every default filled in), fed by the data
// stages of `config` as the spec compiler adds them, or by the synthetic source; StepEvents to
// a counter.
json training_spec(const TrainConfig& config, const json& compiled, bool synthetic, bool raw,
                   const Options& o, const std::string& pause_data) {
  SpecBuilder spec;
  std::string feed = "feed";
  if (synthetic) {
    spec.stage(
        "feed", "synthetic_batches",
        {{"steps", o.steps}, {"batch", o.batch}, {"crop", o.crop}, {"raw", raw}})["max_in_flight"] =
        2;
  } else {
    feed = add_training_data(spec, config);
  }
  for (const auto& s : compiled["stages"]) {
    if (s["name"] == "train_step") spec.stage("train_step", "train_step", s["params"]);
  }
  // The shared values train_step reads (the data stages' are shared by add_training_data).
  for (const auto& p : Registry::global().get("train_step").schema.params()) {
    if (p.shared && compiled["shared"].contains(p.name)) {
      spec.share(p.name, compiled["shared"][p.name]);
    }
  }
  spec.stage("count", "count_steps");
  spec.edge(feed + ".out", "train_step.in");
  spec.edge("train_step.out", "count.in");
  json doc = spec.build("train_bench", config.data.prefetch);
  for (auto& stage : doc["stages"]) {
    if (stage["type"] == "batch") stage["params"]["pixels"] = raw ? "raw" : "float";
    if (stage["type"] == "train_step") stage["params"]["pause_data"] = pause_data;
  }
  return doc;
}

int run(const Options& o) {
  std::optional<testing::MockDataset> mock;
  if (o.data_root.empty()) {
    mock.emplace("vsr_train_bench",
                 testing::MockDatasetOptions{{"small_540"}, {7}, /*count=*/16, /*val_count=*/1},
                 fs::temp_directory_path());
  }
  const fs::path root = mock ? mock->root() : fs::path(o.data_root);

  const auto sets_for = [&](int steps) {
    return std::vector<std::string>{"DATA.data_root=" + root.string(),
                                    "TRAINING.total_steps=" + std::to_string(steps),
                                    "TRAINING.warmup_steps=1",
                                    "TRAINING.batch_size.small_540=" + std::to_string(o.batch),
                                    "DATA.augmentation.crop=" + std::to_string(o.crop),
                                    "MODEL.base_channels=" + std::to_string(o.channels),
                                    "MODEL.num_blocks=" + std::to_string(o.blocks),
                                    "TRAINING.device=" + o.device,
                                    "TRAINING.mixed_precision=" + o.precision,
                                    "MODEL.channels_last=" + o.channels_last,
                                    "VALIDATION.val_interval=1000000",
                                    "CHECKPOINT.checkpoint_interval=1000000",
                                    "DATA.num_workers=" + std::to_string(o.workers),
                                    "DATA.cache_mb=" + std::to_string(o.cache_mb)};
  };
  const std::vector<std::string> sets = sets_for(o.steps);
  const std::string demo = std::string(VSR_SOURCE_DIR) + "/configs/demo.yaml";
  const TrainConfig config = load_config(demo, sets);
  const json compiled = compile_config_file(demo, sets);
  Registry r = Registry::global();
  r.add<SyntheticBatches>();
  r.add<CountSteps>();

  // Each feed with float micro-batches (converted by batch on the host, the CPU's default)
  // and with raw 8-bit ones (converted by train_step on the device, CUDA's default).
  std::string table_real, table;
  double seconds[2][2];  // [synthetic][raw]
  RunCost cost[2][2];
  PeakMemory peak;
  // Untimed warm-up: without it, whichever feed of a pair ran second ran 4-10% faster
  // (tests/bench/README.md, --raw-first).
  if (o.warmup > 0) {
    Options w = o;
    w.steps = o.warmup;
    const std::vector<std::string> warm_sets = sets_for(o.warmup);
    const TrainConfig warm_config = load_config(demo, warm_sets);
    const json warm_compiled = compile_config_file(demo, warm_sets);
    std::string ignored;
    for (const bool synthetic : {true, false}) {
      for (const bool raw : {false, true}) {
        run_spec(training_spec(warm_config, warm_compiled, synthetic, raw, w, o.pause_data), r,
                 &ignored);
      }
    }
  }
  for (const bool synthetic : {true, false}) {
    for (const bool raw : {o.raw_first, !o.raw_first}) {
      cost[synthetic][raw] =
          run_spec(training_spec(config, compiled, synthetic, raw, o, o.pause_data), r,
                   synthetic || raw ? &table : &table_real);
      seconds[synthetic][raw] = cost[synthetic][raw].wall_s;
      peak = g_peak;
    }
  }
  // The real feed again with decode beside the step (pause_data off: the wiring before it).
  const RunCost beside =
      run_spec(training_spec(config, compiled, false, false, o, "off"), r, &table);
  std::printf(
      "train_bench: %d steps, batch %d, GT crop %d, model %d channels x %d blocks, device %s, "
      "precision %s, channels_last %s, %d decode workers, cache_mb %lld, pause_data %s, %d torch "
      "threads, %s%s\n",
      o.steps, o.batch, o.crop, o.channels, o.blocks, o.device.c_str(), o.precision.c_str(),
      o.channels_last.c_str(), o.workers, o.cache_mb, o.pause_data.c_str(), at::get_num_threads(),
      mock ? "mock data (16 pairs)" : root.c_str(), o.raw_first ? ", raw feeds before float" : "");
  auto rate = [&](bool synthetic, bool raw) { return o.steps / seconds[synthetic][raw]; };
  std::printf("  synthetic in-memory batches, float: %.2f steps/s (%.1f s)\n", rate(true, false),
              seconds[1][0]);
  std::printf("  synthetic in-memory batches, raw:   %.2f steps/s (%.1f s), raw / float %.1f%%\n",
              rate(true, true), seconds[1][1], 100 * rate(true, true) / rate(true, false));
  std::printf("  real data stages, float:            %.2f steps/s (%.1f s)\n", rate(false, false),
              seconds[0][0]);
  std::printf("  real data stages, raw:              %.2f steps/s (%.1f s), raw / float %.1f%%\n",
              rate(false, true), seconds[0][1], 100 * rate(false, true) / rate(false, false));
  std::printf("  real / synthetic (float): %.1f%% (data stall %.1f%%)\n",
              100 * seconds[1][0] / seconds[0][0], 100 * (1 - seconds[1][0] / seconds[0][0]));
  std::printf("  real / synthetic (raw):   %.1f%%\n", 100 * seconds[1][1] / seconds[0][1]);
  std::printf(
      "  real data stages, float, pause_data off: %.2f steps/s (%.1f s), real / synthetic "
      "%.1f%%; pause_data %s / off %.1f%%, cores busy %.2f (CPU %.1f s)\n",
      o.steps / beside.wall_s, beside.wall_s, 100 * seconds[1][0] / beside.wall_s,
      o.pause_data.c_str(), 100 * beside.wall_s / seconds[0][0], beside.cpu_s / beside.wall_s,
      beside.cpu_s);
  const char* names[2][2] = {{"real, float", "real, raw"}, {"synthetic, float", "synthetic, raw"}};
  for (const bool synthetic : {true, false}) {
    for (const bool raw : {false, true}) {
      const RunCost& c = cost[synthetic][raw];
      std::printf(
          "  %-16s cores busy %.2f (CPU %.1f s), per step: %.1f involuntary / %.1f voluntary "
          "context switches\n",
          names[synthetic][raw], c.cpu_s / c.wall_s, c.cpu_s,
          static_cast<double>(c.involuntary) / o.steps, static_cast<double>(c.voluntary) / o.steps);
    }
  }
  std::printf("  peak memory (%s): %.2f GiB\n", peak.on_device ? "device" : "process RSS",
              static_cast<double>(peak.bytes) / (1 << 30));
  std::printf("\n  stats, real feed, float:\n%s", table_real.c_str());
  return 0;
}

}  // namespace
}  // namespace vsr

int main(int argc, char** argv) {
  vsr::Options o;
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::cout
        << "usage: train_bench [--steps 60] [--crop 96] [--batch 4] [--channels 16] "
           "[--blocks 2] [--device cpu|cuda|auto]\n"
           "                   [--precision off|auto|bf16|fp16] [--channels-last auto|true|false]\n"
           "                   [--workers 2] [--cache-mb 0] [--pause-data auto|on|off] "
           "[--data-root DIR] [--raw-first true|false] [--warmup 20]\n"
           "  times --steps optimizer steps of configs/demo.yaml's train_step fed by the "
           "data stages\n"
           "  and by synthetic in-memory batches (tests/bench/README.md)\n";
    return 0;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (k == "--device")
      o.device = argv[i + 1];
    else if (k == "--precision")
      o.precision = argv[i + 1];
    else if (k == "--channels-last")
      o.channels_last = argv[i + 1];
    else if (k == "--steps")
      o.steps = v;
    else if (k == "--crop")
      o.crop = v;
    else if (k == "--batch")
      o.batch = v;
    else if (k == "--channels")
      o.channels = v;
    else if (k == "--blocks")
      o.blocks = v;
    else if (k == "--workers")
      o.workers = v;
    else if (k == "--cache-mb")
      o.cache_mb = std::atoll(argv[i + 1]);
    else if (k == "--pause-data")
      o.pause_data = argv[i + 1];
    else if (k == "--data-root")
      o.data_root = argv[i + 1];
    else if (k == "--warmup")
      o.warmup = v;
    else if (k == "--raw-first" &&
             (std::string(argv[i + 1]) == "true" || std::string(argv[i + 1]) == "false"))
      o.raw_first = std::string(argv[i + 1]) == "true";
    else {
      std::cerr << "train_bench: unknown option " << k
                << "; options: --steps --crop --batch --channels --blocks --device --precision "
                   "--channels-last --workers --cache-mb --pause-data --data-root --raw-first "
                   "true|false --warmup\n";
      return 2;
    }
  }
  try {
    return vsr::run(o);
  } catch (const std::exception& e) {
    std::cerr << "train_bench: " << e.what() << "\n";
    return 1;
  }
}
