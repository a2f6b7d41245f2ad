#include "runtime/config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/config/convert_config.h"
#include "runtime/config/specs.h"
#include "runtime/io/fileio.h"

namespace vsr {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kConfigsDir = std::string(VSR_SOURCE_DIR) + "/configs";

// The smallest valid config: one format and its batch size.
const char* const kMinimal =
    "DATA:\n"
    "  formats: [small_540]\n"
    "TRAINING:\n"
    "  batch_size: {small_540: 4}\n";

// The ConfigError message of `text`, or "" when it loads.
std::string errors_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    load_config_text(text, "t.yaml", overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(ConfigLoad, MinimalConfigFillsEveryDefault) {
  const TrainConfig c = load_config_text(kMinimal, "t.yaml");
  EXPECT_EQ(c.model.base_channels, 128);
  EXPECT_EQ(c.model.num_blocks, 32);
  EXPECT_TRUE(c.model.use_checkpointing);
  EXPECT_EQ(c.model.scale, 3);
  EXPECT_DOUBLE_EQ(c.model.flow_lr_mult, 0.25);
  EXPECT_EQ(c.model.pretrained, "");
  EXPECT_EQ(c.data.category, "general");
  EXPECT_EQ(c.data.lr_version, "7frames");
  EXPECT_EQ(c.data.frames, 7);
  EXPECT_EQ(c.data.data_root, "/mnt/data/training/dataset");
  EXPECT_THAT(c.data.formats, ElementsAre("small_540"));
  EXPECT_THAT(c.data.probabilities, ElementsAre(1.0));
  EXPECT_EQ(c.data.num_workers, 4);
  EXPECT_EQ(c.data.prefetch, 4);
  EXPECT_DOUBLE_EQ(c.data.augmentation.rot90, 0.5);
  EXPECT_EQ(c.training.total_steps, 100000);
  EXPECT_EQ(c.training.batch_size.at("small_540"), 4);
  EXPECT_EQ(c.training.gradient_accumulation.at("small_540"), 1);
  EXPECT_DOUBLE_EQ(c.training.learning_rate, 1e-4);
  EXPECT_EQ(c.training.warmup_steps, 1000);
  EXPECT_EQ(c.training.schedule, "cosine");
  EXPECT_EQ(c.training.optimizer, "adam");
  EXPECT_THAT(c.training.betas, ElementsAre(0.9, 0.99));
  EXPECT_EQ(c.training.loss, "charbonnier");
  EXPECT_DOUBLE_EQ(c.training.ema_decay, 0.999);
  EXPECT_EQ(c.training.mixed_precision, "off");
  EXPECT_EQ(c.training.device, "auto");
  EXPECT_EQ(c.training.threads, 0);
  EXPECT_EQ(c.validation.val_interval, 500);
  EXPECT_EQ(c.checkpoint.checkpoint_interval, 5000);
  EXPECT_EQ(c.checkpoint.keep_last, 0);
  EXPECT_EQ(c.logging.log_interval, 100);
  EXPECT_EQ(c.output.experiments_root, "/mnt/data/training/experiments");
  EXPECT_EQ(c.output.experiment_name, "general_fresh_7frames");
  EXPECT_EQ(c.experiment_dir(), "/mnt/data/training/experiments/general_fresh_7frames");
  EXPECT_EQ(c.val_dir(), "/mnt/data/training/dataset/Universal/Mastermodell/Learn/Val/GT");
  EXPECT_EQ(c.origin, "t.yaml");
}

// The "Basic Structure" example of the spec, verbatim.
TEST(ConfigLoad, SpecExampleLoads) {
  const char* const spec_example = R"(MODEL:
  base_channels: 128      # Feature channels (64-256)
  num_blocks: 32          # Residual blocks (16-48)
  use_checkpointing: true # Gradient checkpointing for VRAM

DATA:
  category: "general"     # "general", "space", or "toon"
  lr_version: "7frames"   # "5frames" or "7frames"
  data_root: "/mnt/data/training/dataset"
  
  formats:                # Which patch sizes to use
    - "small_540"
    - "medium_169"
  
  format_weights:         # Sampling probability
    small_540: 0.6
    medium_169: 0.4

TRAINING:
  total_steps: 100000
  
  batch_size:             # Per format
    small_540: 4
    medium_169: 2
  
  gradient_accumulation:  # Effective batch = batch_size × accumulation
    small_540: 1
    medium_169: 2
  
  learning_rate: 0.0001
  warmup_steps: 1000
)";
  const TrainConfig c = load_config_text(spec_example, "spec.yaml");
  EXPECT_THAT(c.data.formats, ElementsAre("small_540", "medium_169"));
  EXPECT_THAT(c.data.probabilities, ElementsAre(0.6, 0.4));
  EXPECT_EQ(c.training.gradient_accumulation.at("medium_169"), 2);
  EXPECT_EQ(format_probabilities_line(c),
            "format probabilities: small_540 60.0%, medium_169 40.0%");
}

TEST(ConfigErrors, UnknownKeySuggestsClosest) {
  EXPECT_EQ(errors_of(std::string(kMinimal) + "  learning_rat: 0.1\n"),
            "t.yaml:5:3: unknown key 'learning_rat' in TRAINING; did you mean 'learning_rate'?");
}

TEST(ConfigErrors, UnknownSectionSuggestsClosest) {
  EXPECT_EQ(errors_of(std::string(kMinimal) + "TRAINNG:\n  seed: 1\n"),
            "t.yaml:5:1: unknown section 'TRAINNG'; did you mean 'TRAINING'?");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "model:\n  num_blocks: 4\n"),
            "t.yaml:5:1: unknown section 'model'; did you mean 'MODEL'?");
}

