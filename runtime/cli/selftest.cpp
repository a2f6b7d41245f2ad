#include "runtime/cli/selftest.h"

#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <sstream>

#include "common/errors.h"
#include "graph/pipeline.h"
#include "runtime/cli/compile.h"
#include "runtime/config/config.h"
#include "runtime/data/dataset.h"
#include "runtime/data/formats.h"
#include "runtime/data/mock_data.h"
#include "runtime/model/model.h"

namespace vsr {

namespace {

namespace fs = std::filesystem;

#ifndef VSR_SOURCE_DIR
#define VSR_SOURCE_DIR "."
#endif

// configs/ next to the working directory, else in the source tree this binary was built from.
fs::path find_configs() {
  for (const fs::path& p : {fs::path("configs"), fs::path(VSR_SOURCE_DIR) / "configs"}) {
    if (fs::exists(p / "train_general_7frames.yaml")) return p;
  }
  throw DataError("cannot find configs/ (looked in ./configs and " + std::string(VSR_SOURCE_DIR) +
                  "/configs); run from the project folder");
}

class Checklist {
 public:
  void check(const std::string& what, const std::function<std::string()>& body) {
    const auto start = std::chrono::steady_clock::now();
    std::string detail;
    bool ok = true;
    try {
      detail = body();
    } catch (const std::exception& e) {
      ok = false;
      detail = e.what();
    }
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << (ok ? "  [ok]   " : "  [FAIL] ") << what;
    if (!detail.empty()) std::cout << ": " << detail;
    std::cout << " (" << static_cast<int>(s * 1000) << " ms)" << std::endl;
    failures_ += ok ? 0 : 1;
  }
  int failures() const { return failures_; }

 private:
  int failures_ = 0;
};

}  // namespace

int run_selftest(const std::string& keep_dir) {
  const fs::path root =
      keep_dir.empty() ? fs::temp_directory_path() / ("vsr_selftest_" + std::to_string(getpid()))
                       : fs::path(keep_dir);
  fs::create_directories(root);
  const fs::path data = root / "dataset";
  std::cout << "vsr_flow selftest in " << root.string() << "\n";
  Checklist list;

  list.check("mock data for every category and format of the presets", [&] {
    MockDataOptions o;
    o.root = data;
    o.categories = category_names();
    o.formats = format_names();
    o.lr_versions = {5, 7};
    o.count = 1;
    o.val_count = 1;
    const auto summary = write_mock_dataset(o);
    return std::to_string(summary.files) + " files";
  });

  fs::path configs;
  list.check("presets found", [&] {
    configs = find_configs();
    return configs.string();
  });
  if (!configs.empty()) {
    for (const auto& entry : fs::directory_iterator(configs)) {
      if (!is_config_path(entry.path().string())) continue;
      const std::string name = entry.path().filename().string();
      if (config_file_kind(entry.path().string()) == ConfigKind::kConvert) {
        // Its footage is the user's: the spec alone is checked here.
        list.check("config " + name + " compiles and validates", [&] {
          const LoadedSpec loaded =
              load_spec_or_config(entry.path().string(), {}, CheckOptions{/*world=*/false});
          return std::to_string(loaded.spec.stages.size()) + " stages";
        });
        continue;
      }
      list.check("config " + name + " compiles, validates and finds its dataset", [&] {
        // Its outputs would go under the selftest's folder: a run the user made with the
        // config before (its checkpoints in ./experiments) is not this check's business.
        const LoadedSpec loaded = load_spec_or_config(
            entry.path().string(), {"DATA.data_root=" + data.string(),
                                    "OUTPUT.experiments_root=" + (root / "experiments").string()});
        const TrainConfig config =
            load_config(entry.path().string(), {"DATA.data_root=" + data.string()});
        const DatasetIndex index = scan_dataset(config.data.data_root, config.data.category,
                                                config.data.lr_version, config.data.formats);
        return std::to_string(loaded.spec.stages.size()) + " stages, " +
               std::to_string(index.total()) + " samples";
      });
    }
  }

  for (int frames : {5, 7}) {
    list.check("model with " + std::to_string(frames) + " frames", [&] {
      torch::NoGradGuard no_grad;
      VSRNet net(VSRNetOptions().base_channels(8).num_blocks(1).frames(frames).scale(3));
      const auto out = net->forward(torch::rand({1, frames, 3, 24, 20}));
      if (out.sizes() != torch::IntArrayRef({1, 3, 72, 60})) {
        throw RunError("output shape " + c10::str(out.sizes()));
      }
      std::ostringstream o;
      std::int64_t n = 0;
      for (const auto& p : net->parameters()) n += p.numel();
      o << "[1," << frames << ",3,24,20] -> [1,3,72,60], " << n << " parameters";
      return o.str();
    });
  }

  const fs::path experiments = root / "experiments";
  list.check("training: 4 steps with validation and a checkpoint", [&] {
    const std::vector<std::string> sets = {"DATA.data_root=" + data.string(),
                                           "OUTPUT.experiments_root=" + experiments.string(),
                                           "OUTPUT.experiment_name=selftest",
                                           "TRAINING.total_steps=4",
                                           "VALIDATION.val_interval=2",
                                           "CHECKPOINT.checkpoint_interval=2",
                                           "DATA.augmentation.crop=48",
                                           "MODEL.base_channels=8",
                                           "MODEL.num_blocks=1",
                                           "TRAINING.warmup_steps=1",
                                           "LOGGING.log_interval=1"};
    LoadedSpec loaded = load_spec_or_config((configs / "demo.yaml").string(), sets);
    Pipeline pipeline(loaded.spec);
    pipeline.run();
    const fs::path dir = experiments / "selftest";
    for (const char* f :
         {"checkpoints/checkpoint_step_000002.pth", "checkpoints/checkpoint_step_000004.pth",
          "validation_images/step_000002/pred_000.png"}) {
      if (!fs::exists(dir / f)) throw RunError((dir / f).string() + " is missing");
    }
    return dir.string();
  });

  std::cout << (list.failures() ? "selftest: " + std::to_string(list.failures()) + " FAILED"
                                : std::string("selftest: all checks passed"))
            << "\n";
  if (keep_dir.empty()) {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  return list.failures() ? 1 : 0;
}

}  // namespace vsr
