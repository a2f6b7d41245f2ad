// data_bench: throughput and memory of the data half of the training graph (issue 4,
// "Performance"). Not a unit test: it prints figures, see tests/bench/README.md.
//
//   1. writes a mock dataset (write_mock_dataset) in a temp dir (or uses --data-root);
//   2. the raw decode rate of the same files: a single-thread loop of cv::imread of each
//      sample's GT + LR stack, with the flags decode's results match (IMREAD_COLOR |
//      IMREAD_ANYDEPTH: the baseline) and, for reference, IMREAD_UNCHANGED; then
//      read_image_bgr, the decode stage's own reader (runtime/data/png.h, libdeflate); and the same
//      imread loop on --workers threads at once (the measured parallel ceiling);
//   3. the real pipeline sample -> decode -> split -> augment -> batch -> a counting sink, no
//      training, num_workers = --workers, for --steps optimizer steps: samples/s, MB/s, the
//      ratio to "raw decode rate x workers", RSS (peak and sampled current);
//   4. the same with 4x the steps: peak RSS must not grow with the steps;
//   5. run 4 again with raw 8-bit micro-batches (the GPU data path);
//   6. the host conversion of a raw micro-batch: raw_to_float_rgb against plain LibTorch ops.
//
//   data_bench [--steps 100] [--workers 2] [--formats small_540,medium_169] [--batch 4]
//              [--files 24] [--prefetch 4] [--raw-passes 3] [--data-root DIR] [--keep]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "graph/pipeline.h"
#include "graph/registry.h"
#include "graph/spec.h"
#include "runtime/config/config.h"
#include "runtime/config/specs.h"
#include "runtime/data/dataset.h"
#include "runtime/data/formats.h"
#include "runtime/data/image.h"
#include "runtime/data/mock_data.h"
#include "runtime/data/pixels.h"
#include "stages/data/messages.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU time of the calling thread, and of the whole process (user + system).
double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
double process_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * t.tv_usec; };
  return s(u.ru_utime) + s(u.ru_stime);
}
double process_sys_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_stime.tv_sec) + 1e-6 * static_cast<double>(u.ru_stime.tv_usec);
}
// The 1-minute load average: other processes on the machine skew every wall-clock figure.
std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one;
}

constexpr double kMB = 1e6;
constexpr double kMiB = 1024.0 * 1024.0;

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  int steps = 100;
  int workers = 2;
  std::vector<std::string> formats = {"small_540", "medium_169"};
  int batch = 4;
  int files = 24;
  int prefetch = 4;  // DATA.prefetch default
  int raw_passes = 3;
  std::string category = "general";
  std::string lr_version = "7frames";
  fs::path data_root;  // empty: write a mock dataset
  bool keep = false;
  bool serial_batch = false;  // batch at concurrency 1: collation serial, as before issue 16
};

void usage(std::ostream& o) {
  o << "usage: data_bench [options]\n"
       "  --steps N        optimizer steps of the first pipeline run (default 100); the second\n"
       "                   run does 4x as many\n"
       "  --workers N      decode and augment concurrency = DATA.num_workers (default 2)\n"
       "  --formats A,B    formats, equal weights (default small_540,medium_169)\n"
       "  --batch N        micro-batch size of every format, gradient_accumulation 1 (default 4)\n"
       "  --files N        mock clips per format (default 24)\n"
       "  --prefetch N     micro-batches in flight = DATA.prefetch (default 4)\n"
       "  --raw-passes N   timed passes over the files in the raw decode loops (default 3)\n"
       "  --data-root DIR  use this dataset (category general, 7frames) instead of mock data\n"
       "  --keep           keep the mock dataset\n"
       "  --serial-batch   run batch at concurrency 1 (collation serial, the wiring before\n"
       "                   issue 16), to compare with the default (batch at --workers)\n";
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

Options parse_args(int argc, char** argv) {
  Options o;
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) throw std::invalid_argument(std::string(argv[i]) + " needs a value");
    return argv[++i];
  };
  auto positive = [&](int& i) {
    const std::string flag = argv[i];
    const int v = std::stoi(value(i));
    if (v <= 0) throw std::invalid_argument(flag + " must be > 0");
    return v;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--steps") {
      o.steps = positive(i);
    } else if (a == "--workers") {
      o.workers = positive(i);
    } else if (a == "--formats") {
      o.formats = split_list(value(i));
      if (o.formats.empty()) throw std::invalid_argument("--formats is empty");
    } else if (a == "--batch") {
      o.batch = positive(i);
    } else if (a == "--files") {
      o.files = positive(i);
    } else if (a == "--prefetch") {
      o.prefetch = positive(i);
    } else if (a == "--raw-passes") {
      o.raw_passes = positive(i);
    } else if (a == "--data-root") {
      o.data_root = value(i);
    } else if (a == "--keep") {
      o.keep = true;
    } else if (a == "--serial-batch") {
      o.serial_batch = true;
    } else if (a == "--help" || a == "-h") {
      usage(std::cout);
      std::exit(0);
    } else {
      throw std::invalid_argument("unknown option " + a);
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Memory

// Peak resident set of the whole process so far (getrusage; Linux reports KiB).
double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024.0 / kMiB;
}

