// TensorBoard event files: TFRecord framing (little-endian length, masked CRC32C of the
// length and of the data) around Event protobufs. A file starts with a file_version event.
//
//   TensorBoardWriter tb("experiments/x/tensorboard");
//   tb.add_scalar("train/loss", 0.031f, /*step=*/100);
//   tb.add_image("val/pred_000", png_bytes, height, width, 100);
//   tb.flush();
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace vsr {

// CRC32C (Castagnoli), as TFRecord uses it, and its masked form.
std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0);
std::uint32_t masked_crc32c(const void* data, std::size_t size);

class TensorBoardWriter {
 public:
  // Creates `dir` and events.out.tfevents.<unix time>.<host> in it.
  explicit TensorBoardWriter(const std::filesystem::path& dir);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  void add_scalar(const std::string& tag, float value, std::int64_t step);
  // `png` is an encoded PNG of an RGB image of the given size.
  void add_image(const std::string& tag, const std::string& png, int height, int width,
                 std::int64_t step);
  // A SessionLog START at `step`: TensorBoard then hides the events of steps >= step that
  // were logged before (PyTorch's SummaryWriter(purge_step=step)); for resumed runs.
  void add_session_start(std::int64_t step);
  void flush();
  const std::filesystem::path& path() const { return path_; }

 private:
  void write_record(const std::string& data);

  std::filesystem::path path_;
  std::ofstream out_;
};

// One value read back from an event file.
struct EventRecord {
  double wall_time = 0;
  std::int64_t step = 0;
  std::string file_version;    // set on the first event
  bool session_start = false;  // a SessionLog START (add_session_start)
  std::string tag;
  bool has_scalar = false;
  float scalar = 0;
  bool has_image = false;
  int image_height = 0;
  int image_width = 0;
  std::string image_png;
};

// Reads every record of an event file, checking both CRCs of each; throws DataError naming
// the file and the record offset on a bad CRC or a truncated record. One EventRecord per
// summary value (plus one for the file_version event).
std::vector<EventRecord> read_event_file(const std::filesystem::path& path);

}  // namespace vsr
