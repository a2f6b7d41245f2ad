// patches: picks, per window and format, `patches_per_window` crops of the format's GT size,
// the same rectangle in all 7 frames: at seeded random positions (from the seed, the clip,
// the window and the patch number only, so a rerun picks the same ones) or spread on a grid.
// Crops whose detail is below `min_detail` (the standard deviation of the centre frame's luma
// in the crop, 0..255: flat sky, black borders score under 3) are rejected and counted; a
// format larger than the frames is skipped with a note. At the end it prints the counts.
//
//   {"name": "patches", "type": "patches", "concurrency": 4,
//    "params": {"patches_per_window": 4, "placement": "random", "min_detail": 6}}
//
// with formats, scale and seed in the spec's "shared" values.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "graph/stage.h"

namespace vsr {

class PatchesStage : public Stage {
 public:
  static StageSchema schema();
  explicit PatchesStage(const StageContext& ctx);
  void process(std::size_t port, const Message& in, Emitter& out) override;
  void close(bool completed) override;

 private:
  std::string name_;
  std::vector<std::string> formats_;
  int scale_;
  std::uint64_t seed_;
  int per_window_;
  bool grid_;
  double min_detail_;
  std::atomic<std::int64_t> kept_{0};
  std::atomic<std::int64_t> flat_{0};
  std::mutex mutex_;
  std::set<std::string> notes_;  // formats skipped, per clip
};

}  // namespace vsr
