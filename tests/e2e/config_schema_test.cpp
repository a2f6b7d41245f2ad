// configs/vsr_flow.schema.json checked by a real JSON Schema validator (Python's jsonschema, in
// the test venv .venv-test that scripts/setup.sh makes): every preset passes, and configs that
// vsr_flow rejects (an unknown key, a value out of range, a listed format without a batch
// size...) fail it too, so the schema cannot pass vacuously. One Python process checks them all.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/errors.h"
#include "runtime/cli/compile.h"
#include "runtime/config/config.h"
#include "tests/support/command.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using json = nlohmann::json;

const fs::path kSource = VSR_SOURCE_DIR;
const fs::path kPython = kSource / ".venv-test/bin/python";

// A config and what the schema says of it: "" when it must pass, else a part of its error.
struct Case {
  std::string name;
  std::string yaml;
  std::string error;
};

const std::string kBatch = "TRAINING:\n  batch_size: {small_540: 2}\n";

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"minimal", kBatch, ""},
      {"yaml_1_2_scalars",
       "MODEL:\n  pretrained:\nDATA:\nTRAINING:\n  batch_size: {small_540: 2}\n"
       "  mixed_precision: off\n  learning_rate: 1e-4\nOUTPUT:\n",
       ""},
      {"two_formats",
       "DATA:\n  formats: [small_540, large_720]\n  format_weights: {small_540: 3, large_720: 1}\n"
       "TRAINING:\n  batch_size: {small_540: 4, large_720: 2}\n"
       "  gradient_accumulation: {small_540: 1, large_720: 2}\n  betas: [0.9, 0.999]\n",
       ""},
      {"unknown_key", "MODEL:\n  bogus: 1\n" + kBatch, "MODEL: Additional properties"},
      {"unknown_section", "LOSS: {type: l1}\n" + kBatch, "'LOSS' was unexpected"},
      {"section_not_a_mapping", "MODEL: 3\n" + kBatch, "MODEL: 3 is not of type"},
      {"below_range", "MODEL:\n  base_channels: 4\n" + kBatch,
       "MODEL/base_channels: 4 is less than the minimum of 8"},
      {"above_range", "DATA:\n  augmentation: {hflip: 1.5}\n" + kBatch,
       "DATA/augmentation/hflip: 1.5 is greater than the maximum of 1"},
      {"open_bound", "TRAINING:\n  batch_size: {small_540: 2}\n  learning_rate: 0\n",
       "TRAINING/learning_rate: 0 is less than or equal to the minimum of 0"},
      {"wrong_type", "MODEL:\n  use_checkpointing: maybe\n" + kBatch,
       "MODEL/use_checkpointing: 'maybe' is not of type 'boolean'"},
      {"bad_choice", "TRAINING:\n  batch_size: {small_540: 2}\n  optimizer: sgd\n",
       "TRAINING/optimizer: 'sgd' is not one of"},
      {"bad_int_choice", "MODEL:\n  scale: 5\n" + kBatch, "MODEL/scale: 5 is not one of [2, 3, 4]"},
      {"unknown_format", "DATA:\n  formats: [small_54]\n" + kBatch,
       "DATA/formats/0: 'small_54' is not one of"},
      {"format_twice", "DATA:\n  formats: [small_540, small_540]\n" + kBatch,
       "DATA/formats: ['small_540', 'small_540'] has non-unique elements"},
      {"betas_too_long", "TRAINING:\n  batch_size: {small_540: 2}\n  betas: [0.9, 0.99, 0.999]\n",
       "TRAINING/betas: [0.9, 0.99, 0.999] is too long"},
      {"batch_size_out_of_range", "TRAINING:\n  batch_size: {small_540: 0}\n",
       "TRAINING/batch_size/small_540: 0 is less than the minimum of 1"},
      {"unknown_format_in_map", "TRAINING:\n  batch_size: {small_540: 2, tiny: 1}\n",
       "'tiny' is not one of"},
      {"no_batch_size", "MODEL:\n  num_blocks: 2\n", "(root): 'TRAINING' is a required property"},
      {"listed_format_without_batch_size",
       "DATA:\n  formats: [small_540, large_720]\n" + kBatch +
           "  gradient_accumulation: {small_540: 1, large_720: 2}\n",
       "TRAINING/batch_size: 'large_720' is a required property"},
      {"listed_format_without_weight",
       "DATA:\n  formats: [large_720]\n  format_weights: {small_540: 1}\n"
       "TRAINING:\n  batch_size: {large_720: 2}\n",
       "DATA/format_weights: 'large_720' is a required property"},
  };
  return all;
}

