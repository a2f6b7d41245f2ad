#include "runtime/data/pixels.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace vsr {

namespace {

// The one scale of each bit depth, as a float: both forms multiply by exactly this value.
constexpr float kScale8 = 1.0f / 255.0f;
constexpr float kScale16 = 1.0f / 65535.0f;

[[noreturn]] void bad_type(int cv_type) {
  throw std::invalid_argument(
      "micro-batch pixels must be 8- or 16-bit BGR images as decode makes them, found OpenCV "
      "type " +
      std::to_string(cv_type));
}

void check_block(const cv::Mat& img, const at::Tensor& dst, at::IntArrayRef expected,
                 c10::ScalarType dtype) {
  if (!dst.is_contiguous() || dst.sizes() != expected || dst.scalar_type() != dtype) {
    throw std::invalid_argument(
        "pixel block for a " + std::to_string(img.cols) + "x" + std::to_string(img.rows) +
        " image must be a contiguous " + c10::str(expected) + " " + c10::toString(dtype) +
        " tensor, found " + c10::str(dst.sizes()) + " " + c10::toString(dst.scalar_type()));
  }
}

// One row: converts, swaps BGR to RGB and de-interleaves. The baseline x86-64 build leaves
// this stride-3 loop scalar (a load, a convert and a multiply per value). 16-bit rows get an
// AVX2 clone, picked when the library loads on a CPU that has AVX2; 8-bit rows, the common
// case, an explicit AVX2 version (row_to_planes_avx2 below). All multiply each value by the
// same float, so their results are the same bits.
// Not under ThreadSanitizer: the clones' IFUNC resolvers run while the dynamic linker relocates
// the test binary, before TSan's runtime is set up, and crash it at load.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define VSR_PIXEL_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VSR_PIXEL_CLONES
#endif

template <class T>
inline void bgr_row_to_planes(const T* __restrict src, float* __restrict r, float* __restrict g,
                              float* __restrict b, int n, float scale) {
  for (int x = 0; x < n; ++x) {
    b[x] = static_cast<float>(src[3 * x]) * scale;
    g[x] = static_cast<float>(src[3 * x + 1]) * scale;
    r[x] = static_cast<float>(src[3 * x + 2]) * scale;
  }
}

// The same with the row read from its end (a flip along x).
template <class T>
inline void bgr_row_to_planes_reversed(const T* __restrict src, float* __restrict r,
                                       float* __restrict g, float* __restrict b, int n,
                                       float scale) {
  const T* last = src + 3 * (n - 1);
  for (int x = 0; x < n; ++x) {
    b[x] = static_cast<float>(last[-3 * x]) * scale;
    g[x] = static_cast<float>(last[-3 * x + 1]) * scale;
    r[x] = static_cast<float>(last[-3 * x + 2]) * scale;
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define VSR_PIXEL_AVX2 1
// Writes 8 floats of one channel: the bytes that mask_lo picks from lo and mask_hi from hi,
// times scale.
__attribute__((target("avx2"))) inline void gather_plane(float* dst, __m128i lo, __m128i hi,
                                                         __m128i mask_lo, __m128i mask_hi,
                                                         float scale) {
  const __m128i v = _mm_or_si128(_mm_shuffle_epi8(lo, mask_lo), _mm_shuffle_epi8(hi, mask_hi));
  _mm256_storeu_ps(
      dst, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)), _mm256_set1_ps(scale)));
}

