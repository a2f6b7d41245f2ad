#include "runtime/data/video.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <stdexcept>
#include <system_error>

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "common/errors.h"
#include "common/validation.h"
#include "runtime/data/dataset.h"
#include "runtime/data/image.h"

namespace vsr {

namespace fs = std::filesystem;

namespace {

const char kVideoExtensions[] = ".mp4 .mkv .mov .avi .webm .m4v";
const char kWritableVideos[] =
    ".mp4, .m4v or .mov (MPEG-4), .avi (Motion JPEG), .mkv (lossless FFV1) or .webm (VP8)";
const char kClipContents[] =
    "give a video file (.mp4 .mkv .mov .avi .webm .m4v) or a folder of frames (PNG or JPEG "
    "files whose names sort in frame order, e.g. 0000.png, 0001.png, ...)";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string extension(const fs::path& path) { return lower(path.extension().string()); }

// `name` matches `pattern` with `*` (any run) and `?` (one character).
bool glob_match(const std::string& pattern, const std::string& name) {
  std::size_t p = 0, n = 0, star = std::string::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool has_wildcard(const std::string& s) { return s.find_first_of("*?") != std::string::npos; }

// The path without trailing separators ("clips/*/" -> "clips/*"), and whether it had one.
std::string strip_trailing_slashes(std::string s, bool* had) {
  *had = false;
  while (s.size() > 1 && s.back() == '/') {
    s.pop_back();
    *had = true;
  }
  return s;
}

// Flushes a finished file to disk before it is renamed, as write_file_atomic does.
void sync_file(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

std::string fps_text(double fps) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", fps);
  return buf;
}

}  // namespace

bool is_video_file(const fs::path& path) {
  static const std::set<std::string> kExtensions = {".mp4", ".mkv",  ".mov",
                                                    ".avi", ".webm", ".m4v"};
  return kExtensions.count(extension(path)) > 0;
}

std::vector<fs::path> expand_clip_sources(const std::vector<std::string>& patterns) {
  std::vector<fs::path> out;
  std::set<fs::path> seen;
  const auto add = [&](const fs::path& p) {
    if (seen.insert(p.lexically_normal()).second) out.push_back(p);
  };
  for (const std::string& pattern : patterns) {
    bool dirs_only = false;
    const std::string text = strip_trailing_slashes(pattern, &dirs_only);
    const fs::path path(text);
    std::error_code ec;
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
    if (has_wildcard(dir.string()) && !fs::exists(path, ec)) {
      throw DataError("clip source " + pattern +
                          ": wildcards (* ?) work in the last part of a path only; list the "
                          "folders or use a pattern such as clips/*.mp4",
                      pattern);
    }
    if (!has_wildcard(path.filename().string())) {
      const auto status = fs::status(path, ec);
      if (fs::is_directory(status) || (fs::is_regular_file(status) && is_video_file(path))) {
        add(path);
        continue;
      }
      if (fs::exists(status)) {
        throw DataError("clip source " + pattern + " is neither a video file (" + kVideoExtensions +
                            ") nor a folder of frames; " + kClipContents,
                        pattern);
      }
      throw DataError("clip source " + pattern + " does not exist; " + kClipContents, pattern);
    }
    if (!fs::is_directory(dir, ec)) {
      throw DataError("clip source " + pattern + " matches nothing: folder " + dir.string() +
                          " does not exist; check the path",
                      pattern);
    }
    const std::string wanted = path.filename().string();
    std::vector<fs::path> matches;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const fs::path& p = it->path();
      const std::string name = p.filename().string();
      if (name.empty() || (name[0] == '.' && wanted[0] != '.') || !glob_match(wanted, name)) {
        continue;
      }
      std::error_code e2;
      const bool is_dir = fs::is_directory(p, e2);
      if (is_dir || (!dirs_only && fs::is_regular_file(p, e2) && is_video_file(p))) {
        matches.push_back(path.has_parent_path() ? p : fs::path(name));
      }
    }
    if (ec) {
      throw DataError(
          "clip source " + pattern + ": cannot list " + dir.string() + ": " + ec.message(),
          pattern);
    }
    if (matches.empty()) {
      throw DataError("clip source " + pattern + " matches no " +
                          (dirs_only ? std::string("folder")
                                     : "video file (" + std::string(kVideoExtensions) +
                                           ") or folder of frames") +
                          " in " + dir.string() +
                          "; check the pattern (quote it so the shell does not expand it)",
                      pattern);
    }
    std::sort(matches.begin(), matches.end());
    for (const auto& m : matches) add(m);
  }
  return out;
}

struct ClipReader::Impl {
  cv::VideoCapture capture;     // videos
  std::vector<fs::path> files;  // frame folders, name order
  cv::Mat first;                // decoded by the constructor, returned by the first read()
};

ClipReader::ClipReader(const fs::path& path) : impl_(std::make_unique<Impl>()), path_(path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  const std::string where = path.string();
  if (!fs::exists(status)) {
    throw DataError((is_video_file(path) ? "video " : "frame folder ") + where +
                        " does not exist; check the path (" + kClipContents + ")",
                    where);
  }
  if (fs::is_directory(status)) {
    impl_->files = list_images(path);
    if (impl_->files.empty()) {
      throw DataError("frame folder " + where + " has no images; " + kClipContents, where);
    }
    std::map<std::string, fs::path> stems;
    for (const auto& f : impl_->files) {
      auto [it, fresh] = stems.emplace(f.stem().string(), f);
      if (!fresh) {
        throw DataError("frame folder " + where + " holds " + it->second.filename().string() +
                            " and " + f.filename().string() +
                            ": one name, two files (both would be written as " + it->first +
                            ".png); keep one of them",
                        where);
      }
    }
    impl_->first = read_image_bgr(impl_->files.front());
    count_ = static_cast<std::int64_t>(impl_->files.size());
  } else if (is_video_file(path)) {
    video_ = true;
    bool opened = false;
    try {
      opened = impl_->capture.open(where, cv::CAP_FFMPEG) && impl_->capture.isOpened();
    } catch (const cv::Exception& e) {
      throw DataError("cannot open video " + where + ": " + e.what(), where);
    }
    if (!opened) {
      throw DataError("cannot open video " + where +
                          ": OpenCV's FFmpeg backend cannot decode it (corrupt, truncated or "
                          "not a video); check the file (ffprobe " +
                          where + ") or give another clip",
                      where);
    }
    if (!impl_->capture.read(impl_->first) || impl_->first.empty()) {
      throw DataError("video " + where +
                          " has no frames that OpenCV's FFmpeg backend can decode (empty or "
                          "truncated); check the file (ffprobe " +
                          where + ")",
                      where);
    }
    const double fps = impl_->capture.get(cv::CAP_PROP_FPS);
    fps_ = std::isfinite(fps) && fps > 0 ? fps : 0;
    const double count = impl_->capture.get(cv::CAP_PROP_FRAME_COUNT);
    count_ =
        std::isfinite(count) && count >= 1 ? static_cast<std::int64_t>(std::llround(count)) : -1;
  } else {
    throw DataError("clip " + where + " is neither a video file (" + kVideoExtensions +
                        ") nor a folder of frames; " + kClipContents,
                    where);
  }
  size_ = impl_->first.size();
}

ClipReader::~ClipReader() = default;

bool ClipReader::read(cv::Mat& frame) {
  cv::Mat next;  // a fresh buffer: the caller may still hold the previous frame
  std::string file;
  if (read_ == 0) {
    next = impl_->first;
    impl_->first.release();
    file = video_ ? path_.string() : impl_->files.front().string();
  } else if (video_) {
    try {
      if (!impl_->capture.read(next) || next.empty()) return false;
    } catch (const cv::Exception& e) {
      throw DataError("cannot decode frame " + std::to_string(read_) + " of video " +
                          path_.string() + ": " + e.what(),
                      path_.string());
    }
    file = path_.string();
  } else {
    const auto i = static_cast<std::size_t>(read_);
    if (i >= impl_->files.size()) return false;
    next = read_image_bgr(impl_->files[i]);
    file = impl_->files[i].string();
  }
  if (next.size() != size_) {
    const std::string which =
        video_ ? "frame " + std::to_string(read_) + " of video " + file : "frame " + file;
    throw DataError(which + " is " + size_text(next.size()) + " but the clip's first frame is " +
                        size_text(size_) +
                        "; every frame of a clip must have one size: resize or remove it",
                    file);
  }
  frame = next;
  ++read_;
  return true;
}

std::string ClipReader::name() const {
  std::error_code ec;
  fs::path p = fs::absolute(path_, ec).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return video_ ? p.stem().string() : p.filename().string();
}

std::string ClipReader::frame_name() const {
  if (read_ == 0) return "";
  if (!video_) return impl_->files[static_cast<std::size_t>(read_ - 1)].stem().string();
  return zero_padded(read_ - 1, 6);
}

std::string video_codec(const fs::path& path) {
  const std::string ext = extension(path);
  if (ext == ".mp4" || ext == ".m4v" || ext == ".mov") return "mp4v";
  if (ext == ".avi") return "MJPG";
  if (ext == ".mkv") return "FFV1";
  if (ext == ".webm") return "VP80";
  throw DataError("cannot write a video as " + path.string() + ": " +
                      (ext.empty() ? std::string("no extension") : ext) +
                      " is not a video extension vsr_flow writes; use " + kWritableVideos,
                  path.string());
}

std::string unwritable_video_problem(const fs::path& path) {
  static const std::set<std::string> kOther = {".mpg", ".mpeg", ".ts",  ".m2ts", ".mts",
                                               ".flv", ".wmv",  ".3gp", ".ogv",  ".vob",
                                               ".gif", ".mxf",  ".asf", ".y4m"};
  const std::string ext = extension(path);
  if (!kOther.count(ext)) return "";
  return "cannot write " + path.string() + ": " + ext +
         " videos are not written by vsr_flow; use " + kWritableVideos +
         ", or a folder (a path without a video extension) for PNG frames";
}

struct ClipWriter::Impl {
  fs::path path;
  bool video = false;
  double fps = kDefaultFps;
  std::string codec;
  fs::path temp;  // the video until close()
  cv::VideoWriter writer;
  cv::Size size;
  std::int64_t written = 0;
  bool finished = false;

