#include "runtime/config/convert_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "runtime/config/specs.h"
#include "runtime/io/fileio.h"

namespace vsr {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using json = nlohmann::json;

const std::string kSource = VSR_SOURCE_DIR;

// The smallest valid conversion config: its one required key.
const char* const kMinimal =
    "SOURCES:\n"
    "  inputs: [clip.mp4]\n";

// The ConfigError message of `text`, or "" when it loads.
std::string errors_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    load_convert_config_text(text, "c.yaml", overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ConvertConfigLoad, MinimalConfigFillsEveryDefault) {
  const ConvertConfig c = load_convert_config_text(kMinimal, "c.yaml");
  EXPECT_THAT(c.sources.inputs, ElementsAre("clip.mp4"));
  EXPECT_THAT(c.sources.val_clips, IsEmpty());
  EXPECT_EQ(c.sources.val_fraction, 0.0);
  EXPECT_EQ(c.output.output_root, "./converted");
  EXPECT_EQ(c.output.category, "general");
  EXPECT_THAT(c.dataset.formats, ElementsAre("small_540"));
  EXPECT_EQ(c.dataset.scale, 3);
  EXPECT_EQ(c.dataset.stride, 10);
  EXPECT_EQ(c.dataset.patches_per_window, 4);
  EXPECT_EQ(c.dataset.placement, "random");
  EXPECT_DOUBLE_EQ(c.dataset.min_detail, 6.0);
  EXPECT_DOUBLE_EQ(c.dataset.cut_threshold, 30.0);
  EXPECT_EQ(c.dataset.val_stride, 30);
  EXPECT_EQ(c.dataset.val_max_per_clip, 10);
  EXPECT_EQ(c.lr.downscale, "area");
  EXPECT_THAT(c.lr.blur, ElementsAre(0.0, 0.0));
  EXPECT_THAT(c.lr.noise, ElementsAre(0.0, 0.0));
  EXPECT_THAT(c.lr.jpeg_quality, ElementsAre(0, 0));
  EXPECT_EQ(c.run.seed, 0);
  EXPECT_EQ(c.run.num_workers, 4);
  EXPECT_EQ(c.run.prefetch, 16);
  EXPECT_EQ(c.origin, "c.yaml");
  EXPECT_EQ(c.where("SOURCES.inputs"), "c.yaml:2:11");
  EXPECT_EQ(c.where("DATASET.stride"), "c.yaml");  // not in the file
}

TEST(ConvertConfigLoad, EveryKeyGiven) {
  const ConvertConfig c = load_convert_config_text(
      "SOURCES:\n"
      "  inputs: [/footage/*.mkv, frames/shot_a]\n"
      "  val_clips: [shot_a, \"ep0?\"]\n"
      "  val_fraction: 0.25\n"
      "OUTPUT: {output_root: /data/out, category: toon}\n"
      "DATASET:\n"
      "  formats: [small_540, large_720]\n"
      "  scale: 4\n"
      "  stride: 5\n"
      "  patches_per_window: 2\n"
      "  placement: grid\n"
      "  min_detail: 0\n"
      "  cut_threshold: 0\n"
      "  val_stride: 12\n"
      "  val_max_per_clip: 3\n"
      "LR: {downscale: bicubic, blur: [0, 1.5], noise: [1, 5], jpeg_quality: [60, 95]}\n"
      "RUN: {seed: 7, num_workers: 2, prefetch: 8}\n",
      "c.yaml");
  EXPECT_THAT(c.sources.inputs, ElementsAre("/footage/*.mkv", "frames/shot_a"));
  EXPECT_THAT(c.sources.val_clips, ElementsAre("shot_a", "ep0?"));
  EXPECT_EQ(c.sources.val_fraction, 0.25);
  EXPECT_EQ(c.output.output_root, "/data/out");
  EXPECT_EQ(c.output.category, "toon");
  EXPECT_THAT(c.dataset.formats, ElementsAre("small_540", "large_720"));
  EXPECT_EQ(c.dataset.scale, 4);
  EXPECT_EQ(c.dataset.stride, 5);
  EXPECT_EQ(c.dataset.patches_per_window, 2);
  EXPECT_EQ(c.dataset.placement, "grid");
  EXPECT_EQ(c.dataset.min_detail, 0.0);
  EXPECT_EQ(c.dataset.cut_threshold, 0.0);
  EXPECT_EQ(c.dataset.val_stride, 12);
  EXPECT_EQ(c.dataset.val_max_per_clip, 3);
  EXPECT_EQ(c.lr.downscale, "bicubic");
  EXPECT_THAT(c.lr.blur, ElementsAre(0.0, 1.5));
  EXPECT_THAT(c.lr.noise, ElementsAre(1.0, 5.0));
  EXPECT_THAT(c.lr.jpeg_quality, ElementsAre(60, 95));
  EXPECT_EQ(c.run.seed, 7);
  EXPECT_EQ(c.run.num_workers, 2);
  EXPECT_EQ(c.run.prefetch, 8);
  EXPECT_EQ(c.where("LR.blur"), "c.yaml:16:32");
}

TEST(ConvertConfigLoad, TheExampleLoads) {
  const ConvertConfig c = load_convert_config(kSource + "/configs/convert_example.yaml");
  EXPECT_THAT(c.sources.inputs, ElementsAre("/usr/share/doc/opencv-doc/examples/data/vtest.avi",
                                            "/usr/share/doc/opencv-doc/examples/data/tree.avi"));
  EXPECT_THAT(c.sources.val_clips, ElementsAre("tree"));
  EXPECT_THAT(c.dataset.formats, ElementsAre("small_540"));
  EXPECT_EQ(c.output.output_root, "./converted");
  const std::string text = read_text_file(kSource + "/configs/convert_example.yaml");
  EXPECT_EQ(text.substr(0, text.find('\n')), "# yaml-language-server: $schema=convert.schema.json");
}

TEST(ConvertConfigErrors, InputsAreRequired) {
  EXPECT_EQ(errors_of(""),
            "c.yaml:1:1: SOURCES.inputs is required (a non-empty list of strings); add it under "
            "SOURCES");
  // Located at the section when it is there.
  EXPECT_EQ(errors_of("OUTPUT:\n  category: toon\nSOURCES:\n  val_fraction: 0.5\n"),
            "c.yaml:3:1: SOURCES.inputs is required (a non-empty list of strings); add it under "
            "SOURCES");
  EXPECT_EQ(errors_of("SOURCES:\n  inputs: []\n"),
            "c.yaml:2:11: SOURCES.inputs must be a non-empty list of strings, found an empty list");
  EXPECT_EQ(errors_of("SOURCES:\n  inputs: clip.mp4\n"),
            "c.yaml:2:11: SOURCES.inputs must be a non-empty list of strings, found 'clip.mp4'");
  EXPECT_EQ(errors_of("SOURCES:\n  inputs: [a.mp4, {x: 1}, \"\"]\n"),
            "c.yaml:2:19: SOURCES.inputs: every entry must be a non-empty string, found a mapping\n"
            "c.yaml:2:27: SOURCES.inputs: every entry must be a non-empty string, found ''");
}

TEST(ConvertConfigErrors, UnknownKeysSuggestTheClosest) {
  EXPECT_EQ(errors_of(std::string(kMinimal) + "  val_clip: [b]\n"),
            "c.yaml:3:3: unknown key 'val_clip' in SOURCES; did you mean 'val_clips'?");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "DATSET:\n  stride: 5\n"),
            "c.yaml:3:1: unknown section 'DATSET'; did you mean 'DATASET'?");
  // A key under the wrong section names the right one.
  EXPECT_EQ(errors_of(std::string(kMinimal) + "  stride: 5\n"),
            "c.yaml:3:3: unknown key 'stride' in SOURCES; did you mean 'DATASET.stride'?");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "RUN:\n  colour: red\n"),
            "c.yaml:4:3: unknown key 'colour' in RUN (known keys: seed, num_workers, prefetch)");
  // A training key in a conversion config.
  EXPECT_EQ(errors_of(std::string(kMinimal) + "OUTPUT:\n  experiments_root: /x\n"),
            "c.yaml:4:3: unknown key 'experiments_root' in OUTPUT (known keys: output_root, "
            "category)");
}