// Current resident set (/proc/self/statm, second field, in pages).
double current_rss_mib() {
  std::ifstream statm("/proc/self/statm");
  long long size = 0, resident = 0;
  statm >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / kMiB;
}

// Samples the current RSS every few milliseconds on its own thread while alive.
class RssSampler {
 public:
  RssSampler() : start_(Clock::now()), thread_([this] { loop(); }) {}
  ~RssSampler() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    done_ = true;
    thread_.join();
  }
  // (seconds since start, MiB)
  std::vector<std::pair<double, double>> samples() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return samples_;
  }

 private:
  void loop() {
    while (!done_) {
      const double rss = current_rss_mib();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        samples_.emplace_back(seconds_since(start_), rss);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  Clock::time_point start_;
  mutable std::mutex mutex_;
  std::vector<std::pair<double, double>> samples_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// Raw decode baseline

struct FileSet {
  std::string format;
  std::vector<std::pair<fs::path, fs::path>> pairs;  // GT, LR stack
  double png_bytes_per_sample = 0;
};

std::vector<FileSet> file_sets(const DatasetIndex& index) {
  std::vector<FileSet> out;
  for (const auto& f : index.formats) {
    FileSet s;
    s.format = f.format.name;
    double bytes = 0;
    for (std::size_t i = 0; i < f.size(); ++i) {
      s.pairs.emplace_back(f.gt_path(i), f.lr_path(i));
      bytes += static_cast<double>(fs::file_size(f.gt_path(i)) + fs::file_size(f.lr_path(i)));
    }
    s.png_bytes_per_sample = bytes / static_cast<double>(f.size());
    out.push_back(std::move(s));
  }
  return out;
}

// A rate both ways: per second of wall time (what a user sees; skewed when other processes
// compete for the cores) and per second of CPU time of the threads doing the work.
struct Rate {
  double wall = 0;  // samples/s
  double cpu = 0;   // samples per CPU-second
};

// Reads every pair once untimed (page cache, lazy init), then `passes` times timed, on
// `threads` threads at once (each thread reads every pair per pass, starting at a different
// one). Rates are over all threads; `sink` gets the decoded bytes so nothing is elided.
template <class Read>
Rate time_reads(const FileSet& set, int passes, int threads, Read read,
                std::atomic<std::uint64_t>& sink) {
  for (const auto& p : set.pairs) sink += read(p.first) + read(p.second);
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  std::vector<double> cpu(static_cast<std::size_t>(threads), 0.0);
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      const double cpu_start = thread_cpu_s();
      std::uint64_t local = 0;
      const std::size_t n = set.pairs.size();
      for (int pass = 0; pass < passes; ++pass) {
        for (std::size_t i = 0; i < n; ++i) {
          const auto& p = set.pairs[(i + static_cast<std::size_t>(t) * n / threads) % n];
          local += read(p.first) + read(p.second);
        }
      }
      sink += local;
      cpu[static_cast<std::size_t>(t)] = thread_cpu_s() - cpu_start;
    });
  }
  for (auto& th : pool) th.join();
  const double wall = seconds_since(start);
  double cpu_total = 0;
  for (double c : cpu) cpu_total += c;
  const double n = static_cast<double>(passes) * threads * static_cast<double>(set.pairs.size());
  return {n / wall, n / cpu_total};
}

