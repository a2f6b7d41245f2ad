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
//   {"name": "decode", "type": "decode", "concurrency": 4,
//    "params": {"on_bad_sample": "skip", "max_bad_fraction": 0.01}}
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "graph/stage.h"

namespace vsr {

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

  bool skip_;
  double max_bad_fraction_;
  std::mutex mutex_;
  std::int64_t seen_ = 0;
  std::int64_t bad_ = 0;
  std::map<std::string, std::string> bad_files_;  // file -> its problem
};

}  // namespace vsr
