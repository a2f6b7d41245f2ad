// The fast PNG decoder against OpenCV's (libpng): every colour type, bit depth and filter the
// fast path takes must decode byte for byte as cv::imdecode(IMREAD_COLOR | IMREAD_ANYDEPTH)
// does, and everything else must be handed back to OpenCV (an empty Mat), never misread.
#include "runtime/data/png.h"

#include <libdeflate.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include <opencv2/imgcodecs.hpp>

#include "common/errors.h"
#include "runtime/data/image.h"
#include "runtime/io/fileio.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

void put32(Bytes& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

void chunk(Bytes& out, const char* type, const Bytes& payload) {
  put32(out, static_cast<std::uint32_t>(payload.size()));
  const std::size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), payload.begin(), payload.end());
  put32(out, libdeflate_crc32(0, out.data() + start, payload.size() + 4));
}

int paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

struct EncodeOptions {
  int color_type = 2;  // 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
  std::function<int(int)> filter = [](int) { return 0; };  // filter type of row y
  int level = 6;                                           // deflate level
  std::size_t idat_chunk = 0;  // split IDAT every N bytes (0: one chunk)
  int interlace = 0;           // header flag only
  std::vector<std::pair<std::string, Bytes>> before_idat;  // extra chunks
  bool write_end = true;
};

// A small independent PNG encoder, so the test controls what libpng-based writers never vary:
// the filter of every row, IDAT splitting, extra chunks. img holds samples in PNG channel order
// (gray, gray+alpha, RGB, RGBA), CV_8U or CV_16U.
Bytes encode_png(const cv::Mat& img, const EncodeOptions& o) {
  const int depth = img.depth() == CV_16U ? 16 : 8;
  const int bytes = depth / 8;
  const int bpp = img.channels() * bytes;
  const std::size_t row_bytes = static_cast<std::size_t>(img.cols) * bpp;
  Bytes raw, prev(row_bytes, 0), cur(row_bytes);
  for (int y = 0; y < img.rows; ++y) {
    // Samples, big-endian.
    for (int x = 0; x < img.cols * img.channels(); ++x) {
      if (bytes == 1) {
        cur[x] = img.ptr<std::uint8_t>(y)[x];
      } else {
        const std::uint16_t v = img.ptr<std::uint16_t>(y)[x];
        cur[2 * x] = static_cast<std::uint8_t>(v >> 8);
        cur[2 * x + 1] = static_cast<std::uint8_t>(v & 0xFF);
      }
    }
    const int f = o.filter(y);
    raw.push_back(static_cast<std::uint8_t>(f));
    for (std::size_t i = 0; i < row_bytes; ++i) {
      const int a = i >= static_cast<std::size_t>(bpp) ? cur[i - bpp] : 0;
      const int b = prev[i];
      const int c = i >= static_cast<std::size_t>(bpp) ? prev[i - bpp] : 0;
      const int pred = f == 0 ? 0 : f == 1 ? a : f == 2 ? b : f == 3 ? (a + b) / 2 : paeth(a, b, c);
      raw.push_back(static_cast<std::uint8_t>(cur[i] - pred));
    }
    std::swap(prev, cur);
  }
  libdeflate_compressor* c = libdeflate_alloc_compressor(o.level);
  Bytes z(libdeflate_zlib_compress_bound(c, raw.size()));
  z.resize(libdeflate_zlib_compress(c, raw.data(), raw.size(), z.data(), z.size()));
  libdeflate_free_compressor(c);

  Bytes out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  Bytes ihdr;
  put32(ihdr, static_cast<std::uint32_t>(img.cols));
  put32(ihdr, static_cast<std::uint32_t>(img.rows));
  ihdr.push_back(static_cast<std::uint8_t>(o.color_type == 3 ? 8 : depth));
  ihdr.push_back(static_cast<std::uint8_t>(o.color_type));
  ihdr.push_back(0);
  ihdr.push_back(0);
  ihdr.push_back(static_cast<std::uint8_t>(o.interlace));
  chunk(out, "IHDR", ihdr);
  for (const auto& [type, payload] : o.before_idat) chunk(out, type.c_str(), payload);
  const std::size_t step = o.idat_chunk ? o.idat_chunk : z.size();
  for (std::size_t at = 0; at < z.size(); at += step) {
    chunk(out, "IDAT", Bytes(z.begin() + at, z.begin() + std::min(z.size(), at + step)));
  }
  if (o.write_end) chunk(out, "IEND", {});
  return out;
}

