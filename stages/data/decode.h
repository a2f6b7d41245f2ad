// decode: reads a request's GT and LR stack with OpenCV (PNG or JPEG, 8- or 16-bit, alpha
// dropped) as OpenCV decodes them: BGR, 8- or 16-bit (batch converts to float RGB, so the
// stages between move a quarter of the bytes). Stateless but for the bad-sample count, so it
// runs with concurrency = DATA.num_workers.
//
// A bad sample (a file that cannot be read, a GT or LR stack of the wrong size):
//   on_bad_sample "fail" (the default) ends the run naming the file and the problem (split
//   checks the sizes);
//   "skip" checks the sizes here as split will, and replaces a bad pair with another pair of the
//   same format, picked from the request's seed (the same replacement in every run), counts it,
//   lists the bad files when the run ends, and ends the run once more than max_bad_fraction of the
//   samples seen are bad (counted over at least kMinSamplesForFraction samples, so one bad file
//   early does not end a run).
//
// cache_mb > 0 keeps decoded pairs in memory, up to that many MiB (DATA.cache_mb): a pair read
// once is never read or decoded again; its pixels are shared by every sample made from it (the
// stages downstream only take views and out-of-place copies of them). Pairs are kept in the
// order they are first read until the budget is full, and never evicted: the sampler visits a
// format's files in a shuffled order without replacement, so no eviction order would hit more.
//
//   {"name": "decode", "type": "decode", "concurrency": 4,
//    "params": {"on_bad_sample": "skip", "max_bad_fraction": 0.01, "cache_mb": 4096}}
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "graph/stage.h"

namespace vsr {

struct DecodedSample;
struct SampleRequest;

class DecodeStage : public Stage {
 public:
  static constexpr std::int64_t kMinSamplesForFraction = 100;
  // Replacement pairs tried for one bad sample before the run ends.
  static constexpr int kMaxReplacementTries = 16;

  static StageSchema schema();
  explicit DecodeStage(const StageContext& ctx);
  void process(std::size_t port, const Message& in, Emitter& out) override;
  void close(bool completed) override;

 private:
  // Records a bad file; throws when the bad fraction is exceeded.
  void count_bad(const std::string& file, const std::string& problem);
  // Waits while a CPU micro-batch computes (TRAINING.pause_data), counting the time.
  void pause_for_step();
  // The pair of `r`, from the cache or read (and kept when it fits).
  std::shared_ptr<DecodedSample> read(std::shared_ptr<const SampleRequest> r, bool check_sizes);

  bool skip_;
  double max_bad_fraction_;
  std::size_t cache_budget_ = 0;  // bytes; 0: no cache
  struct Pixels;                  // a cached pair's decoded GT and LR stack
  std::shared_mutex cache_mutex_;
  std::unordered_map<std::string, std::shared_ptr<const Pixels>> cache_;  // by GT + LR path
  std::size_t cache_bytes_ = 0;
  std::atomic<std::int64_t> cache_hits_{0};
  std::atomic<std::int64_t> paused_ns_{0};  // waiting for micro-batches (pause_data)
  std::mutex mutex_;
  std::int64_t seen_ = 0;
  std::int64_t bad_ = 0;
  std::map<std::string, std::string> bad_files_;  // file -> its problem
};

}  // namespace vsr
