#include "runtime/data/image.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <system_error>

#include <unistd.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/errors.h"
#include "runtime/data/png.h"
#include "runtime/data/rng.h"
#include "runtime/io/fileio.h"

namespace vsr {
namespace fs = std::filesystem;

std::string size_text(cv::Size s) {
  return std::to_string(s.width) + "x" + std::to_string(s.height);
}

namespace {

void check_scale(int scale, const char* what) {
  if (scale <= 0) {
    throw std::invalid_argument(std::string(what) + ": scale must be > 0, got " +
                                std::to_string(scale));
  }
}

}  // namespace

namespace {

std::uint32_t be16(const std::uint8_t* p) { return (std::uint32_t{p[0]} << 8) | p[1]; }
std::uint32_t be32(const std::uint8_t* p) { return (be16(p) << 16) | be16(p + 2); }

bool is_jpeg(const std::uint8_t* data, std::size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

// The signature, then the IHDR chunk: length 13, "IHDR", width, height (big-endian).
std::optional<ImageHeader> png_header(const std::uint8_t* data, std::size_t size) {
  if (!is_png(data, size) || size < 24) return std::nullopt;
  if (be32(data + 8) != 13 || std::memcmp(data + 12, "IHDR", 4) != 0) return std::nullopt;
  return ImageHeader{"PNG", be32(data + 16), be32(data + 20)};
}

// The segments after SOI up to the first frame header SOFn: each a marker (0xFF, a code) and,
// but for the few stand-alone markers, a big-endian length that counts itself.
std::optional<ImageHeader> jpeg_header(const std::uint8_t* data, std::size_t size) {
  if (!is_jpeg(data, size)) return std::nullopt;
  std::size_t pos = 2;
  while (pos + 4 <= size) {
    if (data[pos] != 0xFF) return std::nullopt;
    const std::uint8_t marker = data[pos + 1];
    if (marker == 0xFF) {  // a fill byte
      ++pos;
      continue;
    }
    pos += 2;
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) continue;  // TEM, RSTn, SOI
    if (marker == 0xD9 || marker == 0xDA) return std::nullopt;  // EOI or a scan before a frame
    const std::size_t length = be16(data + pos);
    if (length < 2 || length > size - pos) return std::nullopt;
    const bool frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 &&
                       marker != 0xCC;  // not DHT, JPG, DAC
    if (frame) {
      // Length, sample precision, height, width.
      if (length < 7) return std::nullopt;
      return ImageHeader{"JPEG", be16(data + pos + 5), be16(data + pos + 3)};
    }
    pos += length;
  }
  return std::nullopt;
}

std::string hex_start(const std::uint8_t* data, std::size_t size) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < std::min<std::size_t>(size, 8); ++i) {
    if (i) out += ' ';
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

}  // namespace

std::optional<ImageHeader> read_image_header(const std::uint8_t* data, std::size_t size) {
  if (auto png = png_header(data, size)) return png;
  return jpeg_header(data, size);
}

cv::Mat decode_image_bgr(const std::uint8_t* data, std::size_t size, const std::string& name) {
  const auto error = [&](const std::string& why) {
    return DataError("cannot read image " + name + ": " + why, name);
  };
  if (size == 0) throw error("the file is empty (0 bytes)");
  if (size > kMaxImageFileBytes) {
    throw error("the file is " + std::to_string(size) + " bytes, more than the limit of " +
                std::to_string(kMaxImageFileBytes) + " (1 GiB) for an image");
  }
  const std::optional<ImageHeader> header = read_image_header(data, size);
  if (!header) {
    if (is_png(data, size)) throw error("damaged PNG: no IHDR header chunk after the signature");
    if (is_jpeg(data, size)) throw error("damaged JPEG: no frame header (SOF) before its end");
    throw error("not a PNG or JPEG file (it starts with bytes " + hex_start(data, size) +
                "); dataset images and frames must be PNG or JPEG");
  }
  const std::uint64_t pixels = std::uint64_t{header->width} * header->height;
  if (pixels > kMaxImagePixels) {
    char megapixels[32];
    std::snprintf(megapixels, sizeof megapixels, "%.0f", static_cast<double>(pixels) / 1e6);
    throw error(std::string("its ") + header->format + " header claims " +
                std::to_string(header->width) + "x" + std::to_string(header->height) + " pixels (" +
                megapixels + " megapixels), more than the limit of " +
                std::to_string(kMaxImagePixels / 1000000) +
                " megapixels; the file is damaged or not a dataset image (patches and video "
                "frames are far smaller)");
  }
  // PNGs take the fast decoder; everything it leaves (JPEG, rare PNG variants, damaged files)
  // goes to OpenCV, whose allocation the header checked above bounds.
  if (cv::Mat fast = decode_png_fast(data, size); !fast.empty()) return fast;
  cv::Mat raw;
  try {
    // COLOR: gray expanded, alpha dropped; ANYDEPTH: 16-bit kept as 16-bit.
    raw = cv::imdecode(cv::Mat(1, static_cast<int>(size), CV_8U, const_cast<std::uint8_t*>(data)),
                       cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH);
  } catch (const cv::Exception& e) {
    throw error(e.what());
  }
  if (raw.empty()) {
    throw error(std::string("not a readable ") + header->format +
                " (corrupt or truncated); check the file, e.g. open it in an image viewer");
  }
  return raw;
}

cv::Mat read_image_bgr(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw DataError("cannot read image " + path.string() +
                        (fs::is_directory(path, ec) ? ": it is a folder, not a file"
                         : fs::exists(path, ec)     ? ": not a regular file"
                         : fs::is_symlink(fs::symlink_status(path, ec))
                             ? ": a symbolic link that leads nowhere (or in a loop)"
                             : ": file does not exist"),
                    path.string());
  }
  const std::uintmax_t size = fs::file_size(path, ec);
  if (!ec && size > kMaxImageFileBytes) {
    throw DataError("cannot read image " + path.string() + ": the file is " + std::to_string(size) +
                        " bytes, more than the limit of " + std::to_string(kMaxImageFileBytes) +
                        " (1 GiB) for an image",
                    path.string());
  }
  // One read into a per-thread buffer, reused from file to file.
  thread_local std::vector<std::uint8_t> bytes;
  read_file_into(path, bytes);
  return decode_image_bgr(bytes.data(), bytes.size(), path.string());
}