// 8-bit rows with AVX2, 8 pixels a step: the 24 bytes are two overlapping 16-byte loads (bytes
// 0-15 and 8-23, so nothing outside the pixels is read), two byte shuffles per channel gather
// its 8 values (in reverse order for a flip along x), which are widened, converted and
// multiplied by the same float as the scalar loop: the same bits, a third of the instructions
// of what GCC makes of that stride-3 loop (tests/bench/README.md, data_bench).
template <bool kReversed>
__attribute__((target("avx2"))) void row_to_planes_avx2(const std::uint8_t* __restrict src,
                                                        float* __restrict r, float* __restrict g,
                                                        float* __restrict b, int n, float scale) {
  // For channel c, mask a takes the bytes 3k+c below 16 from the first load, mask c the rest
  // (at 3k+c-8) from the second; lane j holds pixel k = j, or 7-j reversed.
  const __m128i a0 =
      kReversed ? _mm_setr_epi8(-1, -1, 15, 12, 9, 6, 3, 0, -1, -1, -1, -1, -1, -1, -1, -1)
                : _mm_setr_epi8(0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i a1 =
      kReversed ? _mm_setr_epi8(-1, -1, -1, 13, 10, 7, 4, 1, -1, -1, -1, -1, -1, -1, -1, -1)
                : _mm_setr_epi8(1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i a2 =
      kReversed ? _mm_setr_epi8(-1, -1, -1, 14, 11, 8, 5, 2, -1, -1, -1, -1, -1, -1, -1, -1)
                : _mm_setr_epi8(2, 5, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i c0 =
      kReversed ? _mm_setr_epi8(13, 10, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1)
                : _mm_setr_epi8(-1, -1, -1, -1, -1, -1, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i c1 =
      kReversed ? _mm_setr_epi8(14, 11, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1)
                : _mm_setr_epi8(-1, -1, -1, -1, -1, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i c2 =
      kReversed ? _mm_setr_epi8(15, 12, 9, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1)
                : _mm_setr_epi8(-1, -1, -1, -1, -1, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1);
  int x = 0;
  for (; x + 8 <= n; x += 8) {
    const std::uint8_t* p = src + 3 * (kReversed ? n - 8 - x : x);
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8));
    gather_plane(b + x, lo, hi, a0, c0, scale);
    gather_plane(g + x, lo, hi, a1, c1, scale);
    gather_plane(r + x, lo, hi, a2, c2, scale);
  }
  if (x == n) return;
  // The last n-x pixels: the first n-x of the row reversed, or its last n-x.
  if (kReversed) {
    bgr_row_to_planes_reversed(src, r + x, g + x, b + x, n - x, scale);
  } else {
    bgr_row_to_planes(src + 3 * x, r + x, g + x, b + x, n - x, scale);
  }
}
#endif

void row_to_planes(const std::uint8_t* src, float* r, float* g, float* b, int n, float scale,
                   bool reversed) {
#ifdef VSR_PIXEL_AVX2
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) {
    if (reversed) return row_to_planes_avx2<true>(src, r, g, b, n, scale);
    return row_to_planes_avx2<false>(src, r, g, b, n, scale);
  }
#endif
  if (reversed) return bgr_row_to_planes_reversed(src, r, g, b, n, scale);
  bgr_row_to_planes(src, r, g, b, n, scale);
}

VSR_PIXEL_CLONES void row_to_planes(const std::uint16_t* src, float* r, float* g, float* b, int n,
                                    float scale, bool reversed) {
  if (reversed) return bgr_row_to_planes_reversed(src, r, g, b, n, scale);
  bgr_row_to_planes(src, r, g, b, n, scale);
}

// A row copied with its pixels in reverse order (a flip along x), 8-bit BGR: five pixels per
// 16-byte shuffle (pshufb in the AVX2 clone). Each load is the 16 bytes ending with the last
// byte of source pixel n-1-x, so it starts one byte before pixel n-5-x; each store's 16th byte
// is the next pixel's first, written again by the next store or the tail loop. The loop stops
// while a load still starts inside the row (n-5-x >= 1), so neither reads nor writes leave it.
typedef std::uint8_t Bytes16 __attribute__((vector_size(16)));

VSR_PIXEL_CLONES void reversed_row(const std::uint8_t* __restrict src, std::uint8_t* __restrict dst,
                                   int n) {
  int x = 0;
  for (; x + 6 <= n; x += 5) {
    Bytes16 v;
    std::memcpy(&v, src + 3 * (n - 5 - x) - 1, sizeof v);
    v = __builtin_shufflevector(v, v, 13, 14, 15, 10, 11, 12, 7, 8, 9, 4, 5, 6, 1, 2, 3, 0);
    std::memcpy(dst + 3 * x, &v, sizeof v);
  }
  for (; x < n; ++x) {
    const std::uint8_t* p = src + 3 * (n - 1 - x);
    dst[3 * x] = p[0];
    dst[3 * x + 1] = p[1];
    dst[3 * x + 2] = p[2];
  }
}

// The same for 16-bit BGR, a pixel at a time.
void reversed_row(const std::uint16_t* __restrict src, std::uint16_t* __restrict dst, int n) {
  for (int x = 0; x < n; ++x) {
    const std::uint16_t* p = src + 3 * (n - 1 - x);
    dst[3 * x] = p[0];
    dst[3 * x + 1] = p[1];
    dst[3 * x + 2] = p[2];
  }
}

// One pass that converts, swaps BGR to RGB, transposes HWC to CHW and flips.
template <class T>
void bgr_to_chw(const cv::Mat& img, float* dst, float scale, Flips flips) {
  const std::size_t plane = static_cast<std::size_t>(img.rows) * img.cols;
  for (int y = 0; y < img.rows; ++y) {
    float* r = dst + static_cast<std::size_t>(y) * img.cols;
    row_to_planes(img.ptr<T>(flips.y ? img.rows - 1 - y : y), r, r + plane, r + 2 * plane, img.cols,
                  scale, flips.x);
  }
}

// raw_to_float_rgb on the host: the rows of every image converted by the float form's own row
// function (so the same bits), split over LibTorch's intra-op threads.
at::Tensor cpu_raw_to_float_rgb(const at::Tensor& t, bool wide) {
  const std::int64_t d = t.dim();
  const std::int64_t H = t.size(d - 3);
  const std::int64_t W = t.size(d - 2);
  std::vector<std::int64_t> sizes(t.sizes().begin(), t.sizes().end() - 3);
  sizes.insert(sizes.end(), {3, H, W});
  at::Tensor out = at::empty(sizes, t.options().dtype(at::kFloat));
  const std::int64_t rows = t.numel() / (3 * W);
  if (rows == 0) return out;
  const auto* src = static_cast<const std::uint8_t*>(t.data_ptr());
  float* dst = out.data_ptr<float>();
  const std::size_t row_bytes = static_cast<std::size_t>(W) * 3 * t.element_size();
  const std::size_t plane = static_cast<std::size_t>(H) * W;
  at::parallel_for(
      0, rows, std::max<std::int64_t>(1, 16384 / W), [&](std::int64_t a, std::int64_t b) {
        for (std::int64_t row = a; row < b; ++row) {
          const std::uint8_t* in = src + row_bytes * row;
          float* r = dst + 3 * plane * (row / H) + static_cast<std::size_t>(row % H) * W;
          if (wide) {
            row_to_planes(reinterpret_cast<const std::uint16_t*>(in), r, r + plane, r + 2 * plane,
                          static_cast<int>(W), kScale16, false);
          } else {
            row_to_planes(in, r, r + plane, r + 2 * plane, static_cast<int>(W), kScale8, false);
          }
        }
      });
  return out;
}

}  // namespace

c10::ScalarType raw_pixel_dtype(int cv_type) {
  switch (cv_type) {
    case CV_8UC3:
      return at::kByte;
    case CV_16UC3:
      return at::kShort;
    default:
      bad_type(cv_type);
  }
}

void copy_float_rgb(const cv::Mat& img, const at::Tensor& dst, Flips flips) {
  check_block(img, dst, {3, img.rows, img.cols}, at::kFloat);
  float* out = dst.data_ptr<float>();
  switch (img.type()) {
    case CV_8UC3:
      return bgr_to_chw<std::uint8_t>(img, out, kScale8, flips);
    case CV_16UC3:
      return bgr_to_chw<std::uint16_t>(img, out, kScale16, flips);
    default:
      bad_type(img.type());
  }
}

void copy_raw(const cv::Mat& img, const at::Tensor& dst, Flips flips) {
  check_block(img, dst, {img.rows, img.cols, 3}, raw_pixel_dtype(img.type()));
  const std::size_t pixel = img.elemSize();
  const std::size_t row = static_cast<std::size_t>(img.cols) * pixel;
  auto* out = static_cast<std::uint8_t*>(dst.data_ptr());
  if (!flips.x && !flips.y && img.isContinuous()) {
    std::memcpy(out, img.data, row * img.rows);
    return;
  }
  for (int y = 0; y < img.rows; ++y) {
    const std::uint8_t* src = img.ptr(flips.y ? img.rows - 1 - y : y);
    std::uint8_t* to = out + row * y;
    if (!flips.x) {
      std::memcpy(to, src, row);
      continue;
    }
    if (pixel == 3) {
      reversed_row(src, to, img.cols);
    } else {
      reversed_row(reinterpret_cast<const std::uint16_t*>(src),
                   reinterpret_cast<std::uint16_t*>(to), img.cols);
    }
  }
}

bool is_raw_pixels(const at::Tensor& t) {
  return t.scalar_type() == at::kByte || t.scalar_type() == at::kShort;
}

namespace {

// raw_to_float_rgb's check of its input: throws unless t is [..., H, W, 3] uint8 or int16.
void check_raw(const at::Tensor& t) {
  if (!is_raw_pixels(t) || t.dim() < 3 || t.size(-1) != 3) {
    throw std::invalid_argument("raw pixels must be [..., H, W, 3] uint8 or int16, found " +
                                c10::str(t.sizes()) + " " + c10::toString(t.scalar_type()));
  }
}

}  // namespace

at::Tensor raw_to_float_rgb(const at::Tensor& t) {
  if (t.scalar_type() == at::kFloat) return t;
  check_raw(t);
  if (t.device().is_cpu() && t.is_contiguous()) {
    return cpu_raw_to_float_rgb(t, t.scalar_type() == at::kShort);
  }
  return raw_to_float_rgb_by_ops(t);
}

at::Tensor raw_to_float_rgb_by_ops(const at::Tensor& t) {
  check_raw(t);
  const bool wide = t.scalar_type() == at::kShort;
  // int16 holds the bits of uint16: widen and mask back to 0..65535.
  const at::Tensor values = wide ? t.to(at::kInt).bitwise_and(0xFFFF) : t;
  const std::int64_t d = t.dim();
  std::vector<std::int64_t> order;
  std::vector<std::int64_t> sizes;
  for (std::int64_t i = 0; i < d - 3; ++i) {
    order.push_back(i);
    sizes.push_back(t.size(i));
  }
  order.insert(order.end(), {d - 1, d - 3, d - 2});
  sizes.insert(sizes.end(), {3, t.size(d - 3), t.size(d - 2)});
  at::Tensor out = at::empty(sizes, t.options().dtype(at::kFloat));
  out.copy_(values.permute(order).flip({d - 3}));  // BGR -> RGB
  // The scale as a double that holds the float value exactly, so the kernel multiplies by
  // the same float as the host path.
  out.mul_(static_cast<double>(wide ? kScale16 : kScale8));
  return out;
}

}  // namespace vsr
