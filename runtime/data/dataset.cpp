#include "runtime/data/dataset.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <system_error>

#include "common/errors.h"

namespace vsr {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxExamples = 5;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// "a.png, b.png, c.png" or "a.png, ... e.png and 7 more".
std::string examples(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < kMaxExamples; ++i) {
    if (i) out += ", ";
    out += names[i];
  }
  if (names.size() > kMaxExamples) {
    out += " and " + std::to_string(names.size() - kMaxExamples) + " more";
  }
  return out;
}

std::string plural(std::size_t n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// The image files of a folder by stem. Two files with one stem go to `duplicates`.
struct Listing {
  std::map<std::string, std::string> by_stem;
  std::vector<std::string> duplicates;
};

Listing list_by_stem(const fs::path& dir) {
  Listing out;
  for (const auto& path : list_images(dir)) {
    const std::string name = path.filename().string();
    const std::string stem = path.stem().string();
    auto [it, inserted] = out.by_stem.emplace(stem, name);
    if (!inserted) out.duplicates.push_back(it->second + " / " + name);
  }
  return out;
}

std::string expected_contents(const LrVersion& lr) {
  return "it should contain GT/ and LR_5frames/ or LR_7frames/ (this run reads " + lr.folder + "/)";
}

}  // namespace

std::vector<std::size_t> DatasetIndex::sizes() const {
  std::vector<std::size_t> out;
  for (const auto& f : formats) out.push_back(f.size());
  return out;
}

std::size_t DatasetIndex::total() const {
  std::size_t n = 0;
  for (const auto& f : formats) n += f.size();
  return n;
}

const FormatIndex& DatasetIndex::at(const std::string& format) const {
  for (const auto& f : formats) {
    if (f.format.name == format) return f;
  }
  throw DataError("format '" + format + "' was not scanned in " + data_root.string());
}

bool is_image_file(const fs::path& path) {
  const std::string ext = lower(path.extension().string());
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

std::vector<fs::path> list_validation_images(const fs::path& dir) {
  const std::string contents =
      "it should hold the validation GT images (PNG or JPEG, e.g. 0000.png; LR frames are made "
      "from them)";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw DataError("validation folder " + dir.string() + " does not exist; " + contents);
  }
  auto files = list_images(dir);
  if (files.empty()) {
    throw DataError("validation folder " + dir.string() + " has no images; " + contents);
  }
  return files;
}

