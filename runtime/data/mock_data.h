// Synthetic datasets in the spec's layout, for the demo, the tests and the benchmarks: textured
// content with real (sub-pixel) motion between frames, LR made by shifting and downscaling,
// exact sizes, deterministic by seed.
//
//   <root>/<category root>/<format folder>/GT/0000.png
//   <root>/<category root>/<format folder>/LR_5frames/0000.png, LR_7frames/0000.png
//   <root>/<category root>/Val/GT/0000.png
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace vsr {

struct MockDataOptions {
  std::filesystem::path root;
  std::vector<std::string> categories = {"general"};  // general, space, toon
  std::vector<std::string> formats = {"small_540"};   // format names
  std::vector<int> lr_versions = {5, 7};              // frame counts
  int count = 4;                                      // clips per format and category
  int val_count = 2;  // Val/GT images per category, at the size of formats[0]
  int scale = 3;      // must divide every format's sides
  std::uint64_t seed = 0;
};

struct MockDataSummary {
  std::size_t clips = 0;  // training samples written (per category and format)
  std::size_t files = 0;  // PNG files written, Val/GT included
};

// Writes the dataset; existing files of the same names are replaced. Every invalid option is
// reported at once in a DataError.
MockDataSummary write_mock_dataset(const MockDataOptions& opts);

// One synthetic clip in memory (CV_32FC3 RGB in [0, 1]): the scene moves by `motion` GT pixels
// per frame, so LR frame t is the GT shifted by motion * (t - frames / 2), then downscaled by
// scale (area average). gt is the centre frame at full resolution.
struct MockClip {
  cv::Mat gt;
  std::vector<cv::Mat> frames;  // LR frames, gt_size / scale each
  cv::Point2d motion;           // GT pixels per frame
};

// style is a category name (general: gradients, shapes, texture; space: stars and nebulae;
// toon: flat colours with outlines); unknown styles draw as general.
MockClip make_mock_clip(cv::Size gt_size, int frames, int scale, std::uint64_t seed,
                        const std::string& style = "general");

// A single still image of the same kind (for Val/GT).
cv::Mat make_mock_image(cv::Size size, std::uint64_t seed, const std::string& style = "general");

}  // namespace vsr
