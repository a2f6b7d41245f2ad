#include "stages/data/dataset_params.h"

#include <filesystem>

#include "runtime/data/formats.h"
#include "stages/params.h"

namespace vsr {

StageSchema& formats_param(StageSchema& s, const std::string& doc, bool required) {
  if (required) {
    s.required("formats", ParamType::kStringList, doc).non_empty();
  } else {
    s.optional("formats", ParamType::kStringList, json::array(), doc);
  }
  return s.choices(format_names()).shared();
}

StageSchema& dataset_params(StageSchema& s) {
  s.required("data_root", ParamType::kString, "dataset root (DATA.data_root)")
      .non_empty()
      .required("category", ParamType::kString, "dataset category")
      .choices(category_names())
      .required("lr_version", ParamType::kString, "LR frames per sample")
      .choices(lr_version_names());
  scale_param(s);
  formats_param(s, "formats, in this order");
  return scaled_formats_check(s);
}

StageSchema& scaled_formats_check(StageSchema& s) {
  return s.check("every format's size divides by the scale", [](const json& p, ParamProblems& out) {
    const int scale = p.at("scale").get<int>();
    for (const auto& name : p.at("formats")) {
      const FormatInfo& f = format_info(name.get<std::string>());
      if (f.width % scale == 0 && f.height % scale == 0) continue;
      out.add("formats", "format '" + f.name + "' (" + std::to_string(f.width) + "x" +
                             std::to_string(f.height) + ") is not divisible by the scale " +
                             std::to_string(scale));
    }
  });
}

StageSchema& dataset_folders_check(StageSchema& s) {
  return s.world_check(
      "data_root holds the GT and LR folders of every listed format",
      [](const json& p, ParamProblems& out) {
        namespace fs = std::filesystem;
        const std::string root = p.at("data_root");
        if (!fs::is_directory(root)) {
          out.add("data_root", "dataset folder " + root + " does not exist; check DATA.data_root");
          return;
        }
        const std::string category = p.at("category");
        const int frames = lr_version_info(p.at("lr_version")).frames;
        for (const auto& name : p.at("formats")) {
          const fs::path dir = format_dir(root, category, name.get<std::string>());
          for (const fs::path& sub : {gt_dir(dir), lr_dir(dir, frames)}) {
            if (fs::is_directory(sub)) continue;
            out.add("formats", "format " + name.get<std::string>() + ": folder " + sub.string() +
                                   " does not exist; check data_root, category "
                                   "and lr_version, or remove the format");
          }
        }
      });
}

}  // namespace vsr
