// Clips: video files and folders of numbered frames, read and written frame by frame, and
// the scene-cut detector shared by the conversion job and upscaling.
//
//   ClipReader clip("street.mp4");              // or a folder of 0000.png, 0001.png, ...
//   SceneCutDetector cuts;
//   for (cv::Mat f; clip.read(f);) { if (cuts.is_cut(f)) ...; }
//
// Frames are BGR, CV_8UC3 for videos (OpenCV's FFmpeg backend decodes 8-bit) and as
// read_image_bgr decodes them (8- or 16-bit) for frame folders. Every clip error is a
// DataError naming the file: missing, unreadable or empty, frames that change size, two
// frame files with one name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace vsr {

// File extensions read as videos (lower case, with the dot): .mp4 .mkv .mov .avi .webm .m4v.
bool is_video_file(const std::filesystem::path& path);

// The clips that `patterns` name, in order, each once: a video file, a folder of frames, or a
// glob over either ("footage/*.mp4", "clips/*/"; `*` and `?` in the last path component).
// Throws DataError naming the pattern when it matches nothing.
std::vector<std::filesystem::path> expand_clip_sources(const std::vector<std::string>& patterns);

class ClipReader {
 public:
  // Opens a video file or a frame folder (its PNG/JPEG files in name order) and decodes its
  // first frame (for size()). Throws DataError when it does not exist, cannot be opened, has
  // no frames, or (a folder) holds two files with one stem: their outputs would collide.
  explicit ClipReader(const std::filesystem::path& path);
  ~ClipReader();
  ClipReader(const ClipReader&) = delete;
  ClipReader& operator=(const ClipReader&) = delete;

  // The next frame into `frame` (always a new buffer: frames read earlier may be kept); false
  // at the end. Throws DataError when a frame cannot be decoded or has another size than the
  // first.
  bool read(cv::Mat& frame);

  const std::filesystem::path& path() const { return path_; }
  // The clip's name for output files: the file stem, or the folder's name.
  std::string name() const;
  bool is_video() const { return video_; }
  double fps() const { return fps_; }                  // 0 when unknown (frame folders)
  std::int64_t frame_count() const { return count_; }  // an estimate for videos; -1 unknown
  cv::Size size() const { return size_; }              // of the first frame
  std::int64_t frames_read() const { return read_; }
  // The stem of the frame last read: the file's for folders, "%06d" of its index for videos.
  std::string frame_name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::filesystem::path path_;
  bool video_ = false;
  double fps_ = 0;
  std::int64_t count_ = -1;
  cv::Size size_;
  std::int64_t read_ = 0;
};

// Writes a video file (codec by extension, see video_codec) or, for a path without a video
// extension, a folder of <name>.png frames (8-bit). A video goes to a temporary name in the
// same folder that keeps the extension (.clip_x3.mp4.tmp-<pid>.mp4: FFmpeg picks the
// container by it) and is renamed by close(), so the real name never holds a partial file;
// frames are written atomically one by one. Videos need even frame sides (OpenCV's FFmpeg
// writer would silently drop an odd last column or row). Throws OutputError naming the path
// when it cannot be written (the folder, the backend refusing the file, an odd or changing
// frame size) and DataError for an extension of a video format it does not write (.mpg, ...).
class ClipWriter {
 public:
  // fps: of a video (<= 0, unknown as for a frame folder: kDefaultFps); creates the folder.
  ClipWriter(const std::filesystem::path& path, double fps);
  ~ClipWriter();  // without close(): the partial video is removed
  ClipWriter(const ClipWriter&) = delete;
  ClipWriter& operator=(const ClipWriter&) = delete;
  static constexpr double kDefaultFps = 25.0;

  // img: CV_32FC3 RGB in [0, 1] or CV_8UC3 BGR; every frame of one size. `name`: the PNG's
  // stem in a folder (unused for videos).
  void write(const cv::Mat& img, const std::string& name);
  // Finishes the video and renames it to its real name (a video without frames leaves no file).
  void close();
  bool is_video() const;
  std::int64_t frames_written() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The FourCC written for a video extension: .mp4/.m4v/.mov "mp4v" (MPEG-4 part 2), .avi
// "MJPG", .mkv "FFV1" (lossless), .webm "VP80" (FFmpeg warns that the tag is not WebM's and
// writes VP8 anyway). Each was checked to open, write and read back with Debian 12's OpenCV
// 4.6 and FFmpeg 5.1. Throws DataError listing the extensions for another one.
std::string video_codec(const std::filesystem::path& path);

// The output path names a video format ClipWriter does not write (.mpg, .ts, .flv, .wmv,
// ...): it would otherwise become a folder of that name. "" when fine, else the problem.
std::string unwritable_video_problem(const std::filesystem::path& path);

// A scene cut between consecutive frames: the mean absolute difference of their luma, both
// area-downscaled to 64x36, on a 0..255 scale, above `threshold` (default 30: a hard cut in
// real footage scores 40-100, motion within a shot 2-15). Feed every frame in order: BGR or
// gray, 8-bit, 16-bit (scaled to 0..255) or float in [0, 1].
class SceneCutDetector {
 public:
  explicit SceneCutDetector(double threshold = 30.0) : threshold_(threshold) {}
  // The measure between `frame` and the previous frame fed (0 for the first).
  double difference(const cv::Mat& frame);
  // difference(frame) > threshold.
  bool is_cut(const cv::Mat& frame) { return difference(frame) > threshold_; }
  void reset() { previous_.release(); }
  double threshold() const { return threshold_; }

 private:
  double threshold_;
  cv::Mat previous_;  // 64x36 luma, CV_32F
};

}  // namespace vsr