std::uint64_t imread_bytes(const fs::path& p, int flags) {
  const cv::Mat m = cv::imread(p.string(), flags);
  if (m.empty()) throw std::runtime_error("cv::imread failed on " + p.string());
  return m.total() * m.elemSize();
}

struct RawRates {
  Rate imread;            // 1 thread, COLOR | ANYDEPTH: the baseline
  Rate imread_unchanged;  // 1 thread, IMREAD_UNCHANGED
  Rate decode;            // 1 thread, read_image_bgr: what the decode stage runs
  Rate imread_parallel;   // `workers` threads at once, the same flags
  double float_bytes_per_sample = 0;
};

constexpr int kReadFlags = cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH;  // read_image_bgr's result

RawRates measure_raw(const FileSet& set, int passes, int workers) {
  std::atomic<std::uint64_t> sink{0};
  RawRates r;
  auto flags_read = [](const fs::path& p) { return imread_bytes(p, kReadFlags); };
  auto unchanged_read = [](const fs::path& p) { return imread_bytes(p, cv::IMREAD_UNCHANGED); };
  auto rgb_read = [](const fs::path& p) {
    const cv::Mat m = read_image_rgb(p);
    return static_cast<std::uint64_t>(m.total() * m.elemSize());
  };
  auto decode_read = [](const fs::path& p) {
    const cv::Mat m = read_image_bgr(p);
    return static_cast<std::uint64_t>(m.total() * m.elemSize());
  };
  r.imread = time_reads(set, passes, 1, flags_read, sink);
  r.imread_unchanged = time_reads(set, passes, 1, unchanged_read, sink);
  r.decode = time_reads(set, passes, 1, decode_read, sink);
  r.imread_parallel = time_reads(set, passes, workers, flags_read, sink);
  const auto& p = set.pairs.front();
  r.float_bytes_per_sample = static_cast<double>(rgb_read(p.first) + rgb_read(p.second));
  return r;
}

// ---------------------------------------------------------------------------------------------
// Pipeline run

// What the counting sink saw.
struct Counters {
  std::mutex mutex;
  std::uint64_t micro_batches = 0;
  std::uint64_t samples = 0;
  double float_bytes = 0;  // lr + gt tensors as delivered (float32, or raw 8/16-bit)
  std::map<std::string, std::uint64_t> samples_per_format;

  void reset() {
    std::lock_guard<std::mutex> lock(mutex);
    micro_batches = samples = 0;
    float_bytes = 0;
    samples_per_format.clear();
  }
};

// Counts micro-batches and drops them (which hands the credit back to sample).
class CountingSink : public Stage {
 public:
  static StageSchema schema() {
    return StageSchema("bench_count")
        .doc("data_bench: counts micro-batches, samples and bytes, then drops them")
        .input<MicroBatch>("in");
  }
  explicit CountingSink(std::shared_ptr<Counters> counters) : counters_(std::move(counters)) {}
  void process(std::size_t, const Message& in, Emitter&) override {
    auto mb = in.as<MicroBatch>();
    std::lock_guard<std::mutex> lock(counters_->mutex);
    ++counters_->micro_batches;
    const auto b = static_cast<std::uint64_t>(mb->gt.size(0));
    counters_->samples += b;
    counters_->samples_per_format[mb->format] += b;
    counters_->float_bytes += static_cast<double>(mb->lr.nbytes() + mb->gt.nbytes());
  }

 private:
  std::shared_ptr<Counters> counters_;
};