TEST(ConvertConfigErrors, WrongTypes) {
  EXPECT_EQ(errors_of(std::string(kMinimal) + "DATASET:\n  stride: often\n"),
            "c.yaml:4:11: DATASET.stride must be an integer >= 1, found 'often'");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "LR:\n  blur: 1.5\n"),
            "c.yaml:4:9: LR.blur must be a list of 2 numbers in [0, 10], found '1.5'");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "LR:\n  jpeg_quality: [50.5, 90]\n"),
            "c.yaml:4:18: LR.jpeg_quality must be a list of 2 integers in [0, 100], found '50.5'");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "LR:\n  noise: [1, 2, 3]\n"),
            "c.yaml:4:10: LR.noise must be a list of 2 numbers in [0, 50], found a list");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "SOURCES_EXTRA: 1\n"),
            "c.yaml:3:1: unknown section 'SOURCES_EXTRA' (sections: SOURCES, OUTPUT, DATASET, "
            "LR, RUN)");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "RUN: 5\n"),
            "c.yaml:3:6: RUN must be a mapping of keys, found '5'");
  EXPECT_EQ(errors_of("- a\n"),
            "c.yaml:1:1: a config must be a mapping of sections (SOURCES, OUTPUT, DATASET, LR, "
            "RUN), found a list");
}