cv::Mat read_image_rgb(const fs::path& path) {
  const cv::Mat raw = read_image_bgr(path);
  cv::Mat rgb;
  cv::cvtColor(raw, rgb, cv::COLOR_BGR2RGB);
  double factor = 1.0;
  switch (rgb.depth()) {
    case CV_8U:
      factor = 1.0 / 255.0;
      break;
    case CV_16U:
      factor = 1.0 / 65535.0;
      break;
    case CV_32F:
      factor = 1.0;
      break;
    default:
      throw DataError("cannot read image " + path.string() +
                      ": unsupported sample type (expected 8- or 16-bit)");
  }
  cv::Mat out;
  rgb.convertTo(out, CV_32F, factor);
  return out;
}

cv::Mat stack_frames(const std::vector<cv::Mat>& frames) {
  if (frames.empty()) throw std::invalid_argument("stack_frames: no frames");
  for (const auto& f : frames) {
    if (f.size() != frames[0].size() || f.type() != frames[0].type()) {
      throw std::invalid_argument("stack_frames: frames of " + size_text(f.size()) + " and " +
                                  size_text(frames[0].size()) + " (or of two types)");
    }
  }
  cv::Mat out;
  cv::vconcat(frames, out);
  return out;
}

std::vector<cv::Mat> split_stack(const cv::Mat& stack, int frames, cv::Size expected_lr,
                                 const std::string& file) {
  if (frames <= 0) throw std::invalid_argument("split_stack: frames must be > 0");
  const cv::Size expected(expected_lr.width, frames * expected_lr.height);
  const cv::Size found = stack.size();
  if (found != expected) {
    std::string msg = "Wrong frame count in LR stack " + file + ": expected " +
                      size_text(expected) + " (" + std::to_string(frames) + " frames x LR height " +
                      std::to_string(expected_lr.height) + ", LR width " +
                      std::to_string(expected_lr.width) + "), found " + size_text(found);
    if (found.width == expected.width && expected_lr.height > 0 &&
        found.height % expected_lr.height == 0) {
      msg += " (looks like " + std::to_string(found.height / expected_lr.height) +
             " frames: check lr_version and that the file is in the matching LR_Nframes folder)";
    } else if (found.width != expected.width) {
      msg += " (wrong LR width: check the format folder and the scale)";
    } else {
      msg +=
          " (height is not a multiple of the LR height " + std::to_string(expected_lr.height) + ")";
    }
    throw DataError(msg);
  }
  std::vector<cv::Mat> out;
  out.reserve(frames);
  for (int t = 0; t < frames; ++t) {
    out.push_back(stack.rowRange(t * expected_lr.height, (t + 1) * expected_lr.height));
  }
  return out;
}