  void open_video(cv::Size frame) {
    const std::string where = path.string();
    if (frame.width % 2 != 0 || frame.height % 2 != 0) {
      throw OutputError("cannot write video " + where + ": its frames are " + size_text(frame) +
                            " and a " + codec +
                            " video stores even sides only (OpenCV's FFmpeg writer would drop "
                            "the odd last column or row); make both sides even (crop the input "
                            "by one pixel) or write a frame folder (a path without a video "
                            "extension)",
                        where);
    }
    bool opened = false;
    std::string cause;
    try {
      opened = writer.open(temp.string(), cv::CAP_FFMPEG,
                           cv::VideoWriter::fourcc(codec[0], codec[1], codec[2], codec[3]), fps,
                           frame, /*isColor=*/true) &&
               writer.isOpened();
    } catch (const cv::Exception& e) {
      cause = std::string(" (") + e.what() + ")";
    }
    if (!opened) {
      std::error_code ec;
      fs::remove(temp, ec);
      throw OutputError("cannot write video " + where +
                            ": OpenCV's FFmpeg backend could not open a " + codec + " writer (" +
                            size_text(frame) + " at " + fps_text(fps) + " fps) on " +
                            temp.string() + cause +
                            "; check that the folder is writable and has space, or use another "
                            "extension (" +
                            kWritableVideos + ") or a frame folder",
                        where);
    }
    size = frame;
  }

