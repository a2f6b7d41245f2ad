// convert_bench: the conversion job (clip_source -> window -> patches -> make_lr -> stack ->
// dataset_writer) against the raw decode rate of the same file (cv::VideoCapture reading every
// frame, single thread), in one run, on a generated 1080p clip and on real footage (Debian's
// opencv-doc vtest.avi, 768x576). Not a unit test: it prints figures, see
// tests/bench/README.md.
//
//   convert_bench [--frames 120] [--workers 2] [--video FILE]...
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <unistd.h>

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "graph/pipeline.h"
#include "graph/registry.h"
#include "graph/spec.h"
#include "runtime/config/convert_config.h"
#include "runtime/config/specs.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// A 1080p clip of moving texture, MJPG, `frames` long.
void write_clip(const fs::path& path, int frames) {
  const cv::Size size(1920, 1080);
  cv::VideoWriter w(path.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 25, size);
  if (!w.isOpened()) throw std::runtime_error("cannot write " + path.string());
  cv::Mat base(size, CV_8UC3);
  cv::RNG rng(1);
  rng.fill(base, cv::RNG::UNIFORM, 0, 256);
  cv::GaussianBlur(base, base, cv::Size(0, 0), 3);
  cv::normalize(base, base, 0, 255, cv::NORM_MINMAX);
  for (int t = 0; t < frames; ++t) {
    cv::Mat shifted;
    const cv::Mat m = (cv::Mat_<double>(2, 3) << 1, 0, 2.0 * t, 0, 1, 1.0 * t);
    cv::warpAffine(base, shifted, m, size, cv::INTER_LINEAR, cv::BORDER_REFLECT);
    w.write(shifted);
  }
}

// Frames/s of VideoCapture reading every frame of `path` (one untimed pass first).
double raw_decode_fps(const fs::path& path, std::int64_t* frames) {
  for (int pass = 0; pass < 2; ++pass) {
    cv::VideoCapture cap(path.string());
    const auto start = Clock::now();
    std::int64_t n = 0;
    for (cv::Mat f; cap.read(f);) ++n;
    const double s = seconds_since(start);
    if (pass == 1) {
      *frames = n;
      return static_cast<double>(n) / s;
    }
  }
  return 0;
}

int run(const std::vector<fs::path>& videos, int workers) {
  const fs::path out =
      fs::temp_directory_path() / ("vsr_convert_bench_" + std::to_string(getpid()));
  std::printf(
      "convert_bench: defaults of the conversion config (small_540 x3, stride 10, 4 "
      "patches per window, area downscale), %d workers\n",
      workers);
  for (const auto& video : videos) {
    fs::remove_all(out);
    std::int64_t frames = 0;
    const double raw = raw_decode_fps(video, &frames);
    const std::string yaml = "SOURCES:\n  inputs: [" + nlohmann::json(video.string()).dump() +
                             "]\nOUTPUT:\n  output_root: " + nlohmann::json(out.string()).dump() +
                             "\nRUN:\n  num_workers: " + std::to_string(workers) + "\n";
    const ConvertConfig config = load_convert_config_text(yaml, "convert_bench");
    const json doc = compile_convert_spec(config, yaml);
    Pipeline pipeline(parse_spec(doc, Registry::global(), "convert_bench"), Registry::global());
    const auto start = Clock::now();
    pipeline.run();
    const double s = seconds_since(start);
    std::int64_t samples = 0;
    for (const auto& st : pipeline.stats()) {
      if (st.type == "dataset_writer") samples = static_cast<std::int64_t>(st.in);
    }
    const double fps = static_cast<double>(frames) / s;
    std::printf("\n== %s: %lld frames\n", video.string().c_str(), static_cast<long long>(frames));
    std::printf("  raw decode (VideoCapture, 1 thread): %.1f frames/s\n", raw);
    std::printf(
        "  conversion job: %.1f frames/s, %.1f samples/s (%lld samples incl. validation, "
        "%.2f s)\n",
        fps, static_cast<double>(samples) / s, static_cast<long long>(samples), s);
    std::printf("  job / raw decode: %.1f%% (target >= 70%%)\n", 100.0 * fps / raw);
    std::printf("%s", pipeline.stats_table().c_str());
  }
  fs::remove_all(out);
  return 0;
}

}  // namespace
}  // namespace vsr

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  int frames = 120, workers = 2;
  std::vector<fs::path> videos;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--frames" || a == "--workers" || a == "--video") && i + 1 < argc) {
      const std::string v = argv[++i];
      if (a == "--frames") frames = std::atoi(v.c_str());
      if (a == "--workers") workers = std::atoi(v.c_str());
      if (a == "--video") videos.emplace_back(v);
    } else {
      std::cerr << "usage: convert_bench [--frames 120] [--workers 2] [--video FILE]...\n"
                   "  converts a generated 1080p clip and vtest.avi (Debian's opencv-doc) with the "
                   "conversion defaults\n  and compares frames/s with VideoCapture's raw decode "
                   "rate of the same file\n";
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  try {
    if (videos.empty()) {
      const fs::path clip = fs::temp_directory_path() /
                            ("vsr_convert_bench_1080p_" + std::to_string(getpid()) + ".avi");
      vsr::write_clip(clip, frames);
      videos.push_back(clip);
      const fs::path real = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
      if (fs::exists(real)) {
        videos.push_back(real);
      } else {
        std::cerr << "convert_bench: " << real << " is missing (apt-get install opencv-doc); "
                  << "only the generated clip is measured\n";
      }
      const int rc = vsr::run(videos, workers);
      fs::remove(clip);
      return rc;
    }
    return vsr::run(videos, workers);
  } catch (const std::exception& e) {
    std::cerr << "convert_bench: " << e.what() << "\n";
    return 1;
  }
}
