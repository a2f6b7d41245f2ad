// dataset_writer: the sink of the conversion job (concurrent: it encodes the PNGs). Writes each
// sample as the spec's layout wants it, every file through a temporary name and a rename:
//
//   <output_root>/<category root>/<format folder>/GT/<clip>_<frame>_<n>.png
//   <output_root>/<category root>/<format folder>/LR_5frames/<clip>_<frame>_<n>.png
//   <output_root>/<category root>/<format folder>/LR_7frames/<clip>_<frame>_<n>.png
//   <output_root>/<category root>/Val/GT/<clip>_<frame>.png      (held-out clips, whole frames
//                                                                 cropped to the scale)
//
// A sample whose three files all exist is not written again (a rerun after an interruption
// writes only what is missing; with the same config and seed it would write the same bytes).
// When the job completes it writes <category root>/manifest.jsonl, one JSON object per
// sample in name order ({"format", "name", "source", "clip", "frames": [first, last],
// "centre", "crop": [x, y, w, h], "blur_sigma", "noise_sigma", "jpeg_quality"} and, for
// validation frames, {"val": true, "name", "source", "clip", "frame"}), and the config that
// made it as convert_config.yaml, and prints what it wrote.
//
//   {"name": "writer", "type": "dataset_writer",
//    "params": {"output_root": "converted", "category": "general", "config": "..."}}
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>

#include "graph/stage.h"

namespace vsr {

class DatasetWriterStage : public Stage {
 public:
  static StageSchema schema();
  explicit DatasetWriterStage(const StageContext& ctx);
  void process(std::size_t port, const Message& in, Emitter& out) override;
  void close(bool completed) override;

 private:
  std::string name_;
  std::filesystem::path root_;  // <output_root>/<category root>
  std::string category_;
  int scale_;
  std::string config_;
  std::mutex mutex_;                             // concurrent: PNG encoding runs on several workers
  std::map<std::string, std::string> manifest_;  // sort key -> JSON line
  std::map<std::string, std::int64_t> written_;  // format (or "Val/GT") -> samples written
  std::int64_t val_written_ = 0;
  std::int64_t existing_ = 0;  // samples and validation frames found complete
};

}  // namespace vsr
