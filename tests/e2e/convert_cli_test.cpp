// The conversion config through the vsr_flow command line: `convert`, and `compile`,
// `validate`, `run`, `dot`, `check-data` and `schema --convert` telling conversion configs from
// training ones; pipelines/convert.json staying configs/convert_example.yaml compiled; and
// configs/convert.schema.json checked by a real JSON Schema validator (the test venv's Python,
// as config_schema_test.cpp does for the training schema). The whole job on videos, with
// training on its output, is footage_test.cpp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "common/errors.h"
#include "graph/spec.h"
#include "runtime/cli/compile.h"
#include "runtime/config/convert_config.h"
#include "tests/support/command.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

const fs::path kSource = VSR_SOURCE_DIR;
const fs::path kExample = kSource / "configs/convert_example.yaml";

// stdout and stderr together.
testing::CommandResult run(const std::string& args) {
  return testing::run_command(std::string(VSR_BINARY) + " " + args + " 2>&1");
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A scratch folder for the test's files, removed at the end.
struct Scratch {
  explicit Scratch(const std::string& name)
      : dir(fs::temp_directory_path() / (name + "_" + std::to_string(getpid()))) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Scratch() { fs::remove_all(dir); }
  fs::path write(const std::string& name, const std::string& text) const {
    const fs::path p = dir / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  const fs::path dir;
};

// pipelines/convert.json is what `vsr_flow compile configs/convert_example.yaml` makes.
TEST(ConvertCli, CheckedInPipelineIsInSync) {
  const json expected = compile_config_file(kExample.string(), {});
  ASSERT_TRUE(fs::exists(kSource / "pipelines/convert.json"));
  EXPECT_EQ(json::parse(read(kSource / "pipelines/convert.json")), expected)
      << "regenerate: vsr_flow compile configs/convert_example.yaml -o pipelines/convert.json";
  // The checked-in spec is a valid spec of the registered stages.
  const testing::CommandResult v =
      run("validate --spec-only " + (kSource / "pipelines/convert.json").string());
  EXPECT_EQ(v.code, 0) << v.out;
  EXPECT_THAT(v.out, HasSubstr("convert.json: ok (6 stages, 6 edges)"));
}

TEST(ConvertCli, CompileMakesTheConversionSpec) {
  const testing::CommandResult c =
      testing::run_command(std::string(VSR_BINARY) + " compile " + kExample.string() +
                           " --set RUN.seed=5 --set DATASET.stride=4 2>/dev/null");
  ASSERT_EQ(c.code, 0) << c.out;
  const json spec = json::parse(c.out);
  EXPECT_EQ(spec["name"], "convert");
  EXPECT_EQ(spec["shared"]["seed"], 5);
  EXPECT_EQ(spec["meta"]["overrides"], json({"RUN.seed=5", "DATASET.stride=4"}));
  std::vector<std::string> types;
  for (const auto& s : spec["stages"]) {
    types.push_back(s["type"]);
    if (s["type"] == "window") {
      EXPECT_EQ(s["params"]["stride"], 4);
    }
  }
  EXPECT_THAT(types, ::testing::ElementsAre("clip_source", "window", "patches", "make_lr", "stack",
                                            "dataset_writer"));
  // The DOT of a conversion config is its graph.
  const testing::CommandResult dot = run("dot " + kExample.string());
  EXPECT_EQ(dot.code, 0) << dot.out;
  EXPECT_THAT(dot.out, HasSubstr("clip_source"));
  EXPECT_THAT(dot.out, HasSubstr("dataset_writer"));
}

// Every problem of the config at once, each with its file:line:col, before anything runs.
TEST(ConvertCli, ConfigProblemsComeWithLineAndColumn) {
  const Scratch s("vsr_convert_cli_errors");
  const fs::path cfg = s.write("bad.yaml",
                               "SOURCES:\n"
                               "  inputs: [clip.mp4]\n"
                               "DATASET:\n"
                               "  stride: often\n"
                               "  formats: [smal_540]\n"
                               "LR:\n"
                               "  blur: [2, 1]\n"
                               "RUN:\n"
                               "  num_worker: 2\n");
  const std::string p = cfg.string();
  for (const std::string command : {"validate", "compile", "convert", "run"}) {
    const testing::CommandResult r = run(command + " " + p);
    EXPECT_EQ(r.code, 2) << command << ": " << r.out;
    EXPECT_EQ(r.out, "vsr_flow: " + p +
                         ":4:11: DATASET.stride must be an integer >= 1, found 'often'\n" + p +
                         ":5:13: DATASET.formats: unknown format 'smal_540'; did you mean "
                         "'small_540'? (formats: small_540, medium_169, large_720, xlarge_1440, "
                         "fullhd_1920)\n" +
                         p +
                         ":7:9: LR.blur is [min, max], but min 2 is larger than max 1; write [1, "
                         "2]\n" +
                         p + ":9:3: unknown key 'num_worker' in RUN; did you mean 'num_workers'?\n")
        << command;
  }
  // --set is checked too, and named.
  const testing::CommandResult set = run("validate " + kExample.string() + " --set LR.nois=[0,1]");
  EXPECT_EQ(set.code, 2);
  EXPECT_THAT(set.out, HasSubstr("--set LR.nois=[0,1]: unknown key 'LR.nois'; did you mean "
                                 "'LR.noise'?"));
  const testing::CommandResult cross =
      run("validate " + kExample.string() + " --set 'LR.jpeg_quality=[95, 60]'");
  EXPECT_EQ(cross.code, 2);
  EXPECT_THAT(cross.out, HasSubstr(kExample.string() +
                                   ": --set LR.jpeg_quality=[95, 60]: LR.jpeg_quality is [min, "
                                   "max], but min 95 is larger than max 60"));
}

// Problems the stages find in the compiled spec name the config key and where it is given,
// all at once: footage that is not there, an output folder that cannot be made.
TEST(ConvertCli, SpecProblemsNameTheConfigKey) {
  const Scratch s("vsr_convert_cli_world");
  const fs::path file = s.write("a_file", "not a folder");
  const fs::path cfg = s.write(
      "c.yaml",
      "SOURCES:\n  inputs: [clip.mp4]\nOUTPUT:\n  output_root: " + (file / "out").string() + "\n");
  const testing::CommandResult v = run("validate " + cfg.string());
  EXPECT_EQ(v.code, 2) << v.out;
  EXPECT_THAT(v.out, HasSubstr(cfg.string() + " (compiled): 2 problems:\n  " + cfg.string() +
                               ":2:11: SOURCES.inputs: clip source clip.mp4 does not exist; give "
                               "a video file"));
  EXPECT_THAT(v.out, HasSubstr("\n  " + cfg.string() + ":4:16: OUTPUT.output_root: output folder " +
                               (file / "out").string() + " cannot be created"));
  const testing::CommandResult set =
      run("validate " + kExample.string() + " --set OUTPUT.output_root=" + (file / "x").string());
  EXPECT_EQ(set.code, 2) << set.out;
  EXPECT_THAT(set.out, HasSubstr("--set OUTPUT.output_root=" + (file / "x").string() +
                                 ": OUTPUT.output_root: output folder"));
  // compile writes the spec anyway (it is often compiled for another machine), with a warning.
  const testing::CommandResult c =
      run("compile " + cfg.string() + " -o " + (s.dir / "spec.json").string());
  EXPECT_EQ(c.code, 0) << c.out;
  EXPECT_THAT(c.out, HasSubstr("vsr_flow: warning: " + cfg.string() +
                               ":4:16: OUTPUT.output_root: output folder"));
  EXPECT_TRUE(fs::exists(s.dir / "spec.json"));
  // The problem is found before anything runs.
  const testing::CommandResult r = run("convert " + cfg.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_THAT(r.out, Not(HasSubstr("convert: 1 source")));
}

TEST(ConvertCli, EachCommandTakesItsKindOfConfig) {
  const std::string demo = (kSource / "configs/demo.yaml").string();
  const testing::CommandResult train = run("convert " + demo);
  EXPECT_EQ(train.code, 2);
  EXPECT_THAT(train.out, HasSubstr(demo +
                                   ": convert reads a conversion config (sections SOURCES, "
                                   "OUTPUT, DATASET, LR, RUN; see "
                                   "configs/convert_example.yaml), and this is a training "
                                   "config: train with `vsr_flow run " +
                                   demo + "`"));
  const std::string spec = (kSource / "pipelines/convert.json").string();
  const testing::CommandResult json_spec = run("convert " + spec);
  EXPECT_EQ(json_spec.code, 2);
  EXPECT_THAT(json_spec.out, HasSubstr(spec + " is not a YAML config (*.yaml, *.yml)"));
  const testing::CommandResult none = run("convert");
  EXPECT_EQ(none.code, 2);
  EXPECT_THAT(none.out, HasSubstr("'convert' takes one CONFIG path, got 0"));
  const testing::CommandResult check = run("check-data " + kExample.string());
  EXPECT_EQ(check.code, 2);
  EXPECT_THAT(check.out, HasSubstr("check-data reads a YAML training config; this is a "
                                   "conversion config"));
  const testing::CommandResult help = run("--help");
  EXPECT_THAT(help.out, HasSubstr("  convert CONFIG [--set KEY=VALUE]..."));
  EXPECT_THAT(help.out, HasSubstr("  schema [--convert]"));
  // A training config with a conversion section is read as a training config, whose checks name
  // the section.
  const Scratch s("vsr_convert_cli_mixed");
  const fs::path mixed =
      s.write("m.yaml", "TRAINING:\n  batch_size: {small_540: 2}\nLR:\n  blur: [0, 1]\n");
  const testing::CommandResult m = run("validate " + mixed.string());
  EXPECT_EQ(m.code, 2);
  EXPECT_THAT(m.out, HasSubstr(mixed.string() + ":3:1: unknown section 'LR'"));
}

// Frame t of a textured shot moving right by 2 px per frame.
cv::Mat frame(int t, cv::Size size) {
  cv::Mat img(size, CV_8UC3);
  for (int y = 0; y < size.height; ++y) {
    for (int x = 0; x < size.width; ++x) {
      const double v = 128 + 90 * std::sin((x - 2.0 * t) * 0.09) * std::cos(y * 0.07);
      img.at<cv::Vec3b>(y, x) =
          cv::Vec3b(cv::saturate_cast<uchar>(v), cv::saturate_cast<uchar>(255 - v),
                    cv::saturate_cast<uchar>(0.5 * v + 60));
    }
  }
  return img;
}

void write_frames(const fs::path& dir, int count) {
  fs::create_directories(dir);
  for (int t = 0; t < count; ++t) {
    char name[16];
    std::snprintf(name, sizeof name, "%04d.png", t);
    ASSERT_TRUE(cv::imwrite((dir / name).string(), frame(t, {564, 552})));
  }
}

// `convert` (and `run`, for a conversion config) runs the job on folders of frames.
TEST(ConvertCli, ConvertRunsTheJob) {
  const Scratch s("vsr_convert_cli_run");
  write_frames(s.dir / "clips/shot", 10);  // windows starting at 0 and 3
  write_frames(s.dir / "clips/held", 6);   // Val/GT frames 0 and 5
  const fs::path out = s.dir / "dataset";
  const fs::path cfg =
      s.write("c.yaml", "SOURCES:\n  inputs: [\"" + (s.dir / "clips").string() +
                            "/*\"]\n  val_clips: [held]\nOUTPUT:\n  output_root: " + out.string() +
                            "\nDATASET:\n  stride: 3\n  patches_per_window: 1\n  val_stride: 5\n"
                            "RUN:\n  num_workers: 1\n  prefetch: 8\n");
  const testing::CommandResult c =
      run("convert " + cfg.string() + " --stats-json " + (s.dir / "stats.json").string());
  ASSERT_EQ(c.code, 0) << c.out;
  EXPECT_THAT(c.out, HasSubstr("convert: 1 source -> " + out.string() +
                               " (category general, formats small_540, x3); 1 worker\n"));
  EXPECT_THAT(c.out, HasSubstr("convert: done: train on it with DATA.data_root: " + out.string() +
                               " and DATA.category: general\n"));
  const fs::path learn = out / "Universal/Mastermodell/Learn";
  const auto count = [](const fs::path& dir) {
    std::size_t n = 0;
    if (fs::is_directory(dir)) {
      for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
    }
    return n;
  };
  EXPECT_EQ(count(learn / "Patches/GT"), 2u);
  EXPECT_EQ(count(learn / "Patches/LR_7frames"), 2u);
  EXPECT_EQ(count(learn / "Patches/LR_5frames"), 2u);
  EXPECT_EQ(count(learn / "Val/GT"), 2u);
  const json stats = json::parse(read(s.dir / "stats.json"));
  EXPECT_EQ(stats["stages"].size(), 6u);

  // `run` with a conversion config is the same job (and finds it done).
  const testing::CommandResult again = run("run " + cfg.string());
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_THAT(again.out, HasSubstr("convert: 1 source -> "));
  EXPECT_EQ(count(learn / "Patches/GT"), 2u);

  // SOURCES.val_tail: shot's last 30% (frames 7..9) are held out too: one window (0..6) is
  // left to train on, and Val/GT gets shot's frame 8 beside held's 0 and 4 (val_stride 4).
  const fs::path tail_out = s.dir / "tail";
  const fs::path tail_cfg = s.write(
      "t.yaml", "SOURCES:\n  inputs: [\"" + (s.dir / "clips").string() +
                    "/*\"]\n  val_clips: [held]\n  val_tail: 0.3\nOUTPUT:\n  output_root: " +
                    tail_out.string() +
                    "\nDATASET:\n  stride: 3\n  patches_per_window: 1\n  val_stride: 4\n");
  const testing::CommandResult t = run("convert " + tail_cfg.string());
  ASSERT_EQ(t.code, 0) << t.out;
  const fs::path tail_learn = tail_out / "Universal/Mastermodell/Learn";
  EXPECT_EQ(count(tail_learn / "Patches/GT"), 1u);
  EXPECT_TRUE(fs::exists(tail_learn / "Patches/GT/shot_000003_0.png")) << t.out;
  std::set<std::string> val;
  for (const auto& e : fs::directory_iterator(tail_learn / "Val/GT")) {
    val.insert(e.path().filename().string());
  }
  EXPECT_EQ(val, (std::set<std::string>{"held_000000.png", "held_000004.png", "shot_000008.png"}));
}

// configs/convert.schema.json judged by a real JSON Schema validator: the example passes, and
// configs vsr_flow rejects fail it too.
TEST(ConvertCli, SchemaAgreesWithTheValidator) {
  const fs::path python = kSource / ".venv-test/bin/python";
  ASSERT_TRUE(fs::exists(python)) << python << " is missing: run scripts/setup.sh (it makes the "
                                  << "test venv .venv-test with jsonschema and PyYAML)";
  struct Case {
    std::string name, yaml, error;  // error: "" when it must pass, else part of the message
  };
  const std::string in = "SOURCES:\n  inputs: [a.mp4]\n";
  const std::vector<Case> cases = {
      {"minimal", in, ""},
      {"everything",
       in + "  val_clips: [b]\n  val_fraction: 0.1\nOUTPUT: {output_root: o, category: toon}\n"
            "DATASET: {formats: [small_540, large_720], scale: 3, placement: grid}\n"
            "LR: {downscale: bicubic, blur: [0, 1.5], noise: [0, 5], jpeg_quality: [60, 95]}\n"
            "RUN: {seed: 3, num_workers: 2, prefetch: 4}\n",
       ""},
      {"no_sources", "OUTPUT: {category: toon}\n", "(root): 'SOURCES' is a required property"},
      {"no_inputs", "SOURCES: {val_fraction: 0.5}\n", "SOURCES: 'inputs' is a required property"},
      {"empty_inputs", "SOURCES:\n  inputs: []\n", "SOURCES/inputs: [] should be non-empty"},
      {"unknown_key", in + "DATASET: {bogus: 1}\n", "DATASET: Additional properties"},
      {"unknown_section", in + "TRAINING: {}\n", "'TRAINING' was unexpected"},
      {"bad_choice", in + "LR: {downscale: nearest}\n", "LR/downscale: 'nearest' is not one of"},
      {"bad_scale", in + "DATASET: {scale: 5}\n", "DATASET/scale: 5 is not one of [2, 3, 4]"},
      {"unknown_format", in + "DATASET: {formats: [tiny]}\n",
       "DATASET/formats/0: 'tiny' is not one of"},
      {"jpeg_above_range", in + "LR: {jpeg_quality: [0, 101]}\n",
       "LR/jpeg_quality/1: 101 is greater than the maximum of 100"},
      {"blur_too_long", in + "LR: {blur: [0, 1, 2]}\n", "LR/blur: [0, 1, 2] is too long"},
      {"stride_zero", in + "DATASET: {stride: 0}\n",
       "DATASET/stride: 0 is less than the minimum of 1"},
      {"fraction_one", in + "  val_fraction: 1\n",
       "SOURCES/val_fraction: 1 is greater than or equal to the maximum of 1"},
  };
  const Scratch s("vsr_convert_schema");
  std::string cmd =
      "'" + python.string() + "' '" + (kSource / "tests/validate_configs.py").string() + "' '" +
      (kSource / "configs/convert.schema.json").string() + "' '" + kExample.string() + "'";
  for (const auto& c : cases) cmd += " '" + s.write(c.name + ".yaml", c.yaml).string() + "'";
  const testing::CommandResult r = testing::run_command(cmd);
  ASSERT_EQ(r.code, 0) << cmd << "\n" << r.out;
  const json report = json::parse(r.out);
  EXPECT_EQ(report.at("schema"), json::array()) << "the schema itself is invalid";
  const auto errors = [&](const fs::path& p) {
    std::string text;
    for (const auto& e : report.at("configs").at(p.string())) text += e.get<std::string>() + "\n";
    return text;
  };
  EXPECT_EQ(errors(kExample), "");
  for (const auto& c : cases) {
    bool accepted = true;
    try {
      load_convert_config_text(c.yaml, c.name + ".yaml");
    } catch (const ConfigError&) {
      accepted = false;
    }
    EXPECT_EQ(accepted, c.error.empty()) << c.name << ": vsr_flow's validator disagrees";
    const std::string found = errors(s.dir / (c.name + ".yaml"));
    if (c.error.empty()) {
      EXPECT_EQ(found, "") << c.name;
    } else {
      EXPECT_THAT(found, HasSubstr(c.error)) << c.name;
    }
  }
}

}  // namespace
}  // namespace vsr