// The data half of a training config: --formats at equal weights, --batch samples per
// micro-batch, accumulation 1, --workers, --prefetch, augmentation at its defaults (0.5), no
// crop.
TrainConfig data_config(const Options& o, const fs::path& root, int steps) {
  std::string formats, batch_size;
  for (const auto& f : o.formats) {
    formats += (formats.empty() ? "" : ", ") + f;
    batch_size += (batch_size.empty() ? "" : ", ") + f + ": " + std::to_string(o.batch);
  }
  const std::string yaml =
      "DATA:\n  data_root: " + json(root.string()).dump() + "\n  category: " + o.category +
      "\n  lr_version: " + o.lr_version + "\n  formats: [" + formats +
      "]\n  num_workers: " + std::to_string(o.workers) +
      "\n  prefetch: " + std::to_string(o.prefetch) + "\n  augmentation: {crop: 0}\n" +
      "TRAINING:\n  total_steps: " + std::to_string(steps) + "\n  batch_size: {" + batch_size +
      "}\n  warmup_steps: 0\n  seed: 1\n";
  return load_config_text(yaml, "data_bench");
}

// sample -> decode -> split -> augment -> batch as the spec compiler wires it (decode, augment
// and batch at num_workers, split serial; batch serial with --serial-batch), then the counting
// sink.
// `pixels`: batch's form, "float" (RGB in [0, 1], the CPU's) or "raw" (8/16-bit BGR, CUDA's).
json data_spec(const Options& o, const fs::path& root, int steps, const std::string& pixels) {
  SpecBuilder spec;
  const std::string batches = add_training_data(spec, data_config(o, root, steps));
  spec.stage("sink", "bench_count");
  spec.edge(batches + ".out", "sink.in");
  json doc = spec.build("data_bench", o.prefetch);
  for (auto& stage : doc["stages"]) {
    if (stage["type"] != "batch") continue;
    stage["params"] = {{"pixels", pixels}, {"device", "cpu"}};
    if (o.serial_batch) stage["concurrency"] = 1;
  }
  return doc;
}

struct RunResult {
  int steps = 0;
  double wall_s = 0;
  double cpu_s = 0;  // process CPU time (user + system) during the run
  double sys_s = 0;  // of which system (page faults of fresh allocations, mostly)
  std::string load_before;
  std::uint64_t samples = 0;
  std::uint64_t micro_batches = 0;
  double float_bytes = 0;
  std::map<std::string, std::uint64_t> samples_per_format;
  double rss_before = 0;
  double rss_peak_sampled = 0;
  double rss_peak_quarter[4] = {0, 0, 0, 0};  // sampled peak per quarter of the run
  double rss_after = 0;
  double ru_maxrss_after = 0;
  std::vector<StageStats> stats;
  std::string stats_table;
};

RunResult run_pipeline(const Options& o, const fs::path& root, int steps, const Registry& registry,
                       Counters& counters, const std::string& pixels = "float") {
  counters.reset();
  RunResult r;
  r.steps = steps;
  r.load_before = loadavg();
  Pipeline pipeline(parse_spec(data_spec(o, root, steps, pixels), registry, "data_bench"),
                    registry);
  r.rss_before = current_rss_mib();
  RssSampler sampler;
  const double cpu_start = process_cpu_s(), sys_start = process_sys_s();
  const auto start = Clock::now();
  pipeline.run();
  r.wall_s = seconds_since(start);
  r.cpu_s = process_cpu_s() - cpu_start;
  r.sys_s = process_sys_s() - sys_start;
  sampler.stop();
  r.rss_after = current_rss_mib();
  r.ru_maxrss_after = peak_rss_mib();
  for (const auto& [t, rss] : sampler.samples()) {
    r.rss_peak_sampled = std::max(r.rss_peak_sampled, rss);
    const int q = std::min(3, static_cast<int>(4 * t / r.wall_s));
    r.rss_peak_quarter[q] = std::max(r.rss_peak_quarter[q], rss);
  }
  r.stats = pipeline.stats();
  r.stats_table = pipeline.stats_table();
  std::lock_guard<std::mutex> lock(counters.mutex);
  r.samples = counters.samples;
  r.micro_batches = counters.micro_batches;
  r.float_bytes = counters.float_bytes;
  r.samples_per_format = counters.samples_per_format;
  return r;
}

// ---------------------------------------------------------------------------------------------
// Report

std::string fixed(double v, int precision = 1) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(precision) << v;
  return o.str();
}