TEST(ConfigErrors, KeyInTheWrongSectionNamesItsSection) {
  EXPECT_EQ(errors_of(std::string(kMinimal) + "  scale: 2\n"),
            "t.yaml:5:3: unknown key 'scale' in TRAINING; did you mean 'MODEL.scale'?");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "  hflip: 0\n"),
            "t.yaml:5:3: unknown key 'hflip' in TRAINING; did you mean "
            "'DATA.augmentation.hflip'?");
}

TEST(ConfigErrors, UnknownKeyWithoutCloseMatchListsKnownKeys) {
  const std::string e = errors_of(std::string(kMinimal) + "LOGGING:\n  colour: red\n");
  EXPECT_EQ(e, "t.yaml:6:3: unknown key 'colour' in LOGGING (known keys: log_interval)");
}

TEST(ConfigErrors, WrongType) {
  EXPECT_EQ(errors_of(std::string(kMinimal) + "MODEL:\n  base_channels: abc\n"),
            "t.yaml:6:18: MODEL.base_channels must be an integer in [8, 512], found 'abc'");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "MODEL:\n  use_checkpointing: maybe\n"),
            "t.yaml:6:22: MODEL.use_checkpointing must be true or false, found 'maybe'");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "  learning_rate: [1]\n"),
            "t.yaml:5:18: TRAINING.learning_rate must be a number in (0, 1], found a list");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "  betas: [0.9]\n"),
            "t.yaml:5:10: TRAINING.betas must be a list of 2 numbers in [0, 1), found a list");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "MODEL: 5\n"),
            "t.yaml:5:8: MODEL must be a mapping of keys, found '5'");
}

TEST(ConfigErrors, OutOfRange) {
  EXPECT_EQ(errors_of(std::string(kMinimal) + "MODEL:\n  base_channels: 4\n"),
            "t.yaml:6:18: MODEL.base_channels must be an integer in [8, 512], found '4'");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "MODEL:\n  scale: 5\n"),
            "t.yaml:6:10: MODEL.scale must be one of 2, 3, 4, found '5'");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "  learning_rate: 0\n"),
            "t.yaml:5:18: TRAINING.learning_rate must be a number in (0, 1], found '0'");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "  total_steps: 0\n"),
            "t.yaml:5:16: TRAINING.total_steps must be an integer >= 1, found '0'");
  EXPECT_EQ(errors_of("DATA:\n  formats: [small_540]\n  augmentation:\n    hflip: 1.5\n"
                      "TRAINING:\n  batch_size: {small_540: 4}\n"),
            "t.yaml:4:12: DATA.augmentation.hflip must be a number in [0, 1], found '1.5'");
}

