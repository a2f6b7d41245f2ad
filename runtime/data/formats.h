// The dataset vocabulary of the spec: patch formats, categories, LR versions, validation
// shifts, and where each lives under data_root.
//
//   <data_root>/<category root>/<format folder>/GT/x.png
//   <data_root>/<category root>/<format folder>/LR_7frames/x.png   (7 frames stacked vertically)
//   <data_root>/<category root>/Val/GT/x.png
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace vsr {

// A patch format: GT size and folder name, e.g. small_540 = 540x540 in Patches/.
struct FormatInfo {
  std::string name;    // "small_540"
  int width = 0;       // GT width
  int height = 0;      // GT height
  std::string folder;  // "Patches"
  bool square() const { return width == height; }
};

// A category: its folder under data_root, e.g. general -> Universal/Mastermodell/Learn.
struct CategoryInfo {
  std::string name;  // "general"
  std::string root;  // "Universal/Mastermodell/Learn"
};

// An LR version: "7frames" -> 7 frames stacked in LR_7frames/.
struct LrVersion {
  std::string name;  // "7frames"
  int frames = 0;
  std::string folder;  // "LR_7frames"
};

// Every known entry, in the spec's order.
const std::vector<FormatInfo>& all_formats();
const std::vector<CategoryInfo>& all_categories();
const std::vector<LrVersion>& all_lr_versions();

// Lookups by name; nullptr when unknown (for validators that collect problems).
const FormatInfo* find_format(const std::string& name);
const CategoryInfo* find_category(const std::string& name);
const LrVersion* find_lr_version(const std::string& name);

// Lookups that throw DataError naming the known entries when the name is unknown.
const FormatInfo& format_info(const std::string& name);
const CategoryInfo& category_info(const std::string& name);
const LrVersion& lr_version_info(const std::string& name);
// By frame count (5 or 7).
const LrVersion& lr_version_for_frames(int frames);

// The names, in the spec's order: for choices of params and config keys.
std::vector<std::string> format_names();
std::vector<std::string> category_names();
std::vector<std::string> lr_version_names();
// "small_540, medium_169, ..." for error messages.
std::string known_format_names();
std::string known_category_names();
std::string known_lr_version_names();

// LR frame size of a format at a scale: 540x540 at x3 -> 180x180. Throws DataError when the
// GT size is not divisible by the scale.
int lr_width(const FormatInfo& format, int scale);
int lr_height(const FormatInfo& format, int scale);

// Validation shifts in pixels for T frames: 0.5 px apart, centred on 0.
// 5 -> [-1, -0.5, 0, 0.5, 1]; 7 -> [-1.5, ..., 1.5]. T must be odd and positive.
std::vector<double> validation_shifts(int frames);

// <data_root>/Universal/Mastermodell/Learn
std::filesystem::path category_dir(const std::filesystem::path& data_root,
                                   const std::string& category);
// <data_root>/<category root>/Patches
std::filesystem::path format_dir(const std::filesystem::path& data_root,
                                 const std::string& category, const std::string& format);
// <format dir>/GT
std::filesystem::path gt_dir(const std::filesystem::path& format_dir);
// <format dir>/LR_7frames
std::filesystem::path lr_dir(const std::filesystem::path& format_dir, int frames);
// <data_root>/<category root>/Val/GT
std::filesystem::path val_gt_dir(const std::filesystem::path& data_root,
                                 const std::string& category);

}  // namespace vsr
