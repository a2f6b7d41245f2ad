#include "runtime/data/mock_data.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

#include "common/errors.h"
#include "runtime/data/formats.h"
#include "runtime/data/image.h"
#include "runtime/data/rng.h"

namespace vsr {
namespace {

constexpr double kPi = 3.14159265358979323846;

cv::Scalar random_colour(Rng& rng, double lo = 0, double hi = 255) {
  return cv::Scalar(rng.uniform(lo, hi), rng.uniform(lo, hi), rng.uniform(lo, hi));
}

cv::Point random_point(Rng& rng, cv::Size size) {
  return cv::Point(static_cast<int>(rng.below(size.width)),
                   static_cast<int>(rng.below(size.height)));
}

int random_int(Rng& rng, int lo, int hi) {  // [lo, hi]
  return lo + static_cast<int>(rng.below(static_cast<std::uint64_t>(hi - lo + 1)));
}

// Uniform noise on a grid of cell_px-pixel cells, upsampled bicubically: smooth blobs of
// about cell_px pixels (1: per-pixel grain). CV_32FC3, roughly in [0, 1].
cv::Mat smooth_noise(cv::Size size, int cell_px, std::uint64_t seed) {
  const int cw = std::max(2, size.width / std::max(1, cell_px));
  const int ch = std::max(2, size.height / std::max(1, cell_px));
  cv::Mat grid(ch, cw, CV_32FC3);
  cv::RNG rng(seed | 1);
  rng.fill(grid, cv::RNG::UNIFORM, 0.0, 1.0);
  cv::Mat out;
  cv::resize(grid, out, size, 0, 0, cv::INTER_CUBIC);
  return out;
}

// A linear colour ramp, 8-bit: c0 + cx * x / w + cy * y / h per channel.
cv::Mat gradient(cv::Size size, const cv::Scalar& c0, const cv::Scalar& cx, const cv::Scalar& cy) {
  cv::Mat xr(1, size.width, CV_32F), yr(size.height, 1, CV_32F);
  for (int x = 0; x < size.width; ++x) xr.at<float>(0, x) = static_cast<float>(x) / size.width;
  for (int y = 0; y < size.height; ++y) yr.at<float>(y, 0) = static_cast<float>(y) / size.height;
  const cv::Mat xs = cv::repeat(xr, size.height, 1);
  const cv::Mat ys = cv::repeat(yr, 1, size.width);
  std::vector<cv::Mat> channels(3);
  for (int k = 0; k < 3; ++k) channels[k] = c0[k] + cx[k] * xs + cy[k] * ys;
  cv::Mat merged, out;
  cv::merge(channels, merged);
  merged.convertTo(out, CV_8U);
  return out;
}

std::vector<cv::Point> rotated_rect(Rng& rng, cv::Size size, int max_side) {
  const cv::RotatedRect r(random_point(rng, size),
                          cv::Size2f(static_cast<float>(random_int(rng, 6, max_side)),
                                     static_cast<float>(random_int(rng, 6, max_side))),
                          static_cast<float>(rng.uniform(0, 180)));
  cv::Point2f corners[4];
  r.points(corners);
  std::vector<cv::Point> pts;
  for (const auto& p : corners) pts.emplace_back(cv::Point(cvRound(p.x), cvRound(p.y)));
  return pts;
}

// A random closed shape; filled in `fill`, outlined in `outline` when thickness > 0.
void draw_shape(cv::Mat& img, Rng& rng, const cv::Scalar& fill, const cv::Scalar& outline,
                int outline_thickness) {
  const cv::Size size = img.size();
  const int max_side = std::max(12, std::min(size.width, size.height) / 3);
  switch (rng.below(3)) {
    case 0: {
      const cv::Point c = random_point(rng, size);
      const int r = random_int(rng, 4, max_side / 2);
      cv::circle(img, c, r, fill, cv::FILLED, cv::LINE_AA);
      if (outline_thickness > 0) cv::circle(img, c, r, outline, outline_thickness, cv::LINE_AA);
      break;
    }
    case 1: {
      const auto pts = rotated_rect(rng, size, max_side);
      cv::fillConvexPoly(img, pts, fill, cv::LINE_AA);
      if (outline_thickness > 0) {
        cv::polylines(img, pts, true, outline, outline_thickness, cv::LINE_AA);
      }
      break;
    }
    default: {
      const cv::Point c = random_point(rng, size);
      const cv::Size axes(random_int(rng, 4, max_side / 2), random_int(rng, 4, max_side / 2));
      const double angle = rng.uniform(0, 180);
      cv::ellipse(img, c, axes, angle, 0, 360, fill, cv::FILLED, cv::LINE_AA);
      if (outline_thickness > 0) {
        cv::ellipse(img, c, axes, angle, 0, 360, outline, outline_thickness, cv::LINE_AA);
      }
      break;
    }
  }
}

void draw_text(cv::Mat& img, Rng& rng, const cv::Scalar& colour) {
  static const char kChars[] = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789";
  std::string text;
  const int len = random_int(rng, 3, 7);
  for (int i = 0; i < len; ++i) text += kChars[rng.below(sizeof(kChars) - 1)];
  cv::putText(img, text, random_point(rng, img.size()), cv::FONT_HERSHEY_SIMPLEX,
              rng.uniform(0.4, 2.2), colour, random_int(rng, 1, 3), cv::LINE_AA);
}

// Parallel lines a few pixels apart: fine detail that aliases when downscaled.
void draw_hatching(cv::Mat& img, Rng& rng, const cv::Scalar& colour) {
  const cv::Point origin = random_point(rng, img.size());
  const double angle = rng.uniform(0, kPi);
  const double spacing = rng.uniform(2.5, 6.0);
  const int lines = random_int(rng, 6, 20);
  const double length = rng.uniform(30, 120);
  const cv::Point2d dir(std::cos(angle), std::sin(angle));
  const cv::Point2d normal(-dir.y, dir.x);
  for (int i = 0; i < lines; ++i) {
    const cv::Point2d a = cv::Point2d(origin) + normal * (spacing * i);
    const cv::Point2d b = a + dir * length;
    cv::line(img, cv::Point(cvRound(a.x), cvRound(a.y)), cv::Point(cvRound(b.x), cvRound(b.y)),
             colour, 1, cv::LINE_AA);
  }
}

cv::Mat to_float(const cv::Mat& img8) {
  cv::Mat out;
  img8.convertTo(out, CV_32F, 1.0 / 255.0);
  return out;
}

cv::Mat clamp01(const cv::Mat& img) {
  cv::Mat out = cv::max(img, 0.0);
  return cv::min(out, 1.0);
}

cv::Mat general_scene(cv::Size size, Rng& rng) {
  cv::Mat img = gradient(size, random_colour(rng, 30, 200), random_colour(rng, -80, 80),
                         random_colour(rng, -80, 80));
  const int shapes = random_int(rng, 12, 24);
  for (int i = 0; i < shapes; ++i) {
    const std::uint64_t kind = rng.below(10);
    if (kind < 6) {
      draw_shape(img, rng, random_colour(rng), random_colour(rng), 0);
    } else if (kind < 8) {
      cv::line(img, random_point(rng, size), random_point(rng, size), random_colour(rng),
               random_int(rng, 1, 5), cv::LINE_AA);
    } else if (kind < 9) {
      draw_text(img, rng, random_colour(rng));
    } else {
      draw_hatching(img, rng, random_colour(rng));
    }
  }
  cv::Mat f = to_float(img);
  cv::GaussianBlur(f, f, cv::Size(0, 0), 0.6);
  // Texture at three scales: large blobs, medium grain, pixel-level grain.
  const int large = std::max(2, std::min(size.width, size.height) / 40);
  f += (smooth_noise(size, large, rng.next()) - cv::Scalar::all(0.5)) * 0.25;
  f += (smooth_noise(size, 4, rng.next()) - cv::Scalar::all(0.5)) * 0.10;
  f += (smooth_noise(size, 1, rng.next()) - cv::Scalar::all(0.5)) * 0.04;
  return clamp01(f);
}

cv::Mat space_scene(cv::Size size, Rng& rng) {
  cv::Mat img(size, CV_8UC3, cv::Scalar::all(4));
  const double area = static_cast<double>(size.area());
  const int stars = static_cast<int>(area / 700);
  for (int i = 0; i < stars; ++i) {
    const double b = rng.uniform(60, 255);
    const cv::Scalar colour(b, b * rng.uniform(0.8, 1.0), b * rng.uniform(0.8, 1.0));
    const int r = rng.bernoulli(0.9) ? random_int(rng, 0, 1) : random_int(rng, 2, 3);
    cv::circle(img, random_point(rng, size), r, colour, cv::FILLED, cv::LINE_AA);
  }
  if (rng.bernoulli(0.7)) {
    const cv::Point c = random_point(rng, size);
    const int r = random_int(rng, std::min(size.width, size.height) / 10,
                             std::min(size.width, size.height) / 3);
    cv::circle(img, c, r, random_colour(rng, 40, 220), cv::FILLED, cv::LINE_AA);
    // A terminator: the night side of the planet.
    cv::circle(img, c + cv::Point(r / 3, r / 4), r, cv::Scalar::all(6), cv::FILLED, cv::LINE_AA);
  }
  cv::Mat f = to_float(img);
  const int side = std::min(size.width, size.height);
  cv::Mat nebula = smooth_noise(size, std::max(2, side / 6), rng.next()) * 0.7 +
                   smooth_noise(size, std::max(2, side / 30), rng.next()) * 0.3;
  nebula = nebula.mul(nebula);
  cv::Mat tint(size, CV_32FC3, random_colour(rng, 0.1, 0.5));
  f += nebula.mul(tint);
  f += (smooth_noise(size, 1, rng.next()) - cv::Scalar::all(0.5)) * 0.02;
  return clamp01(f);
}

cv::Mat toon_scene(cv::Size size, Rng& rng) {
  cv::Mat img(size, CV_8UC3, random_colour(rng, 80, 255));
  // Ground and sky.
  const int horizon = random_int(rng, size.height / 3, 2 * size.height / 3);
  cv::rectangle(img, cv::Rect(0, horizon, size.width, size.height - horizon),
                random_colour(rng, 40, 220), cv::FILLED);
  cv::line(img, cv::Point(0, horizon), cv::Point(size.width, horizon), cv::Scalar::all(10), 3,
           cv::LINE_AA);
  const int shapes = random_int(rng, 8, 16);
  const cv::Scalar ink = cv::Scalar::all(15);
  for (int i = 0; i < shapes; ++i)
    draw_shape(img, rng, random_colour(rng), ink, random_int(rng, 2, 4));
  if (rng.bernoulli(0.5)) draw_text(img, rng, ink);
  cv::Mat f = to_float(img);
  cv::GaussianBlur(f, f, cv::Size(0, 0), 0.5);
  return f;
}

cv::Mat make_scene(cv::Size size, std::uint64_t seed, const std::string& style) {
  Rng rng(seed);
  if (style == "space") return space_scene(size, rng);
  if (style == "toon") return toon_scene(size, rng);
  return general_scene(size, rng);
}

std::string file_name(int index) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d.png", index);
  return buf;
}

}  // namespace