  void discard() {
    if (writer.isOpened()) writer.release();
    if (!temp.empty()) {
      std::error_code ec;
      fs::remove(temp, ec);
    }
  }
};

ClipWriter::ClipWriter(const fs::path& path, double fps) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.path = path;
  if (std::isfinite(fps) && fps > 0) m.fps = fps;
  const std::string where = path.string();
  if (const std::string problem = unwritable_video_problem(path); !problem.empty()) {
    throw DataError(problem, where);
  }
  std::error_code ec;
  if (is_video_file(path)) {
    m.video = true;
    m.codec = video_codec(path);
    if (fs::is_directory(path, ec)) {
      throw OutputError("cannot write video " + where +
                            ": a folder of that name exists; remove it or give another name",
                        where);
    }
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir)) {
      throw OutputError("cannot write video " + where + ": cannot create its folder " +
                            dir.string() + (ec ? ": " + ec.message() : std::string()),
                        where);
    }
    m.temp = dir / ("." + path.filename().string() + ".tmp-" + std::to_string(::getpid()) +
                    path.extension().string());
  } else {
    fs::create_directories(path, ec);
    if (ec || !fs::is_directory(path)) {
      throw OutputError(
          "cannot write frames into " + where +
              (fs::exists(path) && !fs::is_directory(path)
                   ? ": it exists and is not a folder; give a folder, or a video "
                     "file name ending in a video extension"
                   : ": cannot create the folder" + (ec ? ": " + ec.message() : std::string())),
          where);
    }
  }
}