TEST(ConvertConfigErrors, OutOfRange) {
  EXPECT_EQ(errors_of(std::string(kMinimal) + "  val_fraction: 1\n"),
            "c.yaml:3:17: SOURCES.val_fraction must be a number in [0, 1), found '1'");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "RUN:\n  num_workers: 0\n"),
            "c.yaml:4:16: RUN.num_workers must be an integer in [1, 64], found '0'");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "LR:\n  noise: [0, 60]\n"),
            "c.yaml:4:14: LR.noise must be a list of 2 numbers in [0, 50], found '60'");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "DATASET:\n  scale: 5\n"),
            "c.yaml:4:10: DATASET.scale must be one of 2, 3, 4, found '5'");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "DATASET:\n  cut_threshold: -1\n"),
            "c.yaml:4:18: DATASET.cut_threshold must be a number >= 0, found '-1'");
}

TEST(ConvertConfigErrors, ChoicesFormatsAndCategories) {
  EXPECT_EQ(errors_of(std::string(kMinimal) + "DATASET:\n  placement: grd\n"),
            "c.yaml:4:14: DATASET.placement must be one of random, grid, found 'grd'; did you "
            "mean 'grid'?");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "LR:\n  downscale: bicubc\n"),
            "c.yaml:4:14: LR.downscale must be one of area, bicubic, found 'bicubc'; did you "
            "mean 'bicubic'?");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "OUTPUT:\n  category: tooon\n"),
            "c.yaml:4:13: OUTPUT.category must be one of general, space, toon, found 'tooon'; "
            "did you mean 'toon'?");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "DATASET:\n  formats: [small_540, huge_4k]\n"),
            "c.yaml:4:24: DATASET.formats: unknown format 'huge_4k' (formats: small_540, "
            "medium_169, large_720, xlarge_1440, fullhd_1920)");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "DATASET:\n  formats: [smal_540]\n"),
            "c.yaml:4:13: DATASET.formats: unknown format 'smal_540'; did you mean 'small_540'? "
            "(formats: small_540, medium_169, large_720, xlarge_1440, fullhd_1920)");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "DATASET:\n  formats: [small_540, small_540]\n"),
            "c.yaml:4:24: DATASET.formats: format 'small_540' is listed twice");
}

TEST(ConvertConfigErrors, CrossKeyChecks) {
  EXPECT_EQ(errors_of(std::string(kMinimal) + "LR:\n  blur: [2, 1]\n"),
            "c.yaml:4:9: LR.blur is [min, max], but min 2 is larger than max 1; write [1, 2]");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "LR:\n  jpeg_quality: [90, 60]\n"),
            "c.yaml:4:17: LR.jpeg_quality is [min, max], but min 90 is larger than max 60; "
            "write [60, 90]");
  EXPECT_EQ(errors_of(std::string(kMinimal) +
                      "DATASET:\n  scale: 2\n  formats: [small_540, medium_169]\n"),
            "c.yaml:5:24: format 'medium_169' (720x405) is not divisible by DATASET.scale 2; use "
            "DATASET.scale 3, or remove the format");
  EXPECT_EQ(errors_of(std::string(kMinimal) + "OUTPUT:\n  output_root: \"\"\n"),
            "c.yaml:4:16: OUTPUT.output_root must name a folder, found an empty string; leave "
            "the key out for ./converted");
}