TEST(ConfigErrors, ChoiceSuggestsClosest) {
  EXPECT_EQ(errors_of(std::string(kMinimal) + "  optimizer: adamx\n"),
            "t.yaml:5:14: TRAINING.optimizer must be one of adam, adamw, found 'adamx'; did "
            "you mean 'adam'?");
  EXPECT_EQ(errors_of("DATA:\n  category: spase\n  formats: [small_540]\n"
                      "TRAINING:\n  batch_size: {small_540: 4}\n"),
            "t.yaml:2:13: DATA.category must be one of general, space, toon, found 'spase'; "
            "did you mean 'space'?");
}

TEST(ConfigErrors, FormatNotInTheTable) {
  EXPECT_EQ(errors_of("DATA:\n  formats: [small_540, huge_4k]\n"
                      "TRAINING:\n  batch_size: {small_540: 4}\n"),
            "t.yaml:2:24: DATA.formats: unknown format 'huge_4k' (formats: small_540, "
            "medium_169, large_720, xlarge_1440, fullhd_1920)");
  EXPECT_THAT(errors_of("DATA:\n  formats: [smal_540]\n"
                        "TRAINING:\n  batch_size: {small_540: 4}\n"),
              HasSubstr("t.yaml:2:13: DATA.formats: unknown format 'smal_540'; did you mean "
                        "'small_540'?"));
  EXPECT_EQ(errors_of("DATA:\n  formats: [small_540, small_540]\n"
                      "TRAINING:\n  batch_size: {small_540: 4}\n"),
            "t.yaml:2:24: DATA.formats: format 'small_540' is listed twice");
  EXPECT_EQ(errors_of("DATA:\n  formats: []\nTRAINING:\n  batch_size: {small_540: 4}\n"),
            "t.yaml:2:12: DATA.formats must be a non-empty list of format names, found a list");
  // A map key that is no format is a typo too, even for a format that is not listed.
  EXPECT_EQ(errors_of(std::string(kMinimal) + "  gradient_accumulation: {smal_540: 1}\n"),
            "t.yaml:5:3: format 'small_540' is listed in DATA.formats but has no entry in "
            "TRAINING.gradient_accumulation; add `small_540: <an integer in [1, 256]>` under "
            "TRAINING.gradient_accumulation\n"
            "t.yaml:5:27: TRAINING.gradient_accumulation: unknown format 'smal_540'; did you "
            "mean 'small_540'? (formats: small_540, medium_169, large_720, xlarge_1440, "
            "fullhd_1920)");
}

TEST(ConfigErrors, ListedFormatWithoutBatchSize) {
  // No batch_size at all: located at the listed format.
  EXPECT_EQ(errors_of("DATA:\n  formats:\n    - small_540\n    - large_720\n"),
            "t.yaml:3:7: format 'small_540' is listed in DATA.formats but TRAINING.batch_size "
            "has no entry for it; add `TRAINING.batch_size: {small_540: <an integer in [1, "
            "256]>}`\n"
            "t.yaml:4:7: format 'large_720' is listed in DATA.formats but TRAINING.batch_size "
            "has no entry for it; add `TRAINING.batch_size: {large_720: <an integer in [1, "
            "256]>}`");
  // A batch_size map without it: located at the map's key.
  EXPECT_EQ(errors_of("DATA:\n  formats: [small_540, large_720]\n"
                      "TRAINING:\n  batch_size:\n    small_540: 4\n"),
            "t.yaml:4:3: format 'large_720' is listed in DATA.formats but has no entry in "
            "TRAINING.batch_size; add `large_720: <an integer in [1, 256]>` under "
            "TRAINING.batch_size");
}

TEST(ConfigErrors, ListedFormatWithoutAccumulationOrWeight) {
  const std::string e = errors_of(
      "DATA:\n  formats: [small_540, large_720]\n"
      "  format_weights: {small_540: 1}\n"
      "TRAINING:\n  batch_size: {small_540: 4, large_720: 2}\n"
      "  gradient_accumulation: {large_720: 2}\n");
  EXPECT_EQ(e,
            "t.yaml:3:3: format 'large_720' is listed in DATA.formats but has no entry in "
            "DATA.format_weights; add `large_720: <a number > 0>` under DATA.format_weights\n"
            "t.yaml:6:3: format 'small_540' is listed in DATA.formats but has no entry in "
            "TRAINING.gradient_accumulation; add `small_540: <an integer in [1, 256]>` under "
            "TRAINING.gradient_accumulation");
}