ClipWriter::~ClipWriter() {
  if (impl_ && !impl_->finished) impl_->discard();
}

bool ClipWriter::is_video() const { return impl_->video; }
std::int64_t ClipWriter::frames_written() const { return impl_->written; }

void ClipWriter::write(const cv::Mat& img, const std::string& name) {
  Impl& m = *impl_;
  if (m.finished) throw std::logic_error("ClipWriter::write after close() on " + m.path.string());
  if (img.empty() || (img.type() != CV_32FC3 && img.type() != CV_8UC3)) {
    throw std::invalid_argument("ClipWriter::write(" + m.path.string() +
                                "): expected CV_32FC3 RGB or CV_8UC3 BGR, got OpenCV type " +
                                std::to_string(img.type()));
  }
  if (!m.video) {
    const fs::path file = m.path / (name + ".png");
    cv::Mat rgb;  // a new buffer: the caller's image stays as it is
    if (img.type() == CV_8UC3) {
      cv::cvtColor(img, rgb, cv::COLOR_BGR2RGB);
    } else {
      rgb = img;
    }
    try {
      write_png_atomic(file, rgb);
    } catch (const DataError& e) {
      throw OutputError(std::string("cannot write frame ") + file.string() + ": " + e.what() +
                            "; check that the folder is writable and has space",
                        file.string());
    }
    ++m.written;
    return;
  }
  if (!m.writer.isOpened()) {
    m.open_video(img.size());
  } else if (img.size() != m.size) {
    throw OutputError("cannot write frame " + name + " into video " + m.path.string() + ": it is " +
                          size_text(img.size()) + " but the video's frames are " +
                          size_text(m.size) + "; every frame of a video has one size",
                      m.path.string());
  }
  if (img.type() == CV_32FC3) {
    cv::Mat bytes, bgr;
    img.convertTo(bytes, CV_8U, 255.0);  // saturating and rounding
    cv::cvtColor(bytes, bgr, cv::COLOR_RGB2BGR);
    m.writer.write(bgr);
  } else {
    m.writer.write(img);
  }
  ++m.written;
}

void ClipWriter::close() {
  Impl& m = *impl_;
  if (m.finished) return;
  if (!m.video || !m.writer.isOpened()) {
    m.finished = true;
    return;
  }
  m.writer.release();
  const std::string where = m.path.string();
  std::error_code ec;
  const auto bytes = fs::file_size(m.temp, ec);
  if (ec || bytes == 0) {
    m.discard();
    throw OutputError("cannot write video " + where + ": the encoder left no data in " +
                          m.temp.string() + "; check that the disk has space",
                      where);
  }
  sync_file(m.temp);
  fs::rename(m.temp, m.path, ec);
  if (ec) {
    m.discard();
    throw OutputError("cannot write video " + where + ": renaming " + m.temp.string() +
                          " failed: " + ec.message(),
                      where);
  }
  m.finished = true;
}

double SceneCutDetector::difference(const cv::Mat& frame) {
  if (frame.empty()) throw std::invalid_argument("SceneCutDetector: empty frame");
  cv::Mat gray;
  switch (frame.channels()) {
    case 1:
      gray = frame;
      break;
    case 3:
      cv::cvtColor(frame, gray, cv::COLOR_BGR2GRAY);
      break;
    case 4:
      cv::cvtColor(frame, gray, cv::COLOR_BGRA2GRAY);
      break;
    default:
      throw std::invalid_argument("SceneCutDetector: expected 1, 3 or 4 channels, got " +
                                  std::to_string(frame.channels()));
  }
  double to_255 = 1.0;
  if (gray.depth() == CV_16U) to_255 = 255.0 / 65535.0;
  if (gray.depth() == CV_32F || gray.depth() == CV_64F) to_255 = 255.0;
  cv::Mat luma;
  gray.convertTo(luma, CV_32F, to_255);
  cv::Mat small;
  cv::resize(luma, small, cv::Size(64, 36), 0, 0, cv::INTER_AREA);
  double d = 0;
  if (!previous_.empty()) d = cv::norm(small, previous_, cv::NORM_L1) / small.total();
  previous_ = small;
  return d;
}

}  // namespace vsr