// 6. What a raw micro-batch costs to convert on the host (train_step with `pixels: raw` on the
// CPU): raw_to_float_rgb against raw_to_float_rgb_by_ops, the LibTorch ops it used before (a
// strided copy of the BGR channels reversed, then a multiply), on --workers intra-op threads, for a
// micro-batch of
// --batch samples of the first format (GT and 7 LR frames at the mock data's scale 3).
void host_conversion(const Options& o) {
  const FormatInfo& f = format_info(o.formats.at(0));
  const int scale = MockDataOptions{}.scale;
  const int threads = at::get_num_threads();
  at::set_num_threads(o.workers);
  at::manual_seed(1);
  const std::vector<at::Tensor> batch = {
      at::randint(0, 256, {o.batch, 7, f.height / scale, f.width / scale, 3}, at::kByte),
      at::randint(0, 256, {o.batch, f.height, f.width, 3}, at::kByte)};
  const int reps = 20;
  const auto time = [&](const auto& convert) {
    double best = 1e30;
    for (int pass = 0; pass < 3; ++pass) {
      const auto start = Clock::now();
      for (int i = 0; i < reps; ++i) {
        for (const at::Tensor& t : batch) convert(t);
      }
      best = std::min(best, seconds_since(start) / reps);
    }
    return best;
  };
  bool same = true;
  for (const at::Tensor& t : batch)
    same = same && at::equal(raw_to_float_rgb(t), raw_to_float_rgb_by_ops(t));
  const double ops = time([](const at::Tensor& t) { return raw_to_float_rgb_by_ops(t); });
  const double fast = time([](const at::Tensor& t) { return raw_to_float_rgb(t); });
  at::set_num_threads(threads);
  std::cout << "\n== host conversion of a raw micro-batch (" << o.batch << " x " << f.name
            << ", GT + 7 LR frames, " << o.workers << " threads, best of 3 x " << reps << ")\n"
            << "  LibTorch ops (strided copy, multiply): " << fixed(1000.0 * ops, 2) << " ms\n"
            << "  raw_to_float_rgb:                      " << fixed(1000.0 * fast, 2) << " ms ("
            << fixed(ops / fast, 2) << "x), results " << (same ? "equal" : "DIFFER") << "\n";
}

std::string first_line(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      const auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  }
  return "?";
}

struct Baseline {
  Rate single;    // 1 thread, imread COLOR | ANYDEPTH
  Rate decode;    // 1 thread, read_image_bgr (the decode stage's reader)
  Rate parallel;  // measured on `workers` threads at once
  double png_bytes_per_sample = 0;
};

// The raw rates of the format mix the run actually drew: time per sample is the count-weighted
// mean of the per-format times.
Baseline mix(const std::map<std::string, RawRates>& raw, const std::vector<FileSet>& sets,
             const std::map<std::string, std::uint64_t>& counts) {
  double n = 0, png = 0;
  Rate single, decode, parallel;  // summed times first
  auto add = [](Rate& sum, const Rate& r, double c) {
    sum.wall += c / r.wall;
    sum.cpu += c / r.cpu;
  };
  for (const auto& s : sets) {
    const auto it = counts.find(s.format);
    const double c = it == counts.end() ? 0.0 : static_cast<double>(it->second);
    const RawRates& r = raw.at(s.format);
    n += c;
    add(single, r.imread, c);
    add(decode, r.decode, c);
    add(parallel, r.imread_parallel, c);
    png += c * s.png_bytes_per_sample;
  }
  Baseline b;
  if (n == 0) return b;
  auto invert = [n](const Rate& t) { return Rate{n / t.wall, n / t.cpu}; };
  b.single = invert(single);
  b.decode = invert(decode);
  b.parallel = invert(parallel);
  b.png_bytes_per_sample = png / n;
  return b;
}

