// check_report: the sink of the dataset check (scan -> check_pair -> check_report). Collects
// PairChecks (sizes and problems only, no pixels). When the run completes it prints one line
// per format and for the validation images, then either
//
//   dataset OK: 10 pairs in 2 formats, 2 validation images
//
// or throws a DataError listing every problem, grouped by kind, in scan order, so the run
// fails with all of them at once:
//
//   3 problems in 10 pairs in 2 formats, 2 validation images:
//   wrong LR stack size (1):
//     - Wrong frame count in LR stack /data/.../LR_7frames/0001.png: expected 180x1260 ...
//   wrong GT size (1): ...
//
// With `report` set it first writes the same as JSON there (atomically): {"ok", "complete",
// "pairs", "val_images", "problem_count", "formats": [{format, pairs, with_problems, bits}],
// "problems": [{kind, message, format, gt, lr, seq}], "notes": [...]}. After a stop it prints
// what was checked so far and does not throw. Every progress_s seconds it prints a progress
// line to stderr (0: never).
//
//   {"name": "report", "type": "check_report",
//    "params": {"report": "check.json", "progress_s": 10}}
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/stage.h"
#include "stages/data/messages.h"

namespace vsr {

class CheckReportStage : public Stage {
 public:
  static StageSchema schema();
  explicit CheckReportStage(const StageContext& ctx);
  void process(std::size_t port, const Message& in, Emitter& out) override;
  void close(bool completed) override;

 private:
  struct FormatTally {
    std::string name;
    bool val = false;
    std::int64_t checked = 0;
    std::int64_t with_problems = 0;
    std::map<int, std::int64_t> bits;  // bit depth -> files
  };

  StageContext ctx_;
  std::string report_path_;
  double progress_s_;
  std::chrono::steady_clock::time_point last_progress_;
  std::map<int, FormatTally> formats_;                   // by format_index
  std::vector<std::shared_ptr<const PairCheck>> found_;  // with problems or notes
  std::int64_t checked_ = 0;
  std::int64_t problem_count_ = 0;
};

}  // namespace vsr
