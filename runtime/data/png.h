// A PNG decoder for the data path's hot case, about twice as fast as cv::imread: libdeflate
// inflates the whole image in one call (zlib streams it in small pieces), then the rows are
// unfiltered and converted to OpenCV's layout in one pass each, while they are in cache.
//
// It decodes non-interlaced 8- and 16-bit gray, gray+alpha, RGB and RGBA without a tRNS chunk,
// which is what image tools write for video frames and patches. Anything else (palette, 1/2/4
// bits, interlaced, tRNS, and any file it finds damaged) is left to OpenCV, so the result is
// always what cv::imread(IMREAD_COLOR | IMREAD_ANYDEPTH) gives: BGR, CV_8UC3 or CV_16UC3, gray
// expanded, alpha dropped. tests/runtime/png_test.cpp compares the two byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>

#include <opencv2/core.hpp>

namespace vsr {

// True when data starts with the PNG signature.
bool is_png(const std::uint8_t* data, std::size_t size);

// Decodes a PNG in memory as cv::imread(IMREAD_COLOR | IMREAD_ANYDEPTH) would. Returns an empty
// Mat when the file is not one this decoder takes (see above) or does not decode cleanly (bad
// CRC, truncated, wrong amount of image data): the caller then asks OpenCV, which either reads
// it or gives the error. Never throws for bad data.
cv::Mat decode_png_fast(const std::uint8_t* data, std::size_t size);

}  // namespace vsr