// Textured content that takes every branch of the Paeth predictor: gradients, edges, noise.
cv::Mat content(int w, int h, int channels, int depth, unsigned seed) {
  cv::Mat img(h, w, CV_MAKETYPE(depth, channels));
  std::mt19937 rng(seed);
  const int max = depth == CV_16U ? 65535 : 255;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w * channels; ++x) {
      const int base = (x * 7 + y * 13) % (max + 1);
      const int v = (x / 5 + y / 3) % 4 == 0 ? static_cast<int>(rng() % (max + 1)) : base;
      if (depth == CV_16U) {
        img.ptr<std::uint16_t>(y)[x] = static_cast<std::uint16_t>(v);
      } else {
        img.ptr<std::uint8_t>(y)[x] = static_cast<std::uint8_t>(v);
      }
    }
  }
  return img;
}

cv::Mat opencv_decode(const Bytes& png) {
  return cv::imdecode(
      cv::Mat(1, static_cast<int>(png.size()), CV_8U, const_cast<std::uint8_t*>(png.data())),
      cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH);
}

void expect_same_as_opencv(const Bytes& png, const std::string& what) {
  const cv::Mat ours = decode_png_fast(png.data(), png.size());
  const cv::Mat ref = opencv_decode(png);
  ASSERT_FALSE(ref.empty()) << what << ": OpenCV could not read the test file";
  ASSERT_FALSE(ours.empty()) << what << ": the fast path refused a file it should take";
  ASSERT_EQ(ours.type(), ref.type()) << what;
  ASSERT_EQ(ours.size(), ref.size()) << what;
  EXPECT_EQ(cv::norm(ours, ref, cv::NORM_INF), 0) << what;
}

int color_type_for(int channels) {
  return channels == 1 ? 0 : channels == 2 ? 4 : channels == 3 ? 2 : 6;
}

TEST(PngFast, EveryColourTypeDepthAndFilterMatchesOpenCv) {
  for (int depth : {CV_8U, CV_16U}) {
    for (int channels = 1; channels <= 4; ++channels) {
      const cv::Mat img = content(37, 23, channels, depth, 7u * channels + depth);
      for (int filter = 0; filter <= 5; ++filter) {
        EncodeOptions o;
        o.color_type = color_type_for(channels);
        // 0..4: every row the same filter; 5: the filter changes from row to row.
        o.filter = [filter](int y) { return filter < 5 ? filter : y % 5; };
        expect_same_as_opencv(encode_png(img, o),
                              "depth " + std::to_string(depth == CV_16U ? 16 : 8) + ", " +
                                  std::to_string(channels) + " channels, filter " +
                                  std::to_string(filter));
      }
    }
  }
}

// 8-bit RGB rows go through a 5-pixel shuffle and a tail: every width around those steps.
TEST(PngFast, RgbRowsOfEveryWidthAroundTheShuffleStepsMatchOpenCv) {
  for (int width = 1; width <= 17; ++width) {
    EncodeOptions o;
    o.color_type = color_type_for(3);
    o.filter = [](int y) { return y % 5; };
    expect_same_as_opencv(encode_png(content(width, 3, 3, CV_8U, 11u + width), o),
                          "width " + std::to_string(width));
  }
}

TEST(PngFast, SplitIdatStoredBlocksAndAncillaryChunks) {
  const cv::Mat img = content(64, 40, 3, CV_8U, 3);
  EncodeOptions o;
  o.filter = [](int y) { return (y * 3) % 5; };
  o.idat_chunk = 97;
  expect_same_as_opencv(encode_png(img, o), "IDAT in 97-byte chunks");
  o.idat_chunk = 0;
  o.level = 0;  // stored (uncompressed) deflate blocks
  expect_same_as_opencv(encode_png(img, o), "stored blocks");
  o.level = 12;
  o.before_idat = {{"tEXt", Bytes{'k', 0, 'v'}}, {"gAMA", Bytes{0, 0, 0xB1, 0x8F}}};
  expect_same_as_opencv(encode_png(img, o), "text and gamma chunks");
}

