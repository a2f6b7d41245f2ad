#include "runtime/outputs/tensorboard.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>

#include "common/errors.h"
#include "runtime/io/fileio.h"
#include "runtime/outputs/tensorboard.pb.h"

namespace vsr {

namespace {

const std::array<std::uint32_t, 256>& crc_table() {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_le(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc) {
  const auto& table = crc_table();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::uint32_t masked_crc32c(const void* data, std::size_t size) {
  const std::uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

TensorBoardWriter::TensorBoardWriter(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  const auto secs = static_cast<long long>(now_seconds());
  path_ = dir / ("events.out.tfevents." + std::to_string(secs) + "." + host);
  out_.open(path_, std::ios::binary | std::ios::app);
  if (!out_) throw DataError(path_.string() + ": cannot create the TensorBoard event file");
  tb::Event event;
  event.set_wall_time(now_seconds());
  event.set_file_version("brain.Event:2");
  write_record(event.SerializeAsString());
  flush();
}

TensorBoardWriter::~TensorBoardWriter() {
  if (out_.is_open()) out_.flush();
}

void TensorBoardWriter::add_scalar(const std::string& tag, float value, std::int64_t step) {
  tb::Event event;
  event.set_wall_time(now_seconds());
  event.set_step(step);
  auto* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(value);
  write_record(event.SerializeAsString());
}

void TensorBoardWriter::add_session_start(std::int64_t step) {
  tb::Event event;
  event.set_wall_time(now_seconds());
  event.set_step(step);
  event.mutable_session_log()->set_status(tb::SessionLog::START);
  write_record(event.SerializeAsString());
  flush();
}

void TensorBoardWriter::add_image(const std::string& tag, const std::string& png, int height,
                                  int width, std::int64_t step) {
  tb::Event event;
  event.set_wall_time(now_seconds());
  event.set_step(step);
  auto* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  auto* image = v->mutable_image();
  image->set_height(height);
  image->set_width(width);
  image->set_colorspace(3);
  image->set_encoded_image_string(png);
  write_record(event.SerializeAsString());
}

void TensorBoardWriter::flush() {
  out_.flush();
  if (!out_) throw DataError(path_.string() + ": writing the TensorBoard event file failed");
}

void TensorBoardWriter::write_record(const std::string& data) {
  std::string header;
  put_le(header, data.size(), 8);
  std::string frame = header;
  put_le(frame, masked_crc32c(header.data(), header.size()), 4);
  frame += data;
  put_le(frame, masked_crc32c(data.data(), data.size()), 4);
  out_.write(frame.data(), static_cast<std::streamsize>(frame.size()));
}

std::vector<EventRecord> read_event_file(const std::filesystem::path& path) {
  const std::string bytes = read_text_file(path);
  std::vector<EventRecord> out;
  std::size_t pos = 0;
  auto fail = [&](const std::string& what) {
    throw DataError(path.string() + ": record at byte " + std::to_string(pos) + ": " + what);
  };
  while (pos < bytes.size()) {
    if (bytes.size() - pos < 12) fail("truncated header");
    const char* p = bytes.data() + pos;
    const std::uint64_t len = get_le(p, 8);
    if (get_le(p + 8, 4) != masked_crc32c(p, 8)) fail("length CRC mismatch");
    if (bytes.size() - pos - 12 < len + 4) fail("truncated data");
    const char* data = p + 12;
    if (get_le(data + len, 4) != masked_crc32c(data, len)) fail("data CRC mismatch");
    tb::Event event;
    if (!event.ParseFromArray(data, static_cast<int>(len))) fail("not an Event protobuf");
    EventRecord base;
    base.wall_time = event.wall_time();
    base.step = event.step();
    if (event.has_file_version()) {
      base.file_version = event.file_version();
      out.push_back(base);
    }
    if (event.has_session_log() && event.session_log().status() == tb::SessionLog::START) {
      base.session_start = true;
      out.push_back(base);
      base.session_start = false;
    }
    for (const auto& v : event.summary().value()) {
      EventRecord r = base;
      r.tag = v.tag();
      if (v.has_simple_value()) {
        r.has_scalar = true;
        r.scalar = v.simple_value();
      }
      if (v.has_image()) {
        r.has_image = true;
        r.image_height = v.image().height();
        r.image_width = v.image().width();
        r.image_png = v.image().encoded_image_string();
      }
      out.push_back(std::move(r));
    }
    pos += 12 + len + 4;
  }
  return out;
}

}  // namespace vsr
