#include "stages/infer/frame_writer.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <system_error>

#include "graph/registry.h"
#include "runtime/data/video.h"
#include "stages/infer/messages.h"
#include "stages/sinks/progress.h"

namespace vsr {

namespace fs = std::filesystem;

namespace {

constexpr auto kRedrawPeriod = std::chrono::milliseconds(200);

std::string format(const char* fmt, double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, value);
  return buf;
}

// What is wrong with writing to `output`, or "" (the path rule of a creatable folder, for the
// folder a video goes into when it has a video extension).
std::string output_problem(const std::string& output) {
  if (std::string problem = unwritable_video_problem(output); !problem.empty()) return problem;
  std::error_code ec;
  const fs::path path(output);
  const bool video = is_video_file(path);
  if (video && fs::is_directory(path, ec)) {
    return "output video " + output + " is a folder; remove it or give another name";
  }
  if (!video && fs::exists(path, ec) && !fs::is_directory(path, ec)) {
    return "output " + output +
           " exists and is not a folder; give a folder for PNG frames or a video file name "
           "(.mp4 .mkv .mov .avi .webm .m4v)";
  }
  const fs::path target = video ? path.parent_path() : path;
  fs::path dir = fs::absolute(target.empty() ? fs::path(".") : target, ec);
  while (!dir.empty() && !fs::exists(dir, ec) && dir != dir.parent_path()) dir = dir.parent_path();
  if (!fs::is_directory(dir, ec)) {
    return "output " + output + " cannot be created: " + dir.string() + " is not a folder";
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    return "output " + output + " cannot be written: " + dir.string() + " is not writable";
  }
  return "";
}

}  // namespace

StageSchema FrameWriterStage::schema() {
  return StageSchema("frame_writer")
      .doc(
          "writes upscaled frames into a video file (by extension) or as <dir>/<name>.png, "
          "atomically; prints progress")
      .input<UpscaledFrame>("in")
      .required("dir", ParamType::kString,
                "output: a video file (.mp4/.m4v/.mov MPEG-4, .avi Motion JPEG, .mkv lossless "
                "FFV1, .webm VP8) or a folder of <name>.png frames (created when missing)")
      .non_empty()
      .optional("fps", ParamType::kFloat, 0.0,
                "frame rate of a video output; 0 = the input's (25 for a frame folder)")
      .at_least(0)
      .optional("progress", ParamType::kString, "auto",
                "progress on stderr: live (one redrawn line), lines (one per progress_interval "
                "frames), off, or auto (live on a terminal, else lines)")
      .choices({"auto", "live", "lines", "off"})
      .optional("progress_interval", ParamType::kInt, 100,
                "frames between progress lines (progress: lines)")
      .at_least(1)
      .check("the output is a format this build writes",
             [](const json& p, ParamProblems& out) {
               const std::string problem = unwritable_video_problem(p.at("dir").get<std::string>());
               if (!problem.empty()) out.add("dir", problem);
             })
      .world_check("the output can be written", [](const json& p, ParamProblems& out) {
        const std::string output = p.at("dir").get<std::string>();
        if (unwritable_video_problem(output).empty()) {
          if (const std::string problem = output_problem(output); !problem.empty()) {
            out.add("dir", problem);
          }
        }
      });
}

FrameWriterStage::FrameWriterStage(const StageContext& ctx)
    : output_(ctx.param<std::string>("dir")),
      fps_(ctx.param<double>("fps")),
      progress_(ctx.param<std::string>("progress")),
      interval_(ctx.param<std::int64_t>("progress_interval")) {
  if (progress_ == "auto") progress_ = ::isatty(STDERR_FILENO) == 1 ? "live" : "lines";
}

FrameWriterStage::~FrameWriterStage() = default;

void FrameWriterStage::open() {
  writer_.reset();
  early_.clear();
  next_ = 0;
  total_ = -1;
  reported_ = 0;
  line_shown_ = false;
}

std::string FrameWriterStage::progress_line(std::int64_t done, std::int64_t total, double seconds) {
  const bool known = total >= done && total > 0;
  std::string line = "frame " + std::to_string(done);
  if (known) {
    line += "/" + std::to_string(total) +
            format(" (%.0f%%)", 100.0 * static_cast<double>(done) / static_cast<double>(total));
  }
  const double rate = seconds > 0 && done > 1 ? static_cast<double>(done - 1) / seconds : -1;
  line += rate > 0 ? format(" | %.2f frames/s", rate) : std::string(" | - frames/s");
  if (known) {
    const double eta = done >= total ? 0 : rate > 0 ? static_cast<double>(total - done) / rate : -1;
    line += " | ETA " + ProgressStage::format_duration(eta);
  }
  return line;
}

void FrameWriterStage::report(bool last) {
  if (progress_ == "off" || next_ == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (progress_ == "live") {
    if (!last && now - last_draw_ < kRedrawPeriod) return;
  } else if (!last && next_ % interval_ != 0) {
    return;
  }
  last_draw_ = now;
  reported_ = next_;
  const std::string line =
      progress_line(next_, total_, std::chrono::duration<double>(now - start_).count());
  if (progress_ == "live") {
    std::cerr << "\r" << line << "\x1b[K" << std::flush;
    line_shown_ = true;
  } else {
    std::cerr << line << std::endl;
  }
}

void FrameWriterStage::write(const UpscaledFrame& frame) {
  if (!writer_) writer_ = std::make_unique<ClipWriter>(output_, fps_ > 0 ? fps_ : frame.clip.fps);
  writer_->write(frame.image, frame.name);
  if (next_ == 0) start_ = std::chrono::steady_clock::now();  // the rate counts from frame 1
  ++next_;
  total_ = frame.clip.frame_count;
  report(total_ > 0 && next_ == total_);
}

void FrameWriterStage::process(std::size_t, const Message& in, Emitter&) {
  auto frame = in.as<UpscaledFrame>();
  if (frame->index != next_) {
    early_.emplace(frame->index, std::move(frame));
    return;
  }
  write(*frame);
  for (auto it = early_.find(next_); it != early_.end(); it = early_.find(next_)) {
    write(*it->second);
    early_.erase(it);
  }
}

void FrameWriterStage::close(bool completed) {
  if (completed && reported_ != next_) report(/*last=*/true);  // the count was an estimate
  if (line_shown_) std::cerr << "\n" << std::flush;
  line_shown_ = false;
  early_.clear();
  if (!writer_) return;
  // A stop (Ctrl-C) also completes: the video is finished with the frames written so far.
  if (completed) writer_->close();
  writer_.reset();  // after a failure: removes the partial video
}

VSR_REGISTER_STAGE(FrameWriterStage);

}  // namespace vsr
