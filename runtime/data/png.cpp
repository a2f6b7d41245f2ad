#include "runtime/data/png.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <libdeflate.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <tmmintrin.h>
#endif

namespace vsr {

namespace {

constexpr std::uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
// Larger images are left to OpenCV (and its own limits) rather than allocated here.
constexpr std::size_t kMaxInflated = std::size_t{1} << 31;
// Spare bytes after the inflated image and the zero row: the SIMD unfilter reads a pixel as 4
// bytes, one more than an RGB pixel has.
constexpr std::size_t kPad = 8;

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

bool is_type(const std::uint8_t* p, const char* name) { return std::memcmp(p, name, 4) == 0; }

// Per-thread scratch: decode workers call this concurrently, and reusing the buffers keeps the
// hot path free of large allocations (fresh pages cost a fault each).
struct Scratch {
  struct Free {
    void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
  };
  std::unique_ptr<libdeflate_decompressor, Free> inflater{libdeflate_alloc_decompressor()};
  std::vector<std::uint8_t> idat;      // IDAT payloads joined, when there are several
  std::vector<std::uint8_t> inflated;  // filter byte + row bytes, per row
  std::vector<std::uint8_t> zero_row;  // the row "above" the first row
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

inline int paeth(int a, int b, int c) {
  const int pa = std::abs(b - c);          // |p - a| with p = a + b - c
  const int pb = std::abs(a - c);          // |p - b|
  const int pc = std::abs(a + b - 2 * c);  // |p - c|
  const int ab = pa <= pb ? a : b;         // ties go to a, then b, then c
  return std::min(pa, pb) <= pc ? ab : c;
}

#if defined(__SSE2__)
// Sub, Average and Paeth make each pixel depend on the one to its left, so their cost is a
// chain of pixel steps. With SSE2 one step handles all channels of a pixel at once (16-bit
// lanes), instead of one byte. 3- and 4-byte pixels (8-bit RGB/RGBA) only; rows are read 4
// bytes at a time, so the buffers carry kPad spare bytes at their end.
template <int bpp>
__m128i load_pixel(const std::uint8_t* p) {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return _mm_unpacklo_epi8(_mm_cvtsi32_si128(v), _mm_setzero_si128());
}

template <int bpp>
void store_pixel(std::uint8_t* p, __m128i v) {
  const std::int32_t packed = _mm_cvtsi128_si32(_mm_packus_epi16(v, v));
  std::memcpy(p, &packed, bpp);
}

__m128i abs16(__m128i x) { return _mm_max_epi16(x, _mm_sub_epi16(_mm_setzero_si128(), x)); }

__m128i select(__m128i mask, __m128i yes, __m128i no) {
  return _mm_or_si128(_mm_and_si128(mask, yes), _mm_andnot_si128(mask, no));
}

// Returns false when the filter is not one of these three (the caller's loops take it).
template <int bpp>
bool unfilter_simd(std::uint8_t filter, std::uint8_t* row, const std::uint8_t* prev,
                   std::size_t n) {
  const __m128i low_bytes = _mm_set1_epi16(0xFF);
  __m128i a = _mm_setzero_si128();  // the pixel to the left, unfiltered
  __m128i c = _mm_setzero_si128();  // the pixel above-left
  switch (filter) {
    case 1:
      for (std::size_t i = 0; i < n; i += bpp) {
        a = _mm_and_si128(_mm_add_epi16(load_pixel<bpp>(row + i), a), low_bytes);
        store_pixel<bpp>(row + i, a);
      }
      return true;
    case 3:
      for (std::size_t i = 0; i < n; i += bpp) {
        const __m128i b = load_pixel<bpp>(prev + i);
        const __m128i avg = _mm_srli_epi16(_mm_add_epi16(a, b), 1);
        a = _mm_and_si128(_mm_add_epi16(load_pixel<bpp>(row + i), avg), low_bytes);
        store_pixel<bpp>(row + i, a);
      }
      return true;
    case 4:
      for (std::size_t i = 0; i < n; i += bpp) {
        const __m128i b = load_pixel<bpp>(prev + i);
        const __m128i bc = _mm_sub_epi16(b, c), ac = _mm_sub_epi16(a, c);
        const __m128i pa = abs16(bc), pb = abs16(ac), pc = abs16(_mm_add_epi16(bc, ac));
        const __m128i smallest = _mm_min_epi16(pc, _mm_min_epi16(pa, pb));
        const __m128i nearest =
            select(_mm_cmpeq_epi16(smallest, pa), a, select(_mm_cmpeq_epi16(smallest, pb), b, c));
        a = _mm_and_si128(_mm_add_epi16(load_pixel<bpp>(row + i), nearest), low_bytes);
        store_pixel<bpp>(row + i, a);
        c = b;
      }
      return true;
    default:
      return false;
  }
}
#endif

// Reverses one row's filter in place (PNG spec 9.2); prev is the previous row, unfiltered.
// bpp is a template parameter so the byte loops have a constant stride.
template <int bpp>
bool unfilter_row(std::uint8_t filter, std::uint8_t* row, const std::uint8_t* prev, std::size_t n) {
#if defined(__SSE2__)
  if constexpr (bpp == 3 || bpp == 4) {
    if (unfilter_simd<bpp>(filter, row, prev, n)) return true;
  }
#endif
  switch (filter) {
    case 0:
      return true;
    case 1:
      for (std::size_t i = bpp; i < n; ++i) {
        row[i] = static_cast<std::uint8_t>(row[i] + row[i - bpp]);
      }
      return true;
    case 2:
      for (std::size_t i = 0; i < n; ++i) row[i] = static_cast<std::uint8_t>(row[i] + prev[i]);
      return true;
    case 3:
      for (std::size_t i = 0; i < bpp; ++i) {
        row[i] = static_cast<std::uint8_t>(row[i] + (prev[i] >> 1));
      }
      for (std::size_t i = bpp; i < n; ++i) {
        row[i] = static_cast<std::uint8_t>(row[i] + ((row[i - bpp] + prev[i]) >> 1));
      }
      return true;
    case 4:
      for (std::size_t i = 0; i < bpp; ++i) row[i] = static_cast<std::uint8_t>(row[i] + prev[i]);
      for (std::size_t i = bpp; i < n; ++i) {
        row[i] = static_cast<std::uint8_t>(row[i] + paeth(row[i - bpp], prev[i], prev[i - bpp]));
      }
      return true;
    default:
      return false;  // not a PNG filter type: damaged data
  }
}

using UnfilterFn = bool (*)(std::uint8_t, std::uint8_t*, const std::uint8_t*, std::size_t);

UnfilterFn unfilter_for(int bpp) {
  switch (bpp) {
    case 1:
      return unfilter_row<1>;
    case 2:
      return unfilter_row<2>;
    case 3:
      return unfilter_row<3>;
    case 4:
      return unfilter_row<4>;
    case 6:
      return unfilter_row<6>;
    default:
      return unfilter_row<8>;
  }
}

// One unfiltered row (`channels` samples per pixel: gray, gray+alpha, RGB or RGBA) to BGR:
// gray replicated, alpha dropped, 16-bit samples from big-endian to native.
template <class T, int channels>
void row_to_bgr(const std::uint8_t* src, T* dst, int width) {
  constexpr int bytes = static_cast<int>(sizeof(T));
  auto sample = [](const std::uint8_t* p) -> T {
    if constexpr (bytes == 1) {
      return *p;
    } else {
      return static_cast<T>((p[0] << 8) | p[1]);
    }
  };
  for (int x = 0; x < width; ++x, src += channels * bytes, dst += 3) {
    if constexpr (channels >= 3) {
      dst[0] = sample(src + 2 * bytes);
      dst[1] = sample(src + bytes);
      dst[2] = sample(src);
    } else {
      const T g = sample(src);
      dst[0] = g;
      dst[1] = g;
      dst[2] = g;
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
// 8-bit RGB to BGR, the common case, five pixels per 16-byte shuffle (SSSE3 pshufb) where the
// loop above moves a byte at a time. Each store's 16th byte is the next pixel's first, written
// again by the next store or the tail; the loop stops while a whole load is inside the row.
__attribute__((target("ssse3"))) void rgb8_to_bgr_ssse3(const std::uint8_t* __restrict src,
                                                        std::uint8_t* __restrict dst, int width) {
  const __m128i swap = _mm_setr_epi8(2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9, 14, 13, 12, 15);
  int x = 0;
  for (; x + 6 <= width; x += 5) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 3 * x));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 3 * x), _mm_shuffle_epi8(v, swap));
  }
  row_to_bgr<std::uint8_t, 3>(src + 3 * x, dst + 3 * x, width - x);
}
#endif

template <class T>
void convert_row(const std::uint8_t* src, T* dst, int width, int channels) {
  switch (channels) {
    case 1:
      return row_to_bgr<T, 1>(src, dst, width);
    case 2:
      return row_to_bgr<T, 2>(src, dst, width);
    case 3:
#if defined(__x86_64__) && defined(__GNUC__)
      if constexpr (sizeof(T) == 1) {
        static const bool ssse3 = __builtin_cpu_supports("ssse3");
        if (ssse3) return rgb8_to_bgr_ssse3(src, dst, width);
      }
#endif
      return row_to_bgr<T, 3>(src, dst, width);
    default:
      return row_to_bgr<T, 4>(src, dst, width);
  }
}

}  // namespace