std::vector<fs::path> list_images(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw DataError("missing folder: " + dir.string());
  if (!fs::is_directory(dir, ec)) throw DataError("not a folder: " + dir.string());
  std::vector<fs::path> out;
  fs::directory_iterator it(dir, ec);
  if (ec) throw DataError("cannot list folder " + dir.string() + ": " + ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& p = it->path();
    const std::string name = p.filename().string();
    if (name.empty() || name[0] == '.' || !is_image_file(p)) continue;
    std::error_code file_ec;
    if (fs::is_regular_file(p, file_ec)) {
      out.push_back(p);
      continue;
    }
    // Named like an image but none: say so, instead of pairing the files around it.
    const std::string what = fs::is_directory(p, file_ec) ? "is a folder, not an image file"
                             : !fs::exists(p, file_ec)
                                 ? "is a symbolic link that leads nowhere (or in a loop)"
                                 : "is not a regular file (a device, pipe or socket)";
    throw DataError(p.string() + " " + what + "; remove or rename it", p.string());
  }
  if (ec) throw DataError("cannot list folder " + dir.string() + ": " + ec.message());
  std::sort(out.begin(), out.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
  return out;
}

DatasetIndex scan_dataset(const fs::path& data_root, const std::string& category,
                          const std::string& lr_version, const std::vector<std::string>& formats) {
  std::vector<std::string> problems;
  const CategoryInfo* cat = find_category(category);
  const LrVersion* lr = find_lr_version(lr_version);
  if (!cat) {
    problems.push_back("unknown category '" + category + "'; known: " + known_category_names());
  }
  if (!lr) {
    problems.push_back("unknown lr_version '" + lr_version +
                       "'; known: " + known_lr_version_names());
  }
  if (formats.empty()) problems.push_back("no formats requested");
  std::set<std::string> seen;
  for (const auto& name : formats) {
    if (!find_format(name)) {
      problems.push_back("unknown format '" + name + "'; known: " + known_format_names());
    }
    if (!seen.insert(name).second) problems.push_back("format '" + name + "' is listed twice");
  }

  DatasetIndex index;
  index.data_root = data_root;
  index.category = category;
  if (lr) index.lr_version = *lr;

  if (problems.empty() && !is_dir(data_root)) {
    problems.push_back("missing folder: data_root " + data_root.string() +
                       " does not exist; set DATA.data_root to the folder that holds " + cat->root +
                       "/");
  }
  if (problems.empty() && !is_dir(data_root / cat->root)) {
    problems.push_back("missing folder: " + (data_root / cat->root).string() + " (category " +
                       category + "); it should contain the format folders, e.g. " +
                       format_info(formats.front()).folder + "/");
  }

  if (problems.empty()) {
    for (const auto& name : formats) {
      const FormatInfo& info = format_info(name);
      FormatIndex fi;
      fi.format = info;
      fi.dir = data_root / cat->root / info.folder;
      fi.gt_dir = fi.dir / "GT";
      fi.lr_dir = fi.dir / lr->folder;
      const std::string where = name + " (" + fi.dir.string() + ")";

      if (!is_dir(fi.dir)) {
        problems.push_back("missing folder: " + fi.dir.string() + " (format " + name + ", " +
                           std::to_string(info.width) + "x" + std::to_string(info.height) + "); " +
                           expected_contents(*lr) + "; check with: ls -R " + fi.dir.string() + "/");
        continue;
      }
      bool folders_ok = true;
      if (!is_dir(fi.gt_dir)) {
        problems.push_back("missing folder: " + fi.gt_dir.string() + " (format " + name + "); " +
                           expected_contents(*lr));
        folders_ok = false;
      }
      if (!is_dir(fi.lr_dir)) {
        std::string hint;
        for (const auto& other : all_lr_versions()) {
          if (other.name != lr->name && is_dir(fi.dir / other.folder)) {
            hint = "; found " + other.folder + "/ instead: set lr_version: " + other.name +
                   " or create " + lr->folder + "/";
          }
        }
        problems.push_back("missing folder: " + fi.lr_dir.string() + " (format " + name + "); " +
                           expected_contents(*lr) + hint);
        folders_ok = false;
      }
      if (!folders_ok) continue;

      Listing gt, lrs;
      try {
        gt = list_by_stem(fi.gt_dir);
        lrs = list_by_stem(fi.lr_dir);
      } catch (const DataError& e) {
        problems.push_back(name + ": " + e.what());
        continue;
      }
      if (gt.by_stem.empty() && lrs.by_stem.empty()) {
        problems.push_back("empty format " + where + ": no .png/.jpg/.jpeg images in GT/ or " +
                           lr->folder + "/");
        continue;
      }
      if (!gt.duplicates.empty()) {
        problems.push_back(where + ": " + plural(gt.duplicates.size(), "stem") +
                           " with two files in GT/, e.g. " + examples(gt.duplicates));
      }
      if (!lrs.duplicates.empty()) {
        problems.push_back(where + ": " + plural(lrs.duplicates.size(), "stem") +
                           " with two files in " + lr->folder + "/, e.g. " +
                           examples(lrs.duplicates));
      }
      std::vector<std::string> gt_only, lr_only;
      for (const auto& [stem, file] : gt.by_stem) {
        auto it = lrs.by_stem.find(stem);
        if (it == lrs.by_stem.end()) {
          gt_only.push_back(file);
        } else {
          fi.pairs.push_back({stem, file, it->second});
        }
      }
      for (const auto& [stem, file] : lrs.by_stem) {
        if (!gt.by_stem.count(stem)) lr_only.push_back(file);
      }
      if (!gt_only.empty()) {
        problems.push_back(where + ": " + plural(gt_only.size(), "GT file") + " of " +
                           std::to_string(gt.by_stem.size()) + " without a matching file in " +
                           lr->folder + "/, e.g. " + examples(gt_only));
      }
      if (!lr_only.empty()) {
        problems.push_back(where + ": " + plural(lr_only.size(), "LR file") + " of " +
                           std::to_string(lrs.by_stem.size()) + " in " + lr->folder +
                           "/ without a matching file in GT/, e.g. " + examples(lr_only));
      }
      index.formats.push_back(std::move(fi));
    }
  }

  if (!problems.empty()) {
    std::string msg = "dataset " + data_root.string() + " (category " + category + ", lr_version " +
                      lr_version + "): " + plural(problems.size(), "problem") + "\n";
    for (const auto& p : problems) msg += "  - " + p + "\n";
    msg.pop_back();
    throw DataError(msg);
  }
  return index;
}

}  // namespace vsr