TEST(PngFast, FilesOpenCvWritesDecodeTheSame) {
  const cv::Mat bgr8 = content(123, 77, 3, CV_8U, 1);
  const cv::Mat bgr16 = content(50, 31, 3, CV_16U, 2);
  const cv::Mat gray = content(40, 41, 1, CV_8U, 3);
  const cv::Mat bgra = content(33, 20, 4, CV_8U, 4);
  for (const cv::Mat* m : {&bgr8, &bgr16, &gray, &bgra}) {
    for (int level : {0, 1, 3, 9}) {
      std::vector<std::uint8_t> png;
      ASSERT_TRUE(cv::imencode(".png", *m, png, {cv::IMWRITE_PNG_COMPRESSION, level}));
      expect_same_as_opencv(png, "cv::imencode type " + std::to_string(m->type()) + " level " +
                                     std::to_string(level));
    }
  }
}

TEST(PngFast, LeavesOtherVariantsToOpenCv) {
  const cv::Mat img = content(16, 12, 3, CV_8U, 5);
  EncodeOptions o;
  o.filter = [](int y) { return y % 5; };
  const Bytes good = encode_png(img, o);
  ASSERT_FALSE(decode_png_fast(good.data(), good.size()).empty());

  std::vector<std::pair<std::string, Bytes>> cases;
  cases.reserve(8);  // (also keeps GCC 12's -Warray-bounds false positive on emplace_back away)
  {
    EncodeOptions t = o;
    t.before_idat = {{"tRNS", Bytes{0, 1, 0, 2, 0, 3}}};
    cases.emplace_back("tRNS", encode_png(img, t));
  }
  {
    EncodeOptions p = o;
    p.color_type = 3;
    Bytes palette;
    for (int i = 0; i < 256; ++i)
      palette.insert(palette.end(), {std::uint8_t(i), std::uint8_t(255 - i), 7});
    p.before_idat = {{"PLTE", palette}};
    cases.emplace_back("palette", encode_png(content(16, 12, 1, CV_8U, 6), p));
  }
  {
    EncodeOptions i = o;
    i.interlace = 1;
    cases.emplace_back("interlaced flag", encode_png(img, i));
  }
  {
    Bytes bad_crc = good;
    bad_crc[bad_crc.size() - 20] ^= 0x40;  // inside the IDAT payload
    cases.emplace_back("IDAT CRC", bad_crc);
  }
  {
    EncodeOptions e = o;
    e.write_end = false;
    cases.emplace_back("no IEND", encode_png(img, e));
  }
  cases.emplace_back("truncated", Bytes(good.begin(), good.begin() + good.size() / 2));
  {
    // A row filter type of 5 does not exist: the IDAT payload decodes but the data is bad.
    EncodeOptions f = o;
    f.filter = [](int y) { return y == 3 ? 5 : 0; };
    cases.emplace_back("filter type 5", encode_png(img, f));
  }
  {
    // Image data for 13 rows under a 12-row header: too much data.
    EncodeOptions m = o;
    Bytes big = encode_png(content(16, 13, 3, CV_8U, 5), m);
    big[8 + 8 + 7] = 12;  // IHDR height low byte
    const std::uint32_t crc = libdeflate_crc32(0, big.data() + 12, 17);
    for (int k = 0; k < 4; ++k) big[29 + k] = static_cast<std::uint8_t>(crc >> (24 - 8 * k));
    cases.emplace_back("too much image data", big);
  }
  cases.emplace_back("JPEG", [] {
    std::vector<std::uint8_t> jpg;
    cv::imencode(".jpg", content(16, 16, 3, CV_8U, 1), jpg);
    return jpg;
  }());
  for (const auto& [what, bytes] : cases) {
    EXPECT_TRUE(decode_png_fast(bytes.data(), bytes.size()).empty()) << what;
  }
}

class PngReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vsr_png_test_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, const Bytes& bytes) {
    const fs::path p = dir_ / name;
    write_file_atomic(p, reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return p;
  }
  fs::path dir_;
};