void check_gt_size(const cv::Mat& gt, cv::Size expected, const std::string& file) {
  if (gt.size() != expected) {
    throw DataError("Wrong GT size in " + file + ": expected " + size_text(expected) +
                    " (the format's size, scale x LR frame), found " + size_text(gt.size()));
  }
}

void check_val_image_size(cv::Size size, int scale, const std::string& file) {
  const int min_side = 11 + 2 * scale;  // the SSIM window after the border crop
  if (size.width < min_side || size.height < min_side) {
    throw DataError("validation image " + file + " is " + size_text(size) +
                    "; it must be at least " + std::to_string(min_side) + "x" +
                    std::to_string(min_side));
  }
}

cv::Mat shift_image(const cv::Mat& img, double dx, double dy) {
  if (dx == 0 && dy == 0) return img.clone();
  const cv::Matx23d m(1, 0, dx, 0, 1, dy);
  cv::Mat out;
  cv::warpAffine(img, out, m, img.size(), cv::INTER_CUBIC, cv::BORDER_REPLICATE);
  return out;
}

cv::Mat shift_horizontal(const cv::Mat& img, double dx) { return shift_image(img, dx, 0); }

cv::Mat downscale(const cv::Mat& img, int scale) {
  check_scale(scale, "downscale");
  if (img.cols % scale != 0 || img.rows % scale != 0) {
    throw std::invalid_argument("downscale: " + size_text(img.size()) +
                                " is not divisible by scale " + std::to_string(scale));
  }
  if (scale == 1) return img.clone();
  cv::Mat out;
  cv::resize(img, out, cv::Size(img.cols / scale, img.rows / scale), 0, 0, cv::INTER_AREA);
  return out;
}

cv::Mat bicubic_upscale(const cv::Mat& img, int scale) {
  check_scale(scale, "bicubic_upscale");
  if (scale == 1) return img.clone();
  cv::Mat out;
  cv::resize(img, out, cv::Size(img.cols * scale, img.rows * scale), 0, 0, cv::INTER_CUBIC);
  return out;
}

cv::Mat crop_to_multiple(const cv::Mat& img, int scale) {
  check_scale(scale, "crop_to_multiple");
  return img(cv::Rect(0, 0, img.cols - img.cols % scale, img.rows - img.rows % scale));
}

ValSample make_val_lr_frames(const cv::Mat& gt, const std::vector<double>& shifts, int scale) {
  ValSample out;
  out.gt = crop_to_multiple(gt, scale).clone();
  if (out.gt.empty()) {
    throw DataError("validation image of " + size_text(gt.size()) + " is smaller than scale " +
                    std::to_string(scale));
  }
  out.frames.reserve(shifts.size());
  for (double dx : shifts) out.frames.push_back(downscale(shift_horizontal(out.gt, dx), scale));
  return out;
}

void write_png_atomic(const fs::path& path, const cv::Mat& img) {
  if (img.empty()) throw DataError("cannot write " + path.string() + ": empty image");
  cv::Mat bytes;
  if (img.depth() == CV_8U) {
    bytes = img;
  } else {
    img.convertTo(bytes, CV_8U, 255.0);  // saturating and rounding
  }
  cv::Mat bgr;
  if (bytes.channels() == 3) {
    cv::cvtColor(bytes, bgr, cv::COLOR_RGB2BGR);
  } else if (bytes.channels() == 1) {
    bgr = bytes;
  } else {
    throw DataError("cannot write " + path.string() + ": expected 1 or 3 channels, got " +
                    std::to_string(bytes.channels()));
  }
  std::vector<uchar> encoded;
  if (!cv::imencode(".png", bgr, encoded)) {
    throw DataError("cannot write " + path.string() + ": PNG encoding failed");
  }

  write_file_atomic(path, reinterpret_cast<const char*>(encoded.data()), encoded.size());
}

void write_bgr_png_atomic(const fs::path& path, const cv::Mat& bgr, Durability durability) {
  if (bgr.empty()) throw DataError("cannot write " + path.string() + ": empty image");
  if ((bgr.depth() != CV_8U && bgr.depth() != CV_16U) ||
      (bgr.channels() != 1 && bgr.channels() != 3)) {
    throw DataError("cannot write " + path.string() +
                    ": expected an 8- or 16-bit gray or BGR image, found OpenCV type " +
                    std::to_string(bgr.type()));
  }
  const std::vector<std::uint8_t> encoded = encode_png(bgr);
  write_file_atomic(path, reinterpret_cast<const char*>(encoded.data()), encoded.size(),
                    durability);
}

