#include "runtime/data/formats.h"

#include "common/errors.h"

namespace vsr {
namespace {

template <typename T>
std::vector<std::string> names_of(const std::vector<T>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) out.push_back(item.name);
  return out;
}

template <typename T>
std::string join_names(const std::vector<T>& items) {
  std::string out;
  for (const auto& name : names_of(items)) out += (out.empty() ? "" : ", ") + name;
  return out;
}

template <typename T>
const T* find_by_name(const std::vector<T>& items, const std::string& name) {
  for (const auto& item : items) {
    if (item.name == name) return &item;
  }
  return nullptr;
}

}  // namespace

const std::vector<FormatInfo>& all_formats() {
  static const std::vector<FormatInfo> formats = {
      {"small_540", 540, 540, "Patches"},
      {"medium_169", 720, 405, "Patches_Medium169"},
      {"large_720", 720, 720, "Patches_Large"},
      {"xlarge_1440", 1440, 810, "Patches_XLarge169"},
      {"fullhd_1920", 1920, 1080, "Patches_FullHD"},
  };
  return formats;
}

const std::vector<CategoryInfo>& all_categories() {
  static const std::vector<CategoryInfo> categories = {
      {"general", "Universal/Mastermodell/Learn"},
      {"space", "Space/SpaceModel/Learn"},
      {"toon", "Toon/ToonModel/Learn"},
  };
  return categories;
}

const std::vector<LrVersion>& all_lr_versions() {
  static const std::vector<LrVersion> versions = {
      {"5frames", 5, "LR_5frames"},
      {"7frames", 7, "LR_7frames"},
  };
  return versions;
}

const FormatInfo* find_format(const std::string& name) { return find_by_name(all_formats(), name); }

const CategoryInfo* find_category(const std::string& name) {
  return find_by_name(all_categories(), name);
}

const LrVersion* find_lr_version(const std::string& name) {
  return find_by_name(all_lr_versions(), name);
}

const FormatInfo& format_info(const std::string& name) {
  if (const auto* f = find_format(name)) return *f;
  throw DataError("unknown format '" + name + "'; known formats: " + known_format_names());
}

const CategoryInfo& category_info(const std::string& name) {
  if (const auto* c = find_category(name)) return *c;
  throw DataError("unknown category '" + name + "'; known categories: " + known_category_names());
}

const LrVersion& lr_version_info(const std::string& name) {
  if (const auto* v = find_lr_version(name)) return *v;
  throw DataError("unknown lr_version '" + name + "'; known: " + known_lr_version_names());
}

const LrVersion& lr_version_for_frames(int frames) {
  for (const auto& v : all_lr_versions()) {
    if (v.frames == frames) return v;
  }
  throw DataError("no LR version with " + std::to_string(frames) +
                  " frames; known: " + known_lr_version_names());
}

std::vector<std::string> format_names() { return names_of(all_formats()); }
std::vector<std::string> category_names() { return names_of(all_categories()); }
std::vector<std::string> lr_version_names() { return names_of(all_lr_versions()); }

std::string known_format_names() { return join_names(all_formats()); }
std::string known_category_names() { return join_names(all_categories()); }
std::string known_lr_version_names() { return join_names(all_lr_versions()); }

namespace {
void check_divisible(const FormatInfo& format, int scale) {
  if (scale <= 0 || format.width % scale != 0 || format.height % scale != 0) {
    throw DataError("format " + format.name + " (" + std::to_string(format.width) + "x" +
                    std::to_string(format.height) + ") is not divisible by scale " +
                    std::to_string(scale) + "; use a scale that divides both sides");
  }
}
}  // namespace

int lr_width(const FormatInfo& format, int scale) {
  check_divisible(format, scale);
  return format.width / scale;
}

int lr_height(const FormatInfo& format, int scale) {
  check_divisible(format, scale);
  return format.height / scale;
}

std::vector<double> validation_shifts(int frames) {
  if (frames <= 0 || frames % 2 == 0) {
    throw DataError("validation shifts need an odd, positive frame count, got " +
                    std::to_string(frames));
  }
  std::vector<double> shifts;
  const int c = frames / 2;
  for (int i = 0; i < frames; ++i) shifts.push_back(0.5 * (i - c));
  return shifts;
}

std::filesystem::path category_dir(const std::filesystem::path& data_root,
                                   const std::string& category) {
  return data_root / category_info(category).root;
}

std::filesystem::path format_dir(const std::filesystem::path& data_root,
                                 const std::string& category, const std::string& format) {
  return category_dir(data_root, category) / format_info(format).folder;
}

std::filesystem::path gt_dir(const std::filesystem::path& format_dir) { return format_dir / "GT"; }

std::filesystem::path lr_dir(const std::filesystem::path& format_dir, int frames) {
  return format_dir / lr_version_for_frames(frames).folder;
}

std::filesystem::path val_gt_dir(const std::filesystem::path& data_root,
                                 const std::string& category) {
  return category_dir(data_root, category) / "Val" / "GT";
}

}  // namespace vsr