void print_run(const char* title, const RunResult& r, const Baseline& b, int workers) {
  const double n = static_cast<double>(r.samples);
  const double rate = n / r.wall_s;
  const double cpu_rate = n / r.cpu_s;
  const double ideal = b.single.wall * workers;
  std::cout << "\n== " << title << ": " << r.steps << " steps, " << r.micro_batches
            << " micro-batches, " << r.samples << " samples (";
  bool first = true;
  for (const auto& [f, c] : r.samples_per_format) {
    std::cout << (first ? "" : ", ") << f << " " << c;
    first = false;
  }
  std::cout << ") in " << fixed(r.wall_s, 2) << " s; load average before " << r.load_before << "\n"
            << "  samples/s                        " << fixed(rate) << "\n"
            << "  decoded MB/s (tensors delivered) " << fixed(r.float_bytes / r.wall_s / kMB)
            << "\n"
            << "  PNG MB/s (file bytes read)       " << fixed(rate * b.png_bytes_per_sample / kMB)
            << "\n"
            << "  raw imread x " << workers << " workers (ideal)   " << fixed(ideal)
            << " samples/s -> pipeline " << fixed(100.0 * rate / ideal) << "% (target >= 90%)\n"
            << "  raw imread on " << workers << " threads, measured " << fixed(b.parallel.wall)
            << " samples/s -> pipeline " << fixed(100.0 * rate / b.parallel.wall) << "%\n"
            << "  read_image_bgr x " << workers << " (ideal)       "
            << fixed(b.decode.wall * workers) << " samples/s -> pipeline "
            << fixed(100.0 * rate / (b.decode.wall * workers))
            << "% (the pipeline's own overhead over its decoder)\n"
            << "  CPU: " << fixed(r.cpu_s, 2) << " s (system " << fixed(r.sys_s, 2)
            << " s) = " << fixed(100.0 * r.cpu_s / (r.wall_s * workers)) << "% of " << workers
            << " cores x wall; " << fixed(cpu_rate) << " samples per CPU-s vs raw imread "
            << fixed(b.single.cpu) << " -> CPU efficiency "
            << fixed(100.0 * cpu_rate / b.single.cpu) << "% (the wall ratio it would reach with "
            << workers << " cores all its own)\n"
            << "  RSS MiB: before " << fixed(r.rss_before) << ", sampled peak "
            << fixed(r.rss_peak_sampled) << " (per quarter of the run "
            << fixed(r.rss_peak_quarter[0]) << " / " << fixed(r.rss_peak_quarter[1]) << " / "
            << fixed(r.rss_peak_quarter[2]) << " / " << fixed(r.rss_peak_quarter[3]) << "), after "
            << fixed(r.rss_after) << "; ru_maxrss " << fixed(r.ru_maxrss_after) << "\n";
  std::cout << "  per-stage stats (Pipeline::stats_table):\n";
  std::istringstream table(r.stats_table);
  std::string line;
  while (std::getline(table, line)) std::cout << "    " << line << "\n";
  double busy_total = 0;
  for (const auto& s : r.stats) busy_total += s.busy_s;
  std::cout << "  busy (wall time inside process()) per sample, share of all stages' "
            << fixed(busy_total, 2) << " busy s:\n";
  for (const auto& s : r.stats) {
    std::cout << "    " << std::left << std::setw(10) << s.name << std::right << std::setw(8)
              << fixed(1000.0 * s.busy_s / n, 2) << " ms  " << std::setw(5)
              << fixed(100.0 * s.busy_s / busy_total) << "%\n";
  }
}

// Writes the mock dataset in a child process, so that its memory does not count in this
// process's ru_maxrss (fork happens before any thread exists).
void write_dataset(const MockDataOptions& m) {
  std::cout.flush();
  const pid_t pid = fork();
  if (pid == 0) {
    int code = 0;
    try {
      write_mock_dataset(m);
    } catch (const std::exception& e) {
      std::cerr << "mock data: " << e.what() << "\n";
      code = 1;
    }
    std::_Exit(code);
  }
  if (pid < 0) {
    write_mock_dataset(m);
    return;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("writing the mock dataset failed");
  }
}