struct SchemaRun {
  std::string error;  // why there is no report
  json report;        // tests/validate_configs.py's output
  fs::path dir;       // the cases' files
  std::vector<fs::path> presets;
};

// Runs the validator once per process on every preset and every case.
const SchemaRun& schema_run() {
  static const SchemaRun run = [] {
    SchemaRun r;
    if (!fs::exists(kPython)) {
      r.error = kPython.string() +
                " is missing: run scripts/setup.sh (it makes the test venv .venv-test with "
                "jsonschema and PyYAML)";
      return r;
    }
    for (const auto& e : fs::directory_iterator(kSource / "configs")) {
      // Conversion configs have a schema of their own (convert_cli_test.cpp).
      if (e.path().extension() == ".yaml" &&
          config_file_kind(e.path().string()) == ConfigKind::kTrain) {
        r.presets.push_back(e.path());
      }
    }
    std::sort(r.presets.begin(), r.presets.end());
    r.dir = fs::path(::testing::TempDir()) / ("vsr_schema_" + std::to_string(getpid()));
    fs::create_directories(r.dir);
    std::string cmd = "'" + kPython.string() + "' '" +
                      (kSource / "tests/validate_configs.py").string() + "' '" +
                      (kSource / "configs/vsr_flow.schema.json").string() + "'";
    for (const auto& p : r.presets) cmd += " '" + p.string() + "'";
    for (const auto& c : cases()) {
      const fs::path p = r.dir / (c.name + ".yaml");
      std::ofstream(p) << c.yaml;
      cmd += " '" + p.string() + "'";
    }
    const testing::CommandResult result = testing::run_command(cmd);
    const std::string& out = result.out;
    if (result.code != 0) {
      r.error = "tests/validate_configs.py failed (" + cmd + "):\n" + out +
                "\nrun scripts/setup.sh if .venv-test is incomplete";
      return r;
    }
    r.report = json::parse(out, nullptr, /*allow_exceptions=*/false);
    if (r.report.is_discarded()) r.error = "tests/validate_configs.py printed no JSON:\n" + out;
    return r;
  }();
  return run;
}

std::string errors_of(const SchemaRun& r, const fs::path& p) {
  const json& found = r.report.at("configs").at(p.string());
  std::string text;
  for (const auto& e : found) text += e.get<std::string>() + "\n";
  return text;
}

TEST(ConfigSchema, EveryPresetPasses) {
  const SchemaRun& r = schema_run();
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(r.report.at("schema"), json::array()) << "the schema itself is invalid";
  ASSERT_GE(r.presets.size(), 5u);
  for (const auto& p : r.presets) EXPECT_EQ(errors_of(r, p), "") << p;
}

// Each case is judged the same by vsr_flow's own validator and by the schema.
TEST(ConfigSchema, RejectsWhatTheValidatorRejects) {
  const SchemaRun& r = schema_run();
  ASSERT_TRUE(r.error.empty()) << r.error;
  int rejected = 0;
  for (const auto& c : cases()) {
    bool accepted = true;
    try {
      load_config_text(c.yaml, c.name + ".yaml");
    } catch (const ConfigError&) {
      accepted = false;
    }
    EXPECT_EQ(accepted, c.error.empty()) << c.name << ": vsr_flow's validator disagrees";
    const std::string errors = errors_of(r, r.dir / (c.name + ".yaml"));
    if (c.error.empty()) {
      EXPECT_EQ(errors, "") << c.name;
    } else {
      EXPECT_THAT(errors, HasSubstr(c.error)) << c.name;
      rejected += !errors.empty();
    }
  }
  EXPECT_GE(rejected, 10);
}

}  // namespace
}  // namespace vsr
