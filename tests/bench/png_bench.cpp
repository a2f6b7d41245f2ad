// png_bench: the decode stage's PNG reader (read_image_bgr, runtime/data/png.h) against cv::imread
// on the same files, one thread, CPU time. Not a unit test: it prints figures, see README.md.
//
// How fast a PNG decodes depends on how it was written (the row filters, the zlib effort), so
// the files are also re-encoded with libpng in three ways:
//   as-is     the files as found (mock data: OpenCV's writer, which uses Sub on every row)
//   sub       every row Sub
//   paeth     every row Paeth, the slowest filter to undo
//   adaptive  libpng's per-row choice among all five filters (libpng's own default)
// Every decoded image is also compared with cv::imread's, byte for byte.
//
//   png_bench [--dir DIR] [--limit N] [--passes N] [--level 0-9]
// Without --dir it writes a small mock dataset (small_540 GT + 7-frame LR stacks) to a temp dir.
#include <png.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "runtime/data/image.h"
#include "tests/support/mock_dataset.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;

volatile std::size_t g_sink = 0;  // keeps the decodes from being optimised away

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Options {
  fs::path dir;
  std::size_t limit = 48;
  int passes = 3;
  int level = 6;  // zlib's default, what most tools use
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--dir") {
      o.dir = value();
    } else if (a == "--limit") {
      o.limit = std::stoul(value());
    } else if (a == "--passes") {
      o.passes = std::stoi(value());
    } else if (a == "--level") {
      o.level = std::stoi(value());
    } else {
      throw std::invalid_argument("unknown option " + a +
                                  "; usage: png_bench [--dir DIR] [--limit N] [--passes N] "
                                  "[--level 0-9]");
    }
  }
  if (o.passes < 1 || o.level < 0 || o.level > 9) {
    throw std::invalid_argument("--passes must be >= 1 and --level 0..9");
  }
  return o;
}

// Writes img (8- or 16-bit BGR, as cv::imread gives) as an RGB PNG with libpng.
void write_png(const fs::path& path, const cv::Mat& bgr, int filters, int level) {
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot write " + path.string());
  png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(p);
  if (setjmp(png_jmpbuf(p))) {
    png_destroy_write_struct(&p, &info);
    std::fclose(f);
    throw std::runtime_error("libpng failed writing " + path.string());
  }
  png_init_io(p, f);
  const int depth = rgb.depth() == CV_16U ? 16 : 8;
  png_set_IHDR(p, info, static_cast<png_uint_32>(rgb.cols), static_cast<png_uint_32>(rgb.rows),
               depth, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_set_filter(p, PNG_FILTER_TYPE_BASE, filters);
  png_set_compression_level(p, level);
  png_write_info(p, info);
  if (depth == 16) png_set_swap(p);  // samples are native-endian in memory
  for (int y = 0; y < rgb.rows; ++y) png_write_row(p, rgb.ptr<png_byte>(y));
  png_write_end(p, info);
  png_destroy_write_struct(&p, &info);
  std::fclose(f);
}

struct Result {
  double imread_ms = 0;  // CPU ms per file
  double ours_ms = 0;
  double mb = 0;  // mean file size
};

Result time_files(const std::vector<fs::path>& files, int passes) {
  Result r;
  for (const auto& f : files) r.mb += static_cast<double>(fs::file_size(f)) / 1e6;
  r.mb /= static_cast<double>(files.size());
  // Equality, and one untimed pass for the page cache.
  for (const auto& f : files) {
    const cv::Mat a = cv::imread(f.string(), cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH);
    const cv::Mat b = read_image_bgr(f);
    if (a.empty() || a.type() != b.type() || a.size() != b.size() ||
        cv::norm(a, b, cv::NORM_INF) != 0) {
      throw std::runtime_error("read_image_bgr differs from cv::imread on " + f.string());
    }
  }
  std::size_t sink = 0;
  double t = thread_cpu_s();
  for (int p = 0; p < passes; ++p) {
    for (const auto& f : files) {
      sink += cv::imread(f.string(), cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH).total();
    }
  }
  r.imread_ms = 1000.0 * (thread_cpu_s() - t) / (passes * static_cast<double>(files.size()));
  t = thread_cpu_s();
  for (int p = 0; p < passes; ++p) {
    for (const auto& f : files) sink += read_image_bgr(f).total();
  }
  r.ours_ms = 1000.0 * (thread_cpu_s() - t) / (passes * static_cast<double>(files.size()));
  g_sink = g_sink + sink;
  return r;
}

int run(const Options& o) {
  const fs::path tmp = fs::temp_directory_path() / ("vsr_png_bench_" + std::to_string(getpid()));
  fs::create_directories(tmp);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{tmp};

  fs::path source = o.dir;
  std::optional<testing::MockDataset> mock;
  if (source.empty()) {
    const int clips = static_cast<int>(std::max<std::size_t>(1, o.limit / 2));
    mock.emplace("mock", testing::MockDatasetOptions{{"small_540"}, {7}, clips, /*val_count=*/0},
                 tmp);
    source = mock->root();
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(source)) {
    if (e.is_regular_file() && e.path().extension() == ".png") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.size() > o.limit) files.resize(o.limit);
  if (files.empty()) throw std::runtime_error("no .png files under " + source.string());

  std::cout << "png_bench: " << files.size() << " PNG files from " << source.string() << ", "
            << o.passes << " timed passes, zlib level " << o.level
            << " for the re-encoded sets; 1 thread, CPU ms per file\n\n"
            << std::left << std::setw(10) << "encoding" << std::right << std::setw(9) << "MB/file"
            << std::setw(11) << "cv::imread" << std::setw(16) << "read_image_bgr" << std::setw(10)
            << "speedup"
            << "\n";
  struct Encoding {
    const char* name;
    int filters;  // 0: as found
  };
  for (const Encoding& e :
       {Encoding{"as-is", 0}, Encoding{"sub", PNG_FILTER_SUB}, Encoding{"paeth", PNG_FILTER_PAETH},
        Encoding{"adaptive", PNG_ALL_FILTERS}}) {
    std::vector<fs::path> set = files;
    if (e.filters != 0) {
      const fs::path dir = tmp / e.name;
      fs::create_directories(dir);
      for (std::size_t i = 0; i < files.size(); ++i) {
        set[i] = dir / (std::to_string(i) + ".png");
        write_png(set[i], cv::imread(files[i].string(), cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH),
                  e.filters, o.level);
      }
    }
    const Result r = time_files(set, o.passes);
    std::cout << std::left << std::setw(10) << e.name << std::right << std::fixed
              << std::setprecision(2) << std::setw(9) << r.mb << std::setw(11) << r.imread_ms
              << std::setw(16) << r.ours_ms << std::setw(9) << r.imread_ms / r.ours_ms << "x\n";
  }
  return 0;
}

}  // namespace
}  // namespace vsr

int main(int argc, char** argv) {
  try {
    return vsr::run(vsr::parse(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "png_bench: " << e.what() << "\n";
    return 1;
  }
}
