// Indexing a dataset in the spec's layout: which GT/LR pairs each format has.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "runtime/data/formats.h"

namespace vsr {

// One training sample on disk: GT/<gt> and LR_Nframes/<lr>, same stem ("0001.png" and
// "0001.jpg" pair up).
struct ImagePair {
  std::string stem;
  std::string gt;  // file name inside FormatIndex::gt_dir
  std::string lr;  // file name inside FormatIndex::lr_dir
};

// The pairs of one format, sorted by stem (byte order).
struct FormatIndex {
  FormatInfo format;
  std::filesystem::path dir;     // <category root>/<format folder>
  std::filesystem::path gt_dir;  // dir/GT
  std::filesystem::path lr_dir;  // dir/LR_7frames
  std::vector<ImagePair> pairs;

  std::size_t size() const { return pairs.size(); }
  std::filesystem::path gt_path(std::size_t i) const { return gt_dir / pairs.at(i).gt; }
  std::filesystem::path lr_path(std::size_t i) const { return lr_dir / pairs.at(i).lr; }
};

// Every requested format of one category and LR version, in the order requested.
struct DatasetIndex {
  std::filesystem::path data_root;
  std::string category;
  LrVersion lr_version;
  std::vector<FormatIndex> formats;

  // Number of pairs per format, in order (what StepSampler takes).
  std::vector<std::size_t> sizes() const;
  std::size_t total() const;
  // Throws DataError when the format was not scanned.
  const FormatIndex& at(const std::string& format) const;
};

// True for .png, .jpg and .jpeg (any case).
bool is_image_file(const std::filesystem::path& path);

// Scans <data_root>/<category root>/<format folder>/{GT,LR_Nframes} for each format and pairs
// the files by stem. lr_version is "5frames" or "7frames". Every problem (unknown names,
// missing folders, empty formats, GT without LR, LR without GT, two files with one stem) comes
// in one DataError with counts and the first few examples of each.
DatasetIndex scan_dataset(const std::filesystem::path& data_root, const std::string& category,
                          const std::string& lr_version, const std::vector<std::string>& formats);

// The image files directly in dir (hidden files skipped), sorted by name; e.g. Val/GT.
// Throws DataError when dir does not exist or is not a folder; an empty folder gives {}.
std::vector<std::filesystem::path> list_images(const std::filesystem::path& dir);

// The validation GT images of dir (Val/GT), as list_images; a missing folder or one without
// images is a DataError saying what the folder should hold.
std::vector<std::filesystem::path> list_validation_images(const std::filesystem::path& dir);

}  // namespace vsr