cv::Mat make_mock_image(cv::Size size, std::uint64_t seed, const std::string& style) {
  if (size.width <= 0 || size.height <= 0) {
    throw std::invalid_argument("make_mock_image: empty size");
  }
  return make_scene(size, seed, style);
}

MockClip make_mock_clip(cv::Size gt_size, int frames, int scale, std::uint64_t seed,
                        const std::string& style) {
  if (frames <= 0 || scale <= 0 || gt_size.width <= 0 || gt_size.height <= 0 ||
      gt_size.width % scale != 0 || gt_size.height % scale != 0) {
    throw std::invalid_argument("make_mock_clip: need frames > 0 and a size divisible by scale");
  }
  Rng rng(seed);
  MockClip clip;
  const double speed = rng.uniform(0.6, 2.4);
  const double angle = rng.uniform(0, 2 * kPi);
  clip.motion = cv::Point2d(speed * std::cos(angle), speed * std::sin(angle));
  const int c = frames / 2;
  const int margin = static_cast<int>(std::ceil(speed * std::max(c, frames - 1 - c))) + 4;
  const cv::Mat scene = make_scene(gt_size + cv::Size(2 * margin, 2 * margin), rng.next(), style);

  for (int t = 0; t < frames; ++t) {
    cv::Mat frame;
    if (t == c) {
      frame = scene(cv::Rect(cv::Point(margin, margin), gt_size)).clone();
      clip.gt = frame;
    } else {
      // frame(x) = gt(x - motion * (t - c)) = scene(x + margin - motion * (t - c)).
      const double dx = clip.motion.x * (t - c), dy = clip.motion.y * (t - c);
      const cv::Matx23d m(1, 0, margin - dx, 0, 1, margin - dy);
      cv::warpAffine(scene, frame, m, gt_size, cv::INTER_CUBIC | cv::WARP_INVERSE_MAP,
                     cv::BORDER_REPLICATE);
    }
    clip.frames.push_back(downscale(frame, scale));
  }
  return clip;
}