TEST(ConfigErrors, WeightsZeroOrNegative) {
  const std::string e = errors_of(
      "DATA:\n  formats: [small_540, large_720]\n"
      "  format_weights: {small_540: 0, large_720: -1}\n"
      "TRAINING:\n  batch_size: {small_540: 4, large_720: 2}\n");
  EXPECT_EQ(e,
            "t.yaml:3:31: DATA.format_weights.small_540 must be a number > 0, found '0'; to "
            "stop sampling a format, remove it from DATA.formats\n"
            "t.yaml:3:45: DATA.format_weights.large_720 must be a number > 0, found '-1'; to "
            "stop sampling a format, remove it from DATA.formats");
}

TEST(ConfigErrors, EntriesOfUnlistedFormatsAreIgnored) {
  const TrainConfig c = load_config_text(
      "DATA:\n  formats: [small_540]\n  format_weights: {small_540: 2, fullhd_1920: 0}\n"
      "TRAINING:\n  batch_size: {small_540: 4, fullhd_1920: many}\n"
      "  gradient_accumulation: {small_540: 2, large_720: 4}\n",
      "t.yaml");
  EXPECT_EQ(c.training.batch_size.size(), 1u);
  EXPECT_EQ(c.training.gradient_accumulation.size(), 1u);
  EXPECT_EQ(c.data.format_weights.size(), 1u);
  EXPECT_THAT(c.data.probabilities, ElementsAre(1.0));
}

TEST(ConfigErrors, CrossKeyChecks) {
  EXPECT_EQ(errors_of(std::string(kMinimal) + "  total_steps: 100\n  warmup_steps: 200\n"),
            "t.yaml:6:17: TRAINING.warmup_steps (200) must not exceed TRAINING.total_steps "
            "(100)");
  EXPECT_EQ(errors_of("MODEL:\n  scale: 2\nDATA:\n  formats: [small_540, medium_169]\n"
                      "TRAINING:\n  batch_size: {small_540: 4, medium_169: 2}\n"),
            "t.yaml:4:24: format 'medium_169' (720x405) is not divisible by MODEL.scale 2; "
            "use MODEL.scale 3, or remove the format");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "VALIDATION:\n  tile: 64\n  tile_overlap: 32\n"),
            "t.yaml:7:17: VALIDATION.tile_overlap (32) must be less than half of "
            "VALIDATION.tile (64)");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "  mixed_precision: fp16\n  device: cpu\n"),
            "t.yaml:5:20: TRAINING.mixed_precision fp16 needs CUDA, but TRAINING.device is "
            "cpu; use bf16 on CPU");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "OUTPUT:\n  experiment_name: a/b\n"),
            "t.yaml:6:20: OUTPUT.experiment_name must be a plain folder name, found 'a/b'; put "
            "parent folders in OUTPUT.experiments_root");
}

TEST(ConfigErrors, DuplicateKey) {
  EXPECT_EQ(errors_of(std::string(kMinimal) + "  seed: 1\n  seed: 2\n"),
            "t.yaml:6:3: duplicate key 'TRAINING.seed' (first given at line 5); remove one");
}

TEST(ConfigErrors, YamlSyntaxError) {
  EXPECT_THAT(errors_of("DATA:\n  formats: [small_540\nTRAINING: {}\n"), HasSubstr("t.yaml:3:"));
  EXPECT_THAT(errors_of("DATA:\n  formats: [small_540\nTRAINING: {}\n"),
              HasSubstr(": YAML syntax error: "));
  EXPECT_EQ(errors_of("- a\n- b\n"),
            "t.yaml:1:1: a config must be a mapping of sections (MODEL, DATA, TRAINING, "
            "VALIDATION, CHECKPOINT, LOGGING, DISTRIBUTED, OUTPUT), found a list");
}