TEST(ConvertConfigErrors, DuplicateKeyAndYamlSyntax) {
  EXPECT_EQ(errors_of(std::string(kMinimal) + "RUN:\n  seed: 1\n  seed: 2\n"),
            "c.yaml:5:3: duplicate key 'RUN.seed' (first given at line 4); remove one");
  EXPECT_THAT(errors_of("SOURCES:\n  inputs: [a.mp4\nRUN: {}\n"), HasSubstr("c.yaml:3:"));
  EXPECT_THAT(errors_of("SOURCES:\n  inputs: [a.mp4\nRUN: {}\n"),
              HasSubstr(": YAML syntax error: "));
}

TEST(ConvertConfigErrors, AllProblemsAtOnceInFileOrder) {
  EXPECT_EQ(errors_of("SOURCES:\n"
                      "  val_fraction: 2\n"  // out of range; inputs missing
                      "DATASET:\n"
                      "  formats: [small_540, tiny]\n"  // unknown format
                      "  strid: 5\n"                    // unknown key
                      "LR:\n"
                      "  blur: [3, 1]\n"        // min > max
                      "  downscale: nearest\n"  // not a choice
                      "RUN:\n"
                      "  prefetch: 0\n"),  // out of range
            "c.yaml:1:1: SOURCES.inputs is required (a non-empty list of strings); add it under "
            "SOURCES\n"
            "c.yaml:2:17: SOURCES.val_fraction must be a number in [0, 1), found '2'\n"
            "c.yaml:4:24: DATASET.formats: unknown format 'tiny' (formats: small_540, "
            "medium_169, large_720, xlarge_1440, fullhd_1920)\n"
            "c.yaml:5:3: unknown key 'strid' in DATASET; did you mean 'stride'?\n"
            "c.yaml:7:9: LR.blur is [min, max], but min 3 is larger than max 1; write [1, 3]\n"
            "c.yaml:8:14: LR.downscale must be one of area, bicubic, found 'nearest'\n"
            "c.yaml:10:13: RUN.prefetch must be an integer in [1, 1024], found '0'");
}

TEST(ConvertConfigOverride, SetsValues) {
  const ConvertConfig c = load_convert_config_text(
      kMinimal, "c.yaml",
      {"DATASET.stride=5", "LR.blur=[0, 1.5]", "SOURCES.inputs=[x.mkv, frames/]",
       "DATASET.formats=[small_540,large_720]", "OUTPUT.category = space"});
  EXPECT_EQ(c.dataset.stride, 5);
  EXPECT_THAT(c.lr.blur, ElementsAre(0.0, 1.5));
  EXPECT_THAT(c.sources.inputs, ElementsAre("x.mkv", "frames/"));
  EXPECT_THAT(c.dataset.formats, ElementsAre("small_540", "large_720"));
  EXPECT_EQ(c.output.category, "space");
  EXPECT_THAT(c.overrides,
              ElementsAre("DATASET.stride=5", "LR.blur=[0, 1.5]", "SOURCES.inputs=[x.mkv, frames/]",
                          "DATASET.formats=[small_540,large_720]", "OUTPUT.category = space"));
  EXPECT_EQ(c.where("DATASET.stride"), "--set DATASET.stride=5");
  // An empty document with the required key set from the command line.
  const ConvertConfig d = load_convert_config_text("", "c.yaml", {"SOURCES.inputs=[a.mp4]"});
  EXPECT_THAT(d.sources.inputs, ElementsAre("a.mp4"));
}