MockDataSummary write_mock_dataset(const MockDataOptions& opts) {
  std::vector<std::string> problems;
  if (opts.root.empty()) problems.push_back("root is empty");
  if (opts.categories.empty()) problems.push_back("no categories");
  for (const auto& c : opts.categories) {
    if (!find_category(c)) {
      problems.push_back("unknown category '" + c + "'; known: " + known_category_names());
    }
  }
  if (opts.formats.empty()) problems.push_back("no formats");
  for (const auto& f : opts.formats) {
    const FormatInfo* info = find_format(f);
    if (!info) {
      problems.push_back("unknown format '" + f + "'; known: " + known_format_names());
    } else if (opts.scale > 0 && (info->width % opts.scale || info->height % opts.scale)) {
      problems.push_back("format " + f + " (" + std::to_string(info->width) + "x" +
                         std::to_string(info->height) + ") is not divisible by scale " +
                         std::to_string(opts.scale));
    }
  }
  if (opts.lr_versions.empty()) problems.push_back("no lr_versions");
  for (int v : opts.lr_versions) {
    if (v != 5 && v != 7) {
      problems.push_back("lr_versions holds " + std::to_string(v) + "; only 5 and 7 exist");
    }
  }
  if (opts.count < 0) problems.push_back("count must be >= 0");
  if (opts.val_count < 0) problems.push_back("val_count must be >= 0");
  if (opts.scale <= 0) problems.push_back("scale must be > 0");
  if (!problems.empty()) {
    std::string msg = "mock-data options:";
    for (const auto& p : problems) msg += "\n  - " + p;
    throw DataError(msg);
  }

  const int max_frames = *std::max_element(opts.lr_versions.begin(), opts.lr_versions.end());
  MockDataSummary summary;
  for (const auto& cat_name : opts.categories) {
    const std::filesystem::path cat_dir = category_dir(opts.root, cat_name);
    for (const auto& fmt_name : opts.formats) {
      const FormatInfo& fmt = format_info(fmt_name);
      const std::filesystem::path dir = cat_dir / fmt.folder;
      for (int i = 0; i < opts.count; ++i) {
        const std::uint64_t seed =
            hash_values(opts.seed, hash_string(cat_name), hash_string(fmt_name), i);
        const MockClip clip =
            make_mock_clip(cv::Size(fmt.width, fmt.height), max_frames, opts.scale, seed, cat_name);
        const std::string name = file_name(i);
        write_png_atomic(gt_dir(dir) / name, clip.gt);
        ++summary.files;
        for (int frames : opts.lr_versions) {
          const int first = max_frames / 2 - frames / 2;
          cv::Mat stack;
          cv::vconcat(std::vector<cv::Mat>(clip.frames.begin() + first,
                                           clip.frames.begin() + first + frames),
                      stack);
          write_png_atomic(lr_dir(dir, frames) / name, stack);
          ++summary.files;
        }
        ++summary.clips;
      }
    }
    const FormatInfo& val_fmt = format_info(opts.formats.front());
    for (int i = 0; i < opts.val_count; ++i) {
      const std::uint64_t seed =
          hash_values(opts.seed, hash_string(cat_name), hash_string("val"), i);
      write_png_atomic(val_gt_dir(opts.root, cat_name) / file_name(i),
                       make_mock_image(cv::Size(val_fmt.width, val_fmt.height), seed, cat_name));
      ++summary.files;
    }
  }
  return summary;
}

}  // namespace vsr
