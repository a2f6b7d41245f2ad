// A PNG decoder (and encoder) for the data path's hot case, about twice as fast as cv::imread:
// libdeflate inflates the whole image in one call (zlib streams it in small pieces), then the rows
// are unfiltered and converted to OpenCV's layout in one pass each, while they are in cache.
//
// It decodes non-interlaced 8- and 16-bit gray, gray+alpha, RGB and RGBA without a tRNS chunk,
// which is what image tools write for video frames and patches. Anything else (palette, 1/2/4
// bits, interlaced, tRNS, and any file it finds damaged) is left to OpenCV, so the result is
// always what cv::imread(IMREAD_COLOR | IMREAD_ANYDEPTH) gives: BGR, CV_8UC3 or CV_16UC3, gray
// expanded, alpha dropped. tests/runtime/png_test.cpp compares the two byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

namespace vsr {

// True when data starts with the PNG signature.
bool is_png(const std::uint8_t* data, std::size_t size);

// Decodes a PNG in memory as cv::imread(IMREAD_COLOR | IMREAD_ANYDEPTH) would. Returns an empty
// Mat when the file is not one this decoder takes (see above) or does not decode cleanly (bad
// CRC, truncated, wrong amount of image data): the caller then asks OpenCV, which either reads
// it or gives the error. Never throws for bad data.
cv::Mat decode_png_fast(const std::uint8_t* data, std::size_t size);

// Encodes an 8- or 16-bit gray or BGR image (what OpenCV decodes, e.g. a dataset patch) as a
// PNG of the same depth and channels (RGB order in the file, 16-bit big-endian), with the Up
// filter on every row and libdeflate at `level` (1: fastest). About 4x faster than
// cv::imencode(".png") at its default, for files of about the same size; any PNG reader
// (cv::imread, Python's PIL) reads it back exactly. Throws std::invalid_argument for another
// type.
std::vector<std::uint8_t> encode_png(const cv::Mat& image, int level = 1);

}  // namespace vsr