bool is_png(const std::uint8_t* data, std::size_t size) {
  return size >= sizeof(kSignature) && std::memcmp(data, kSignature, sizeof(kSignature)) == 0;
}

cv::Mat decode_png_fast(const std::uint8_t* data, std::size_t size) {
  if (!is_png(data, size)) return {};
  Scratch& s = scratch();
  if (!s.inflater) return {};

  // Chunks: length, type, payload, CRC over type + payload. IHDR first.
  std::size_t pos = sizeof(kSignature);
  int width = 0, height = 0, depth = 0, channels = 0;
  const std::uint8_t* idat = nullptr;  // the only IDAT's payload, or s.idat when several
  std::size_t idat_size = 0;
  int idat_chunks = 0;
  bool idat_done = false, seen_end = false;
  s.idat.clear();
  for (bool first = true; pos < size; first = false) {
    if (size - pos < 12) return {};  // truncated chunk header
    const std::uint32_t length = be32(data + pos);
    const std::uint8_t* type = data + pos + 4;
    const std::uint8_t* payload = type + 4;
    if (length > size - pos - 12) return {};  // truncated payload
    const bool critical = (type[0] & 0x20) == 0;
    if (critical) {
      const std::uint32_t crc = be32(payload + length);
      if (libdeflate_crc32(0, type, length + 4) != crc) return {};
    }
    if (first != is_type(type, "IHDR")) return {};
    if (is_type(type, "IHDR")) {
      if (length != 13) return {};
      const std::uint32_t w = be32(payload), h = be32(payload + 4);
      depth = payload[8];
      const int color = payload[9];
      const bool plain = payload[10] == 0 && payload[11] == 0 && payload[12] == 0;
      if (!plain || w == 0 || h == 0 || w > (1u << 24) || h > (1u << 24)) return {};
      if (depth != 8 && depth != 16) return {};
      switch (color) {
        case 0:
          channels = 1;
          break;
        case 2:
          channels = 3;
          break;
        case 4:
          channels = 2;
          break;
        case 6:
          channels = 4;
          break;
        default:
          return {};  // palette or invalid
      }
      width = static_cast<int>(w);
      height = static_cast<int>(h);
    } else if (is_type(type, "IDAT")) {
      if (idat_done) return {};  // IDATs must be consecutive
      if (++idat_chunks == 1) {
        idat = payload;
        idat_size = length;
      } else {
        if (idat_chunks == 2) s.idat.assign(idat, idat + idat_size);
        s.idat.insert(s.idat.end(), payload, payload + length);
      }
    } else {
      if (idat_chunks > 0) idat_done = true;
      if (is_type(type, "IEND")) {
        seen_end = true;
        break;
      }
      // tRNS changes how OpenCV expands the image; unknown critical chunks change meaning.
      if (is_type(type, "tRNS") || (critical && !is_type(type, "PLTE"))) return {};
    }
    pos += 12 + std::size_t{length};
  }
  if (!seen_end || idat_chunks == 0) return {};
  if (idat_chunks > 1) {
    idat = s.idat.data();
    idat_size = s.idat.size();
  }

  const int bpp = channels * depth / 8;
  const std::size_t row_bytes = static_cast<std::size_t>(width) * static_cast<std::size_t>(bpp);
  const std::size_t stride = row_bytes + 1;
  if (stride > kMaxInflated / static_cast<std::size_t>(height)) return {};
  const std::size_t expected = stride * static_cast<std::size_t>(height);
  if (s.inflated.size() < expected + kPad) s.inflated.resize(expected + kPad);
  std::size_t got = 0;
  if (libdeflate_zlib_decompress(s.inflater.get(), idat, idat_size, s.inflated.data(), expected,
                                 &got) != LIBDEFLATE_SUCCESS ||
      got != expected) {
    return {};
  }
  if (s.zero_row.size() < row_bytes + kPad) s.zero_row.resize(row_bytes + kPad, 0);

  cv::Mat out(height, width, depth == 8 ? CV_8UC3 : CV_16UC3);
  const UnfilterFn unfilter = unfilter_for(bpp);
  const std::uint8_t* prev = s.zero_row.data();
  for (int y = 0; y < height; ++y) {
    std::uint8_t* line = s.inflated.data() + static_cast<std::size_t>(y) * stride;
    std::uint8_t* row = line + 1;
    if (!unfilter(line[0], row, prev, row_bytes)) return {};
    if (depth == 8) {
      convert_row(row, out.ptr<std::uint8_t>(y), width, channels);
    } else {
      convert_row(row, out.ptr<std::uint16_t>(y), width, channels);
    }
    prev = row;
  }
  return out;
}