TEST(ConvertConfigOverride, Errors) {
  EXPECT_EQ(errors_of(kMinimal, {"DATASET.strid=5"}),
            "--set DATASET.strid=5: unknown key 'DATASET.strid'; did you mean 'DATASET.stride'?");
  EXPECT_EQ(errors_of(kMinimal, {"DATASET.stride=0"}),
            "--set DATASET.stride=0: DATASET.stride must be an integer >= 1, found '0'");
  EXPECT_EQ(errors_of(kMinimal, {"DATASET.stride"}),
            "--set DATASET.stride: expected SECTION.key=value, e.g. DATASET.stride=5");
  EXPECT_EQ(errors_of(kMinimal, {"LR=1"}),
            "--set LR=1: 'LR' is a section; set one of its keys, e.g. downscale");
  EXPECT_EQ(errors_of(kMinimal, {"DATASET.formats=[small_540, tiny]"}),
            "--set DATASET.formats=[small_540, tiny]: DATASET.formats: unknown format 'tiny' "
            "(formats: small_540, medium_169, large_720, xlarge_1440, fullhd_1920)");
  // A problem across keys that an override made is named by the override, not a position.
  EXPECT_EQ(errors_of(kMinimal, {"LR.blur=[2,1]"}),
            "c.yaml: --set LR.blur=[2,1]: LR.blur is [min, max], but min 2 is larger than max 1; "
            "write [1, 2]");
  EXPECT_EQ(errors_of(kMinimal, {"DATASET.scale=2", "DATASET.formats=[medium_169]"}),
            "c.yaml: --set DATASET.formats=[medium_169]: format 'medium_169' (720x405) is not "
            "divisible by DATASET.scale 2; use DATASET.scale 3, or remove the format");
}