TEST(ConfigErrors, AllProblemsAtOnceInFileOrder) {
  const std::string e = errors_of(
      "MODEL:\n"
      "  base_channels: 4\n"  // out of range
      "  nm_blocks: 3\n"      // unknown key
      "DATA:\n"
      "  category: comic\n"  // not a category
      "  formats: [small_540, large_720]\n"
      "  format_weights: {small_540: 0.7, large_720: 0}\n"  // zero weight
      "TRAINING:\n"
      "  batch_size: {small_540: 4}\n"  // large_720 missing
      "  learning_rate: fast\n");       // wrong type
  const std::vector<std::string> lines = lines_of(e);
  ASSERT_EQ(lines.size(), 6u) << e;
  EXPECT_THAT(lines[0], HasSubstr("t.yaml:2:18: MODEL.base_channels"));
  EXPECT_THAT(lines[1], HasSubstr("t.yaml:3:3: unknown key 'nm_blocks' in MODEL; did you mean "
                                  "'num_blocks'?"));
  EXPECT_THAT(lines[2], HasSubstr("t.yaml:5:13: DATA.category"));
  EXPECT_THAT(lines[3], HasSubstr("t.yaml:7:47: DATA.format_weights.large_720"));
  EXPECT_THAT(lines[4], HasSubstr("t.yaml:9:3: format 'large_720' is listed"));
  EXPECT_THAT(lines[5], HasSubstr("t.yaml:10:18: TRAINING.learning_rate"));
}

TEST(ConfigLoad, MissingFileNamesIt) {
  try {
    load_config("/nonexistent/x.yaml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/x.yaml: cannot read the config file (it does "
                                    "not exist)"));
  }
}

TEST(ConfigLoad, IntegersMayBeWrittenAsFloats) {
  const TrainConfig c = load_config_text(std::string(kMinimal) + "  total_steps: 1e5\n", "t");
  EXPECT_EQ(c.training.total_steps, 100000);
  EXPECT_THAT(errors_of(std::string(kMinimal) + "  total_steps: 1.5\n"),
              HasSubstr("TRAINING.total_steps must be an integer >= 1, found '1.5'"));
}

TEST(ConfigNormalise, WeightsAreNormalisedAndReported) {
  const TrainConfig c = load_config_text(
      "DATA:\n  formats: [small_540, medium_169]\n"
      "  format_weights: {small_540: 3, medium_169: 1}\n"
      "TRAINING:\n  batch_size: {small_540: 4, medium_169: 2}\n",
      "t.yaml");
  EXPECT_THAT(c.data.probabilities, ElementsAre(0.75, 0.25));
  EXPECT_EQ(c.data.format_weights.at("small_540"), 3.0);
  EXPECT_EQ(format_probabilities_line(c),
            "format probabilities: small_540 75.0%, medium_169 25.0% (weights normalised from "
            "sum 4)");
}

TEST(ConfigNormalise, AbsentWeightsAreEqual) {
  const TrainConfig c = load_config_text(
      "DATA:\n  formats: [small_540, medium_169, large_720, fullhd_1920]\n"
      "TRAINING:\n  batch_size: {small_540: 4, medium_169: 2, large_720: 2, fullhd_1920: 1}\n",
      "t.yaml");
  EXPECT_THAT(c.data.probabilities, ElementsAre(0.25, 0.25, 0.25, 0.25));
  EXPECT_EQ(c.training.gradient_accumulation.at("fullhd_1920"), 1);
}

TEST(ConfigOverride, SetsValues) {
  YAML::Node root = YAML::Load(kMinimal);
  apply_override(root, "TRAINING.learning_rate=0.0002");
  apply_override(root, "TRAINING.batch_size.small_540=2");
  apply_override(root, "DATA.augmentation.reverse=0");
  apply_override(root, "MODEL.num_blocks = 4");
  apply_override(root, "OUTPUT.experiment_name=run1");
  const TrainConfig c = config_from_yaml(root, "t.yaml");
  EXPECT_DOUBLE_EQ(c.training.learning_rate, 2e-4);
  EXPECT_EQ(c.training.batch_size.at("small_540"), 2);
  EXPECT_EQ(c.data.augmentation.reverse, 0.0);
  EXPECT_EQ(c.model.num_blocks, 4);
  EXPECT_EQ(c.output.experiment_name, "run1");
}

TEST(ConfigOverride, ListsAndEmptyDocuments) {
  YAML::Node root = YAML::Load("");
  apply_override(root, "DATA.formats=[small_540,large_720]");
  apply_override(root, "TRAINING.batch_size={small_540: 4, large_720: 1}");
  const TrainConfig c = config_from_yaml(root, "t.yaml");
  EXPECT_THAT(c.data.formats, ElementsAre("small_540", "large_720"));
  EXPECT_EQ(c.training.batch_size.at("large_720"), 1);
}