int run(const Options& o) {
  std::cout << "data_bench options: --steps " << o.steps << " --workers " << o.workers
            << " --batch " << o.batch << " --prefetch " << o.prefetch << " --files " << o.files
            << " --raw-passes " << o.raw_passes << " --formats ";
  for (std::size_t i = 0; i < o.formats.size(); ++i) std::cout << (i ? "," : "") << o.formats[i];
  std::cout << "\n";

  fs::path root = o.data_root;
  const bool mock = root.empty();
  if (mock) {
    root = fs::temp_directory_path() / ("vsr_data_bench_" + std::to_string(::getpid()));
    MockDataOptions m;
    m.root = root;
    m.formats = o.formats;
    m.lr_versions = {7};
    m.count = o.files;
    m.val_count = 1;
    m.seed = 7;
    const auto start = Clock::now();
    write_dataset(m);
    std::cout << "mock dataset: " << root.string() << ", " << o.files << " clips per format, "
              << "written in " << fixed(seconds_since(start), 1) << " s\n";
  }
  // After the fork: these may start OpenCV's and ATen's thread pools.
  std::cout << "machine: nproc " << std::thread::hardware_concurrency() << ", CPU "
            << first_line("/proc/cpuinfo", "model name") << ", OpenCV " << CV_VERSION
            << " (cv::getNumThreads " << cv::getNumThreads() << "), at::get_num_threads "
            << at::get_num_threads() << "\n";
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      if (!dir.empty()) fs::remove_all(dir, ec);
    }
  } cleanup{mock && !o.keep ? root : fs::path()};

  const DatasetIndex index = scan_dataset(root, o.category, o.lr_version, o.formats);
  const std::vector<FileSet> sets = file_sets(index);

  // 2. raw decode rates.
  std::cout << "\n== raw decode, same files (GT + LR stack per sample), " << o.raw_passes
            << " timed passes after 1 untimed\n";
  std::map<std::string, RawRates> raw;
  for (const auto& s : sets) {
    const RawRates r = measure_raw(s, o.raw_passes, o.workers);
    raw[s.format] = r;
    auto line = [](const char* what, const Rate& rate) {
      std::cout << "    " << std::left << std::setw(34) << what << std::right << std::setw(7)
                << fixed(rate.wall) << " samples/s " << std::setw(7) << fixed(rate.cpu)
                << " per CPU-s (" << fixed(1000.0 / rate.cpu, 2) << " CPU-ms per sample)\n";
    };
    std::cout << "  " << s.format << " (" << s.pairs.size() << " files, "
              << fixed(s.png_bytes_per_sample / kMB, 2) << " MB PNG, "
              << fixed(r.float_bytes_per_sample / kMB, 2) << " MB float32 per sample)\n";
    line("cv::imread COLOR|ANYDEPTH, 1 thread", r.imread);
    line("cv::imread UNCHANGED, 1 thread", r.imread_unchanged);
    line("read_image_bgr (decode's), 1 thread", r.decode);
    line(("cv::imread COLOR|ANYDEPTH, " + std::to_string(o.workers) + " thr").c_str(),
         r.imread_parallel);
    std::cout << "    read_image_bgr (vsr's PNG decoder) vs cv::imread: "
              << fixed(r.decode.cpu / r.imread.cpu, 2) << "x the samples per CPU-s\n";
  }

  // 3 and 4. the pipeline, N and 4N steps.
  auto counters = std::make_shared<Counters>();
  Registry registry = Registry::global();
  registry.add(CountingSink::schema(), [counters](const StageContext&) {
    return std::make_unique<CountingSink>(counters);
  });
  const RunResult a = run_pipeline(o, root, o.steps, registry, *counters);
  const Baseline ba = mix(raw, sets, a.samples_per_format);
  print_run("pipeline run 1", a, ba, o.workers);
  const RunResult b = run_pipeline(o, root, 4 * o.steps, registry, *counters);
  const Baseline bb = mix(raw, sets, b.samples_per_format);
  print_run("pipeline run 2 (4x steps)", b, bb, o.workers);
  // 5. run 2 again with raw 8-bit micro-batches, the form batch makes for a CUDA device.
  const RunResult c = run_pipeline(o, root, 4 * o.steps, registry, *counters, "raw");
  const Baseline bc = mix(raw, sets, c.samples_per_format);
  print_run("pipeline run 3 (4x steps, raw 8-bit pixels: the GPU data path)", c, bc, o.workers);

  const double rate_a = static_cast<double>(a.samples) / a.wall_s;
  const double rate_b = static_cast<double>(b.samples) / b.wall_s;
  const double eff_a = static_cast<double>(a.samples) / a.cpu_s / ba.single.cpu;
  const double eff_b = static_cast<double>(b.samples) / b.cpu_s / bb.single.cpu;
  // Growth with steps: run 2 against run 1, and within run 2 its last quarter against its first
  // (after run 1 the allocator's caches are warm, so the latter isolates growth with steps).
  const bool flat = b.rss_peak_sampled <= a.rss_peak_sampled * 1.10 + 16.0;
  const bool flat_within = b.rss_peak_quarter[3] <= b.rss_peak_quarter[0] * 1.05 + 8.0;
  std::cout << "\n== summary (load average now " << loadavg() << ")\n"
            << "  samples/s: " << fixed(rate_a) << " (" << o.steps << " steps), " << fixed(rate_b)
            << " (" << 4 * o.steps << " steps)\n"
            << "  wall vs raw imread x " << o.workers << ": "
            << fixed(100.0 * rate_a / (ba.single.wall * o.workers)) << "%, "
            << fixed(100.0 * rate_b / (bb.single.wall * o.workers)) << "% (target >= 90%)\n"
            << "  CPU efficiency vs raw imread: " << fixed(100.0 * eff_a) << "%, "
            << fixed(100.0 * eff_b) << "%\n"
            << "  sampled peak RSS MiB: " << fixed(a.rss_peak_sampled) << " -> "
            << fixed(b.rss_peak_sampled)
            << " with 4x the steps: " << (flat ? "flat" : "GROWS (more than 10% + 16 MiB)") << "\n"
            << "  within run 2, peak of first -> last quarter: " << fixed(b.rss_peak_quarter[0])
            << " -> " << fixed(b.rss_peak_quarter[3]) << ": "
            << (flat_within ? "flat" : "GROWS (more than 5% + 8 MiB)") << "\n"
            << "  ru_maxrss MiB after run 1 / run 2: " << fixed(a.ru_maxrss_after) << " / "
            << fixed(b.ru_maxrss_after) << "\n";
  const auto busy_per_sample = [](const RunResult& r, const std::string& stage) {
    for (const auto& st : r.stats) {
      if (st.name == stage) return st.busy_s / static_cast<double>(r.samples);
    }
    return 0.0;
  };
  const double rate_c = static_cast<double>(c.samples) / c.wall_s;
  std::cout << "  raw 8-bit vs float micro-batches (run 3 vs run 2, " << 4 * o.steps
            << " steps each):\n"
            << "    samples/s " << fixed(rate_c) << " vs " << fixed(rate_b) << ": "
            << fixed(100.0 * rate_c / rate_b) << "%\n"
            << "    bytes per sample delivered " << fixed(c.float_bytes / c.samples / kMB, 2)
            << " MB vs " << fixed(b.float_bytes / b.samples / kMB, 2)
            << " MB: " << fixed(100.0 * (c.float_bytes / c.samples) / (b.float_bytes / b.samples))
            << "%\n"
            << "    CPU-s per sample " << fixed(1000.0 * c.cpu_s / c.samples, 2) << " ms vs "
            << fixed(1000.0 * b.cpu_s / b.samples, 2)
            << " ms: " << fixed(100.0 * (c.cpu_s / c.samples) / (b.cpu_s / b.samples)) << "%\n"
            << "    batch busy per sample " << fixed(1000.0 * busy_per_sample(c, "batch"), 3)
            << " ms vs " << fixed(1000.0 * busy_per_sample(b, "batch"), 3)
            << " ms: " << fixed(100.0 * busy_per_sample(c, "batch") / busy_per_sample(b, "batch"))
            << "%\n";
  host_conversion(o);
  return 0;
}

}  // namespace
}  // namespace vsr

int main(int argc, char** argv) {
  try {
    return vsr::run(vsr::parse_args(argc, argv));
  } catch (const std::invalid_argument& e) {
    std::cerr << "data_bench: " << e.what() << "\n";
    vsr::usage(std::cerr);
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "data_bench: " << e.what() << "\n";
    return 1;
  }
}