TEST(ConfigKinds, DetectedByTheSections) {
  EXPECT_EQ(config_kind(kMinimal, "c.yaml"), ConfigKind::kConvert);
  EXPECT_EQ(config_kind("DATASET: {stride: 5}\nOUTPUT: {}\n", "c.yaml"), ConfigKind::kConvert);
  EXPECT_EQ(config_kind("TRAINING:\n  batch_size: {small_540: 4}\n", "t.yaml"), ConfigKind::kTrain);
  // OUTPUT alone, an empty file or a mix of both kinds: a training config, whose checks name
  // the sections that do not belong.
  EXPECT_EQ(config_kind("OUTPUT: {}\n", "t.yaml"), ConfigKind::kTrain);
  EXPECT_EQ(config_kind("", "t.yaml"), ConfigKind::kTrain);
  EXPECT_EQ(config_kind("- a\n", "t.yaml"), ConfigKind::kTrain);
  EXPECT_EQ(config_kind("SOURCES: {inputs: [a]}\nMODEL: {}\n", "t.yaml"), ConfigKind::kTrain);
  EXPECT_EQ(config_kind(read_text_file(kSource + "/configs/convert_example.yaml"), "x"),
            ConfigKind::kConvert);
  EXPECT_EQ(config_kind(read_text_file(kSource + "/configs/demo.yaml"), "x"), ConfigKind::kTrain);
  try {
    config_kind("SOURCES:\n  inputs: [a\n", "c.yaml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("c.yaml:"));
    EXPECT_THAT(e.what(), HasSubstr(": YAML syntax error: "));
  }
  EXPECT_STREQ(to_string(ConfigKind::kConvert), "conversion");
}

TEST(ConvertSpec, StagesParamsEdgesAndSharedValues) {
  const std::string text = read_text_file(kSource + "/configs/convert_example.yaml");
  const ConvertConfig config = load_convert_config_text(
      text, "convert_example.yaml",
      {"RUN.num_workers=3", "RUN.prefetch=12", "RUN.seed=9", "LR.jpeg_quality=[70, 90]"});
  const json spec = compile_convert_spec(config, text);
  EXPECT_EQ(spec["version"], 1);
  EXPECT_EQ(spec["name"], "convert");
  EXPECT_EQ(spec["max_in_flight"], 12);
  EXPECT_EQ(spec["shared"], json({{"scale", 3}, {"formats", {"small_540"}}, {"seed", 9}}));
  std::vector<std::string> names, types;
  for (const auto& s : spec["stages"]) {
    names.push_back(s["name"]);
    types.push_back(s["type"]);
  }
  EXPECT_THAT(
      names, ElementsAre("clip_source", "window", "patches", "make_lr", "stack", "dataset_writer"));
  EXPECT_EQ(names, types);
  const json& stages = spec["stages"];
  EXPECT_EQ(stages[0]["params"], json({{"sources",
                                        {"/usr/share/doc/opencv-doc/examples/data/vtest.avi",
                                         "/usr/share/doc/opencv-doc/examples/data/tree.avi"}},
                                       {"val_clips", {"tree"}},
                                       {"val_fraction", 0.0},
                                       {"val_tail", 0.0}}));
  EXPECT_EQ(
      stages[1]["params"],
      json(
          {{"stride", 10}, {"cut_threshold", 30.0}, {"val_stride", 30}, {"val_max_per_clip", 10}}));
  EXPECT_EQ(stages[2]["params"],
            json({{"patches_per_window", 4}, {"placement", "random"}, {"min_detail", 6.0}}));
  EXPECT_EQ(stages[2]["concurrency"], 3);
  EXPECT_EQ(stages[3]["params"], json({{"downscale", "area"},
                                       {"blur", {0.0, 0.0}},
                                       {"noise", {0.0, 0.0}},
                                       {"jpeg_quality", {70, 90}}}));
  EXPECT_EQ(stages[3]["concurrency"], 3);
  EXPECT_EQ(stages[4]["params"], json::object());
  EXPECT_FALSE(stages[4].contains("concurrency"));
  EXPECT_EQ(stages[5]["params"],
            json({{"output_root", "./converted"}, {"category", "general"}, {"config", text}}));
  for (const auto& s : stages) {
    // Shared values are given once; only the source is bounded, by the spec's max_in_flight.
    EXPECT_FALSE(s["params"].contains("scale")) << s["name"];
    EXPECT_FALSE(s["params"].contains("seed")) << s["name"];
    EXPECT_FALSE(s.contains("max_in_flight")) << s["name"];
  }
  EXPECT_EQ(spec["edges"],
            json({"clip_source.out -> window.in", "window.windows -> patches.in",
                  "patches.out -> make_lr.in", "make_lr.out -> stack.in",
                  "stack.out -> dataset_writer.in", "window.val -> dataset_writer.val"}));
  const json& sources = spec["meta"]["sources"];
  EXPECT_EQ(sources["clip_source.sources"], "SOURCES.inputs");
  EXPECT_EQ(sources["clip_source.val_tail"], "SOURCES.val_tail");
  EXPECT_EQ(sources["window.cut_threshold"], "DATASET.cut_threshold");
  EXPECT_EQ(sources["patches.min_detail"], "DATASET.min_detail");
  EXPECT_EQ(sources["make_lr.jpeg_quality"], "LR.jpeg_quality");
  EXPECT_EQ(sources["dataset_writer.output_root"], "OUTPUT.output_root");
  EXPECT_EQ(sources["shared.scale"], "DATASET.scale");
  EXPECT_EQ(sources["shared.formats"], "DATASET.formats");
  EXPECT_EQ(sources["shared.seed"], "RUN.seed");
  EXPECT_EQ(sources.size(), 20u);
  EXPECT_EQ(spec["meta"]["config_text"], text);
  EXPECT_EQ(spec["meta"]["overrides"].size(), 4u);
}

TEST(ConvertSpec, IsDeterministic) {
  const std::string text = read_text_file(kSource + "/configs/convert_example.yaml");
  const std::string a = compile_convert_spec(load_convert_config_text(text, "a"), text).dump(2);
  const std::string b = compile_convert_spec(load_convert_config_text(text, "b"), text).dump(2);
  EXPECT_EQ(a, b);
}

TEST(ConvertDocs, EveryKeyIsDocumented) {
  const std::string table = convert_reference_markdown();
  ASSERT_EQ(convert_schema_docs().size(), 22u);
  for (const auto& doc : convert_schema_docs()) {
    EXPECT_THAT(table, HasSubstr("| `" + doc.key + "` |"));
    EXPECT_FALSE(doc.doc.empty()) << doc.key;
  }
  EXPECT_THAT(table, HasSubstr("| `SOURCES.inputs` | non-empty list of strings | required |"));
  EXPECT_THAT(table, HasSubstr("| `SOURCES.val_clips` | list of strings | `[]` |"));
  EXPECT_THAT(table, HasSubstr("| `LR.jpeg_quality` | list of 2 ints in [0, 100] | `[0, 0]` |"));
  EXPECT_THAT(table, HasSubstr("| `DATASET.scale` | int, one of 2, 3, 4 | `3` |"));
  EXPECT_THAT(table, HasSubstr("| `RUN.prefetch` | int in [1, 1024] | `16` |"));
  EXPECT_THAT(table, Not(HasSubstr("||")));
}

// The JSON Schema's main properties (configs/convert.schema.json is checked in tests/e2e).
TEST(ConvertDocs, SchemaDescribesEveryKey) {
  const nlohmann::ordered_json s = convert_json_schema();
  EXPECT_EQ(s.at("$schema"), "http://json-schema.org/draft-07/schema#");
  EXPECT_EQ(s.at("title"), "vsr_flow conversion config");
  EXPECT_EQ(s.at("additionalProperties"), false);
  EXPECT_EQ(s.at("required"), nlohmann::ordered_json({"SOURCES"}));
  EXPECT_FALSE(s.contains("allOf"));  // no per-format maps
  std::vector<std::string> sections;
  for (const auto& [name, section] : s.at("properties").items()) {
    sections.push_back(name);
    EXPECT_EQ(section.at("additionalProperties"), false) << name;
  }
  EXPECT_THAT(sections, ElementsAre("SOURCES", "OUTPUT", "DATASET", "LR", "RUN"));
  const auto& sources = s.at("properties").at("SOURCES");
  EXPECT_EQ(sources.at("type"), "object");  // it holds a required key
  EXPECT_EQ(sources.at("required"), nlohmann::ordered_json({"inputs"}));
  EXPECT_EQ(sources.at("properties").at("inputs").at("minItems"), 1);
  EXPECT_EQ(sources.at("properties").at("inputs").at("items").at("type"), "string");
  EXPECT_FALSE(sources.at("properties").at("inputs").contains("default"));
  EXPECT_EQ(sources.at("properties").at("val_clips").at("default"),
            nlohmann::ordered_json::array());
  EXPECT_EQ(sources.at("properties").at("val_fraction").at("exclusiveMaximum"), 1);
  EXPECT_EQ(s.at("properties").at("OUTPUT").at("type"), nlohmann::ordered_json({"object", "null"}));
  const auto& lr = s.at("properties").at("LR").at("properties");
  EXPECT_EQ(lr.at("jpeg_quality").at("items").at("type"), "integer");
  EXPECT_EQ(lr.at("jpeg_quality").at("items").at("maximum"), 100);
  EXPECT_EQ(lr.at("jpeg_quality").at("maxItems"), 2);
  EXPECT_EQ(lr.at("jpeg_quality").at("default"), nlohmann::ordered_json({0, 0}));
  EXPECT_EQ(lr.at("blur").at("items").at("type"), "number");
  const auto& dataset = s.at("properties").at("DATASET").at("properties");
  EXPECT_EQ(dataset.at("formats").at("items").at("$ref"), "#/definitions/format");
  EXPECT_EQ(dataset.at("scale").at("enum"), nlohmann::ordered_json({2, 3, 4}));
  EXPECT_TRUE(s.at("definitions").contains("format"));
}

// README.md holds the table verbatim, in "Converting footage into a dataset". To regenerate it
// after a change of the table:
//   VSR_UPDATE_DOCS=1 ./build/tests/runtime_tests --gtest_filter=ConvertDocs.*
TEST(ConvertDocs, ReadmeTableMatchesTheTable) {
  const std::string path = kSource + "/README.md";
  std::string text = read_text_file(path);
  const std::string table = convert_reference_markdown();
  const size_t section = text.find("\n## Converting footage into a dataset\n");
  ASSERT_NE(section, std::string::npos) << path << " has no section on converting footage";
  if (std::getenv("VSR_UPDATE_DOCS")) {
    const size_t begin = text.find("| key | type | default | meaning |", section);
    const size_t end = text.find("\n\n", begin);
    ASSERT_NE(begin, std::string::npos) << path << " has no table to replace";
    text.replace(begin, end == std::string::npos ? std::string::npos : end + 1 - begin, table);
    std::ofstream(path, std::ios::binary) << text;
  }
  const size_t next = text.find("\n## ", section + 1);
  EXPECT_THAT(text.substr(section, next - section), HasSubstr(table))
      << path << " is out of date; regenerate it with VSR_UPDATE_DOCS=1 runtime_tests "
      << "--gtest_filter=ConvertDocs.*";
}

}  // namespace
}  // namespace vsr