TEST(ConfigOverride, ThroughLoadConfigText) {
  const TrainConfig c = load_config_text(kMinimal, "t.yaml", {"TRAINING.seed=7"});
  EXPECT_EQ(c.training.seed, 7);
  EXPECT_THAT(c.overrides, ElementsAre("TRAINING.seed=7"));
  // An override can make the file's other keys inconsistent: reported against the file.
  EXPECT_EQ(errors_of(kMinimal, {"DATA.formats=[small_540, large_720]"}),
            "t.yaml:4:3: format 'large_720' is listed in DATA.formats but has no entry in "
            "TRAINING.batch_size; add `large_720: <an integer in [1, 256]>` under "
            "TRAINING.batch_size");
}

// A problem across keys that an override made names the override: its value has no place in
// the file.
TEST(ConfigOverride, ProblemsAcrossKeysNameTheOverride) {
  EXPECT_EQ(errors_of(kMinimal, {"TRAINING.warmup_steps=200000"}),
            "t.yaml: --set TRAINING.warmup_steps=200000: TRAINING.warmup_steps (200000) must not "
            "exceed TRAINING.total_steps (100000)");
  EXPECT_EQ(errors_of(kMinimal, {"DATA.formats=[medium_169]", "MODEL.scale=2",
                                 "TRAINING.batch_size.medium_169=2"}),
            "t.yaml: --set DATA.formats=[medium_169]: format 'medium_169' (720x405) is not "
            "divisible by MODEL.scale 2; use MODEL.scale 3, or remove the format");
  // Where the file gives the key, its position.
  EXPECT_EQ(errors_of(std::string(kMinimal) + "  warmup_steps: 200000\n"),
            "t.yaml:5:17: TRAINING.warmup_steps (200000) must not exceed TRAINING.total_steps "
            "(100000)");
}