namespace {

void put_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 24));
  out.push_back(static_cast<std::uint8_t>(v >> 16));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

// Appends a chunk: length, type, data, CRC of type + data.
void put_chunk(std::vector<std::uint8_t>& out, const char* type, const std::uint8_t* data,
               std::size_t size) {
  put_be32(out, static_cast<std::uint32_t>(size));
  const std::size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data, data + size);
  put_be32(out, libdeflate_crc32(0, out.data() + start, size + 4));
}

struct Encoder {
  struct Free {
    void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
  };
  int level = -1;
  std::unique_ptr<libdeflate_compressor, Free> deflater;
  std::vector<std::uint8_t> raw;       // filter byte + file-order row bytes, per row
  std::vector<std::uint8_t> previous;  // the previous row in file order
  std::vector<std::uint8_t> row;
};

}  // namespace

std::vector<std::uint8_t> encode_png(const cv::Mat& image, int level) {
  const int depth = image.depth(), channels = image.channels();
  if ((depth != CV_8U && depth != CV_16U) || (channels != 1 && channels != 3) || image.empty()) {
    throw std::invalid_argument(
        "encode_png: expected an 8- or 16-bit gray or BGR image, found "
        "OpenCV type " +
        std::to_string(image.type()) + " of " + std::to_string(image.cols) + "x" +
        std::to_string(image.rows));
  }
  thread_local Encoder e;
  if (!e.deflater || e.level != level) {
    e.deflater.reset(libdeflate_alloc_compressor(level));
    e.level = level;
    if (!e.deflater) throw std::invalid_argument("encode_png: level must be 0..12");
  }
  const int bytes_per_sample = depth == CV_16U ? 2 : 1;
  const std::size_t bpp = static_cast<std::size_t>(channels) * bytes_per_sample;
  const std::size_t stride = bpp * static_cast<std::size_t>(image.cols);
  e.raw.resize((stride + 1) * static_cast<std::size_t>(image.rows));
  e.previous.assign(stride, 0);
  e.row.resize(stride);
  for (int y = 0; y < image.rows; ++y) {
    // The row in file order: RGB, 16-bit big-endian.
    std::uint8_t* row = e.row.data();
    if (depth == CV_8U) {
      const std::uint8_t* src = image.ptr<std::uint8_t>(y);
      if (channels == 1) {
        std::memcpy(row, src, stride);
      } else {
        for (int x = 0; x < image.cols; ++x, src += 3, row += 3) {
          row[0] = src[2];
          row[1] = src[1];
          row[2] = src[0];
        }
      }
    } else {
      const std::uint16_t* src = image.ptr<std::uint16_t>(y);
      for (int x = 0; x < image.cols; ++x, src += channels) {
        for (int c = 0; c < channels; ++c) {
          const std::uint16_t v = src[channels == 3 ? 2 - c : c];
          *row++ = static_cast<std::uint8_t>(v >> 8);
          *row++ = static_cast<std::uint8_t>(v);
        }
      }
    }
    // Filter Up: each byte minus the byte above it (the first row: minus zero).
    std::uint8_t* out = e.raw.data() + static_cast<std::size_t>(y) * (stride + 1);
    out[0] = 2;
    for (std::size_t i = 0; i < stride; ++i) {
      out[1 + i] = static_cast<std::uint8_t>(e.row[i] - e.previous[i]);
    }
    std::swap(e.row, e.previous);
  }
  std::vector<std::uint8_t> compressed(
      libdeflate_zlib_compress_bound(e.deflater.get(), e.raw.size()));
  const std::size_t size = libdeflate_zlib_compress(e.deflater.get(), e.raw.data(), e.raw.size(),
                                                    compressed.data(), compressed.size());
  std::vector<std::uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<std::uint8_t> ihdr;
  put_be32(ihdr, static_cast<std::uint32_t>(image.cols));
  put_be32(ihdr, static_cast<std::uint32_t>(image.rows));
  ihdr.push_back(static_cast<std::uint8_t>(8 * bytes_per_sample));
  ihdr.push_back(channels == 3 ? 2 : 0);  // colour type: RGB or gray
  ihdr.insert(ihdr.end(), {0, 0, 0});     // deflate, adaptive filtering, no interlace
  png.reserve(size + 64);
  put_chunk(png, "IHDR", ihdr.data(), ihdr.size());
  put_chunk(png, "IDAT", compressed.data(), size);
  put_chunk(png, "IEND", nullptr, 0);
  return png;
}

}  // namespace vsr