bool is_complete_png(const fs::path& path) {
  // The last 12 bytes of every PNG: an empty IEND chunk (length 0, "IEND", its CRC).
  static const unsigned char kIend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in || in.tellg() < static_cast<std::streamoff>(8 + sizeof(kIend))) return false;
  in.seekg(-static_cast<std::streamoff>(sizeof(kIend)), std::ios::end);
  unsigned char tail[sizeof(kIend)];
  in.read(reinterpret_cast<char*>(tail), sizeof(tail));
  return in && std::memcmp(tail, kIend, sizeof(kIend)) == 0;
}

cv::Mat hflip(const cv::Mat& img) {
  cv::Mat out;
  cv::flip(img, out, 1);
  return out;
}

cv::Mat vflip(const cv::Mat& img) {
  cv::Mat out;
  cv::flip(img, out, 0);
  return out;
}

cv::Mat rot90(const cv::Mat& img, int k) {
  k = ((k % 4) + 4) % 4;
  if (k == 0) return img.clone();
  cv::Mat out;
  const int code = k == 1   ? cv::ROTATE_90_COUNTERCLOCKWISE
                   : k == 2 ? cv::ROTATE_180
                            : cv::ROTATE_90_CLOCKWISE;
  cv::rotate(img, out, code);
  return out;
}

Augmentation draw_augmentation(std::uint64_t seed, const AugmentProbs& probs, bool allow_rot90) {
  Rng rng(seed);
  Augmentation aug;
  // Every draw is made whatever the probabilities, so one setting does not shift the others.
  aug.hflip = rng.bernoulli(probs.hflip);
  aug.vflip = rng.bernoulli(probs.vflip);
  const bool rotate = rng.bernoulli(probs.rot90);
  const int turns = 1 + static_cast<int>(rng.below(3));
  aug.rot90 = allow_rot90 && rotate ? turns : 0;
  aug.reverse = rng.bernoulli(probs.reverse);
  return aug;
}

namespace {

// hflip, vflip, then rot90 compose to one of the 8 symmetries of the square: vflip = rot180
// after hflip, so only (hflip?, quarter turns) remains.
struct Symmetry {
  bool h;  // one flip (hflip != vflip)
  int k;   // quarter turns after it, 0..3
};

Symmetry compose(const Augmentation& aug) {
  return {aug.hflip != aug.vflip, (((aug.rot90 + (aug.vflip ? 2 : 0)) % 4) + 4) % 4};
}

}  // namespace

cv::Mat apply_geometry(const Augmentation& aug, const cv::Mat& img) {
  // Each symmetry is one OpenCV call (or transpose + flip). tests/runtime/image_test.cpp checks
  // all 16 inputs against the step-by-step result.
  const auto [h, k] = compose(aug);
  cv::Mat out;
  if (!h) {
    if (k == 0) return img;
    if (k == 2) {
      cv::flip(img, out, -1);
      return out;
    }
    return rot90(img, k);
  }
  switch (k) {
    case 0:
      cv::flip(img, out, 1);
      return out;
    case 1:  // rot90 after hflip is the transpose
      cv::transpose(img, out);
      return out;
    case 2:  // rot180 after hflip is vflip
      cv::flip(img, out, 0);
      return out;
    default: {  // rot270 after hflip is the anti-transpose
      cv::Mat t;
      cv::transpose(img, t);
      cv::flip(t, out, -1);
      return out;
    }
  }
}

bool geometry_as_flips(const Augmentation& aug, Flips* flips) {
  // Without a flip, k = 2 is both flips; with one, k = 0 is hflip, k = 2 vflip.
  const auto [h, k] = compose(aug);
  if (k % 2 != 0) return false;
  flips->y = k == 2;
  flips->x = h ? k == 0 : k == 2;
  return true;
}

cv::Mat apply_flips(const cv::Mat& img, Flips flips) {
  if (!flips.x && !flips.y) return img;
  cv::Mat out;
  cv::flip(img, out, flips.x && flips.y ? -1 : flips.x ? 1 : 0);
  return out;
}

void apply_augmentation(const Augmentation& aug, cv::Mat& gt, std::vector<cv::Mat>& frames) {
  gt = apply_geometry(aug, gt);
  for (auto& f : frames) f = apply_geometry(aug, f);
  if (aug.reverse) std::reverse(frames.begin(), frames.end());
}

}  // namespace vsr