TEST(ConfigOverride, Errors) {
  YAML::Node root = YAML::Load(kMinimal);
  const auto error_of = [&](const std::string& assignment) -> std::string {
    try {
      apply_override(root, assignment);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_of("TRAINING.learning_rat=0.1"),
            "--set TRAINING.learning_rat=0.1: unknown key 'TRAINING.learning_rat'; did you mean "
            "'TRAINING.learning_rate'?");
  EXPECT_EQ(error_of("TRAINING.learning_rate=abc"),
            "--set TRAINING.learning_rate=abc: TRAINING.learning_rate must be a number in (0, "
            "1], found 'abc'");
  EXPECT_EQ(error_of("TRAINING.batch_size.smal_540=2"),
            "--set TRAINING.batch_size.smal_540=2: TRAINING.batch_size: unknown format "
            "'smal_540'; did you mean 'small_540'? (formats: small_540, medium_169, large_720, "
            "xlarge_1440, fullhd_1920)");
  EXPECT_EQ(error_of("TRAINING.learning_rate"),
            "--set TRAINING.learning_rate: expected SECTION.key=value, e.g. "
            "TRAINING.learning_rate=0.0002");
  EXPECT_EQ(error_of("DATA.augmentation=1"),
            "--set DATA.augmentation=1: 'DATA.augmentation' is a section; set one of its keys, "
            "e.g. crop");
  EXPECT_EQ(error_of("MODEL.scale=[3"),
            "--set MODEL.scale=[3: the value is not valid YAML: end of sequence flow not found");
  // Nothing was changed by the failed assignments.
  EXPECT_EQ(YAML::Dump(root), YAML::Dump(YAML::Load(kMinimal)));
}

// The training presets (configs/ also holds conversion configs: convert_config_test.cpp).
std::vector<std::string> preset_paths() {
  std::vector<std::string> paths;
  for (const auto& entry : std::filesystem::directory_iterator(kConfigsDir)) {
    if (entry.path().extension() != ".yaml") continue;
    const std::string path = entry.path().string();
    if (config_kind(read_text_file(path), path) == ConfigKind::kTrain) paths.push_back(path);
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

TEST(ConfigPresets, EveryPresetLoadsAndCompiles) {
  const std::vector<std::string> paths = preset_paths();
  ASSERT_GE(paths.size(), 5u);
  for (const auto& path : paths) {
    SCOPED_TRACE(path);
    const TrainConfig c = load_config(path);
    const nlohmann::json spec = compile_train_spec(c, read_text_file(path));
    EXPECT_EQ(spec["version"], 1);
    EXPECT_EQ(spec["stages"].size(), 11u);
  }
}

TEST(ConfigPresets, MatchTheSpec) {
  const auto formats = [](const std::string& name) {
    return load_config(kConfigsDir + "/" + name).data.formats;
  };
  EXPECT_THAT(formats("train_general_7frames.yaml"),
              ElementsAre("small_540", "medium_169", "large_720"));
  EXPECT_THAT(formats("train_general_5frames.yaml"),
              ElementsAre("small_540", "medium_169", "large_720"));
  EXPECT_THAT(formats("train_space_7frames.yaml"),
              ElementsAre("small_540", "xlarge_1440", "fullhd_1920"));
  EXPECT_THAT(formats("train_toon_7frames.yaml"), ElementsAre("small_540", "medium_169"));

  const TrainConfig g5 = load_config(kConfigsDir + "/train_general_5frames.yaml");
  EXPECT_EQ(g5.data.frames, 5);
  EXPECT_EQ(g5.output.experiment_name, "general_fresh_5frames");
  const TrainConfig space = load_config(kConfigsDir + "/train_space_7frames.yaml");
  EXPECT_EQ(space.experiment_dir(), "/mnt/data/training/experiments/space_fresh_7frames");
  EXPECT_EQ(space.val_dir(), "/mnt/data/training/dataset/Space/SpaceModel/Learn/Val/GT");
  const TrainConfig toon = load_config(kConfigsDir + "/train_toon_7frames.yaml");
  EXPECT_EQ(toon.val_dir(), "/mnt/data/training/dataset/Toon/ToonModel/Learn/Val/GT");

  const TrainConfig demo = load_config(kConfigsDir + "/demo.yaml");
  EXPECT_LE(demo.model.base_channels, 16);
  EXPECT_EQ(demo.model.num_blocks, 2);
  EXPECT_THAT(demo.data.formats, ElementsAre("small_540"));
  EXPECT_EQ(demo.training.batch_size.at("small_540"), 4);
  EXPECT_EQ(demo.data.augmentation.crop, 96);  // a multiple of the scale
  EXPECT_EQ(demo.data.data_root, "./demo_data");
  EXPECT_EQ(demo.experiment_dir(), "./experiments/demo");
  EXPECT_EQ(demo.training.threads, 0);
}

TEST(ConfigCompile, FollowsTheStageContract) {
  const std::string path = kConfigsDir + "/train_general_7frames.yaml";
  const std::string text = read_text_file(path);
  const nlohmann::json spec = compile_train_spec(load_config(path), text);
  EXPECT_EQ(spec["name"], "general_fresh_7frames");
  EXPECT_EQ(spec["max_in_flight"], 4);
  std::vector<std::string> names;
  for (const auto& s : spec["stages"]) names.push_back(s["name"]);
  EXPECT_THAT(names,
              ElementsAre("sample", "decode", "split", "augment", "batch", "train_step", "validate",
                          "image_writer", "checkpoint", "tensorboard", "progress"));
  const nlohmann::json& sample = spec["stages"][0];
  EXPECT_EQ(sample["type"], "sample");
  EXPECT_EQ(sample["max_in_flight"], 4);
  // Values several stages read are given once, in "shared".
  EXPECT_EQ(spec["shared"]["formats"], nlohmann::json({"small_540", "medium_169", "large_720"}));
  EXPECT_FALSE(sample["params"].contains("formats"));
  EXPECT_EQ(spec["meta"]["sources"]["augment.crop"], "DATA.augmentation.crop");
  EXPECT_EQ(spec["meta"]["sources"]["shared.scale"], "MODEL.scale");
  EXPECT_EQ(sample["params"]["batch_size"], nlohmann::json({4, 2, 2}));
  EXPECT_EQ(sample["params"]["gradient_accumulation"], nlohmann::json({1, 2, 2}));
  EXPECT_EQ(sample["params"]["format_weights"], nlohmann::json({0.5, 0.3, 0.2}));
  EXPECT_EQ(spec["stages"][1]["concurrency"], 4);
  EXPECT_EQ(spec["stages"][2]["params"], nlohmann::json::object());  // sizes come with requests
  EXPECT_EQ(spec["stages"][3]["params"]["crop"], 0);
  const nlohmann::json& train = spec["stages"][5]["params"];
  EXPECT_EQ(spec["shared"]["frames"], 7);
  EXPECT_EQ(train["model"]["base_channels"], 128);
  EXPECT_EQ(train["optim"]["learning_rate"], 0.0001);
  EXPECT_EQ(train["checkpoint_interval"], 5000);
  const nlohmann::json& validate = spec["stages"][6]["params"];
  EXPECT_EQ(validate["val_dir"], "/mnt/data/training/dataset/Universal/Mastermodell/Learn/Val/GT");
  EXPECT_EQ(validate["shifts"], nlohmann::json({-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5}));
  EXPECT_EQ(spec["stages"][7]["params"]["dir"],
            "/mnt/data/training/experiments/general_fresh_7frames/validation_images");
  EXPECT_EQ(spec["stages"][8]["params"]["dir"],
            "/mnt/data/training/experiments/general_fresh_7frames/checkpoints");
  EXPECT_EQ(spec["stages"][8]["params"]["config_text"], text);
  EXPECT_EQ(spec["stages"][9]["params"]["dir"],
            "/mnt/data/training/experiments/general_fresh_7frames/tensorboard");
  EXPECT_EQ(spec["edges"][0], "sample.out -> decode.in");
  EXPECT_EQ(spec["edges"].size(), 14u);
  EXPECT_EQ(spec["meta"]["config_text"], text);
  EXPECT_EQ(spec["meta"]["experiment_dir"], "/mnt/data/training/experiments/general_fresh_7frames");
  EXPECT_EQ(spec["meta"]["format_probabilities"]["small_540"], 0.5);

  const nlohmann::json five =
      compile_train_spec(load_config(kConfigsDir + "/train_general_5frames.yaml"), "");
  EXPECT_EQ(five["stages"][6]["params"]["shifts"], nlohmann::json({-1.0, -0.5, 0.0, 0.5, 1.0}));
}

TEST(ConfigCompile, IsDeterministic) {
  for (const auto& path : preset_paths()) {
    SCOPED_TRACE(path);
    const std::string text = read_text_file(path);
    const std::string a = compile_train_spec(load_config(path), text).dump(2);
    const std::string b = compile_train_spec(load_config_text(text, "other"), text).dump(2);
    EXPECT_EQ(a, b);
  }
}

TEST(ConfigDocs, EveryKeyIsDocumented) {
  const std::string table = config_reference_markdown();
  for (const auto& doc : config_schema_docs()) {
    EXPECT_THAT(table, HasSubstr("| `" + doc.key + "` |"));
    EXPECT_FALSE(doc.doc.empty()) << doc.key;
  }
  EXPECT_THAT(table, HasSubstr("| `MODEL.base_channels` | int in [8, 512] | `128` |"));
  EXPECT_THAT(table, HasSubstr("| `TRAINING.batch_size` | map: format -> int in [1, 256] | "
                               "required |"));
  EXPECT_THAT(table, HasSubstr("| `OUTPUT.experiment_name` | string | "
                               "`<category>_fresh_<lr_version>` |"));
  EXPECT_THAT(table, Not(HasSubstr("||")));
}

// README.md holds the table verbatim. To regenerate it after a schema change:
//   VSR_UPDATE_DOCS=1 ./build/tests/runtime_tests --gtest_filter=ConfigDocs.*
TEST(ConfigDocs, ReadmeTableMatchesTheSchema) {
  const std::string path = std::string(VSR_SOURCE_DIR) + "/README.md";
  std::string text = read_text_file(path);
  const std::string table = config_reference_markdown();
  if (std::getenv("VSR_UPDATE_DOCS")) {
    const size_t begin =
        text.find("| key | type | default | meaning |", text.find("\n## Configuration keys"));
    const size_t end = text.find("\n\n", begin);
    ASSERT_NE(begin, std::string::npos) << path << " has no table to replace";
    text.replace(begin, end == std::string::npos ? std::string::npos : end + 1 - begin, table);
    std::ofstream(path, std::ios::binary) << text;
  }
  EXPECT_THAT(text, HasSubstr(table)) << path << " is out of date; regenerate it with "
                                      << "VSR_UPDATE_DOCS=1 runtime_tests "
                                         "--gtest_filter=ConfigDocs.*";
}

}  // namespace
}  // namespace vsr