// read_image_bgr (what decode uses) gives cv::imread's result for every kind of file: the fast
// path's files, the ones it hands to OpenCV, and JPEG.
TEST_F(PngReadTest, ReadImageBgrEqualsImreadForEveryKindOfFile) {
  EncodeOptions o;
  o.filter = [](int y) { return y % 5; };
  EncodeOptions pal = o;
  pal.color_type = 3;
  Bytes palette;
  for (int i = 0; i < 256; ++i)
    palette.insert(palette.end(), {std::uint8_t(i), 9, std::uint8_t(i / 2)});
  pal.before_idat = {{"PLTE", palette}};
  EncodeOptions rgba = o;
  rgba.color_type = 6;
  std::vector<std::uint8_t> jpg;
  ASSERT_TRUE(cv::imencode(".jpg", content(40, 24, 3, CV_8U, 2), jpg));
  const std::vector<fs::path> files = {
      write("rgb8.png", encode_png(content(40, 24, 3, CV_8U, 1), o)),
      write("rgba16.png", encode_png(content(40, 24, 4, CV_16U, 1), rgba)),
      write("palette.png", encode_png(content(40, 24, 1, CV_8U, 3), pal)),
      write("frame.jpg", jpg),
  };
  for (const auto& f : files) {
    const cv::Mat ours = read_image_bgr(f);
    const cv::Mat ref = cv::imread(f.string(), cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH);
    ASSERT_FALSE(ref.empty()) << f;
    ASSERT_EQ(ours.type(), ref.type()) << f;
    ASSERT_EQ(ours.size(), ref.size()) << f;
    EXPECT_EQ(cv::norm(ours, ref, cv::NORM_INF), 0) << f;
  }
}

TEST_F(PngReadTest, DamagedPngIsAnErrorNamingTheFile) {
  EncodeOptions o;
  Bytes png = encode_png(content(30, 20, 3, CV_8U, 1), o);
  png.resize(png.size() / 2);
  const fs::path p = write("cut.png", png);
  try {
    read_image_bgr(p);
    FAIL() << "a truncated PNG was read";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("cannot read image " + p.string()));
  }
}

// encode_png: every type it takes round-trips exactly through OpenCV's reader and ours.
TEST(EncodePng, RoundTripsEveryDepthAndChannelCountExactly) {
  cv::RNG rng(3);
  for (const int type : {CV_8UC3, CV_8UC1, CV_16UC3, CV_16UC1}) {
    cv::Mat img(37, 53, type);
    rng.fill(img, cv::RNG::UNIFORM, 0, CV_MAT_DEPTH(type) == CV_8U ? 256 : 65536);
    const std::vector<std::uint8_t> png = ::vsr::encode_png(img);
    const cv::Mat back = cv::imdecode(png, cv::IMREAD_UNCHANGED);
    ASSERT_EQ(back.type(), type);
    EXPECT_EQ(cv::norm(back, img, cv::NORM_INF), 0) << type;
    if (CV_MAT_CN(type) == 3) {  // ours decodes to BGR as well
      const cv::Mat fast = decode_png_fast(png.data(), png.size());
      ASSERT_FALSE(fast.empty());
      EXPECT_EQ(cv::norm(fast, img, cv::NORM_INF), 0) << type;
    }
  }
  EXPECT_THROW(::vsr::encode_png(cv::Mat(4, 4, CV_32FC3)), std::invalid_argument);
}

TEST(EncodePng, CompressesPhotoLikeContentAboutAsWellAsOpenCv) {
  cv::Mat img(270, 270, CV_8UC3);
  cv::RNG rng(4);
  rng.fill(img, cv::RNG::UNIFORM, 0, 256);
  cv::GaussianBlur(img, img, cv::Size(0, 0), 4);  // smooth, like a photo
  std::vector<uchar> opencv;
  cv::imencode(".png", img, opencv);
  const std::size_t ours = ::vsr::encode_png(img).size();
  EXPECT_LT(ours, opencv.size() * 13 / 10) << ours << " vs " << opencv.size();
  EXPECT_LT(ours, img.total() * 3 / 2);  // it does compress
}

}  // namespace
}  // namespace vsr
