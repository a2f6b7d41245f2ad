// frame_writer: writes the upscaled frames through ClipWriter (runtime/data/video.h): into a
// video file when `dir` has a video extension (codec by extension: .mp4/.m4v/.mov MPEG-4,
// .avi Motion JPEG, .mkv lossless FFV1, .webm VP8; at the input's frame rate unless fps is
// set; written under a temporary name and renamed when the job ends, so the real name never
// holds a partial video), else as <dir>/<name>.png (8-bit RGB, each through a temporary name
// and a rename, so an interrupted job leaves whole files only); creates the folder. Frames are
// written in index order (any that arrive early wait). A failed write fails the job, naming the
// file; after a failure elsewhere the partial video is removed, after a stop (Ctrl-C) it is
// finished with the frames written so far. Prints progress to stderr: frames written, frames/s
// and ETA, redrawn on one line on a terminal, else a line per progress_interval frames.
//
//   {"name": "frame_writer", "type": "frame_writer",
//    "params": {"dir": "/footage/episode01_x3.mkv", "fps": 0, "progress": "auto"}}
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "graph/stage.h"

namespace vsr {

class ClipWriter;
struct UpscaledFrame;

class FrameWriterStage : public Stage {
 public:
  static StageSchema schema();
  explicit FrameWriterStage(const StageContext& ctx);
  ~FrameWriterStage() override;
  void open() override;
  void process(std::size_t port, const Message& in, Emitter& out) override;
  void close(bool completed) override;

  // "frame 120/1440 (8%) | 3.2 frames/s | ETA 0:06:52" (total < 0 or below done: unknown).
  static std::string progress_line(std::int64_t done, std::int64_t total, double seconds);

 private:
  void write(const UpscaledFrame& frame);
  // Prints the progress line when due (`last`: always).
  void report(bool last);

  std::filesystem::path output_;
  double fps_;
  std::string progress_;  // "auto" resolved: "live", "lines" or "off"
  std::int64_t interval_;
  std::unique_ptr<ClipWriter> writer_;
  std::map<std::int64_t, std::shared_ptr<const UpscaledFrame>> early_;  // by index
  std::int64_t next_ = 0;
  std::int64_t total_ = -1;    // the input's frame count, as the frames carry it
  std::int64_t reported_ = 0;  // frames in the last line printed
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool line_shown_ = false;
};

}  // namespace vsr
