// Fuzzes the image decoder of the data path (runtime/data: decode_image_bgr, the fast PNG
// decoder and the OpenCV fallback behind it): any bytes give an 8- or 16-bit BGR image or a
// DataError, never a crash, a hang or an allocation beyond the header's bounded claim.
//
// Each input is decoded as given and, when it is a PNG, once more with every chunk's CRC made
// right, so that mutations reach the decoder instead of stopping at the CRC check.
#include <libdeflate.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/errors.h"
#include "runtime/data/image.h"
#include "runtime/data/png.h"

namespace {

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}

void fix_crcs(std::vector<std::uint8_t>& png) {
  for (std::size_t pos = 8; png.size() - pos >= 12;) {
    const std::uint32_t length = be32(png.data() + pos);
    if (length > png.size() - pos - 12) return;
    const std::uint32_t crc = libdeflate_crc32(0, png.data() + pos + 4, length + 4);
    std::uint8_t* at = png.data() + pos + 8 + length;
    for (int i = 0; i < 4; ++i) at[i] = static_cast<std::uint8_t>(crc >> (24 - 8 * i));
    pos += 12 + std::size_t{length};
  }
}

void decode(const std::uint8_t* data, std::size_t size) {
  // Headers between these bounds decode (slowly, up to gigabytes); the limit's tests cover them.
  if (const auto header = vsr::read_image_header(data, size)) {
    const std::uint64_t pixels = std::uint64_t{header->width} * header->height;
    if (pixels > (std::uint64_t{1} << 22) && pixels <= vsr::kMaxImagePixels) return;
  }
  try {
    const cv::Mat image = vsr::decode_image_bgr(data, size, "fuzz.png");
    if (image.empty() || image.channels() != 3 ||
        (image.depth() != CV_8U && image.depth() != CV_16U)) {
      std::abort();  // decoded images are always 8- or 16-bit BGR
    }
  } catch (const vsr::DataError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  decode(data, size);
  if (vsr::is_png(data, size)) {
    std::vector<std::uint8_t> fixed(data, data + size);
    fix_crcs(fixed);
    if (std::memcmp(fixed.data(), data, size) != 0) decode(fixed.data(), fixed.size());
  }
  return 0;
}
