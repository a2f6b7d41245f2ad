// The vsr_flow command line: compile, validate, dot, stages, signals; and the checked-in
// pipelines staying in sync with the configs they are compiled from.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "graph/registry.h"
#include "graph/spec.h"
#include "runtime/cli/compile.h"
#include "runtime/cli/signals.h"
#include "runtime/data/image.h"
#include "runtime/data/mock_data.h"
#include "runtime/data/video.h"
#include "runtime/model/device.h"
#include "runtime/model/model.h"
#include "runtime/outputs/checkpoint.h"
#include "tests/support/command.h"
#include "tests/support/mock_dataset.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using Result = testing::CommandResult;  // out: stdout and stderr together

Result run(const std::string& args) {
  return testing::run_command(std::string(VSR_BINARY) + " " + args + " 2>&1");
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const fs::path kSource = VSR_SOURCE_DIR;

// The paths pipelines/infer.json holds for the user to replace.
UpscaleJob infer_placeholders() {
  UpscaleJob job;
  job.checkpoint = "/path/to/experiment/checkpoints/checkpoint_step_100000.pth";
  job.input = "/path/to/lr_clip.mp4";
  job.output = "/path/to/upscaled_clip.mp4";
  return job;
}
const UpscaleJob kInferPlaceholders = infer_placeholders();

TEST(Cli, EveryTrainingStageIsRegistered) {
  const auto names = Registry::global().names();
  for (const char* type :
       {"sample", "decode", "split", "augment", "batch", "train_step", "validate", "image_writer",
        "checkpoint", "tensorboard", "progress", "scan", "check_pair", "check_report", "frames",
        "upscale", "frame_writer"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), type), names.end()) << type;
  }
  const Result r = run("stages");
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("sample  (source)"));
  EXPECT_THAT(r.out, HasSubstr("in  in: SampleRequest"));
  EXPECT_THAT(r.out, HasSubstr("param crop (int, default 0)"));
}

// pipelines/train.json is what `vsr_flow compile configs/train_general_7frames.yaml` makes.
TEST(Cli, CheckedInPipelinesAreInSync) {
  const std::map<std::string, std::string> compiled_from = {
      {"train.json", "train_general_7frames.yaml"}};
  for (const auto& [spec, config] : compiled_from) {
    const json expected = compile_config_file((kSource / "configs" / config).string(), {});
    ASSERT_TRUE(fs::exists(kSource / "pipelines" / spec)) << spec;
    EXPECT_EQ(json::parse(read(kSource / "pipelines" / spec)), expected)
        << "regenerate: vsr_flow compile configs/" << config << " -o pipelines/" << spec;
  }
  // pipelines/infer.json is the spec `vsr_flow upscale` builds, with placeholder paths.
  const json infer = to_json(parse_spec(make_infer_spec(kInferPlaceholders), Registry::global(),
                                        "infer", CheckOptions{/*world=*/false}));
  ASSERT_TRUE(fs::exists(kSource / "pipelines/infer.json"));
  EXPECT_EQ(json::parse(read(kSource / "pipelines/infer.json")), infer)
      << "regenerate pipelines/infer.json from make_infer_spec (runtime/config/specs.cpp):\n"
      << infer.dump(2);
}

// A mock dataset in the demo's formats, for commands that check the world (validate, run).
struct DemoData {
  // --set options that point the demo config at this dataset and a scratch output folder.
  std::string sets() const {
    return " --set DATA.data_root=" + root.string() +
           " --set OUTPUT.experiments_root=" + (root / "experiments").string();
  }
  const testing::MockDataset data{"vsr_cli_demo"};  // small_540, 7 frames, 1 clip, 1 val image
  const fs::path root = data.root();
};

TEST(Cli, CompileWritesTheSpecAndValidateAcceptsIt) {
  const DemoData data;
  const fs::path out = fs::path(::testing::TempDir()) / "vsr_cli_train.json";
  const Result c = run("compile " + (kSource / "configs/demo.yaml").string() + data.sets() +
                       " --set TRAINING.total_steps=70 -o " + out.string());
  ASSERT_EQ(c.code, 0) << c.out;
  const json spec = json::parse(read(out));
  EXPECT_EQ(spec["version"], 1);
  EXPECT_THAT(spec["meta"]["config_text"].get<std::string>(), HasSubstr("base_channels: 16"));
  bool found = false;
  for (const auto& s : spec["stages"]) {
    if (s["name"] == "train_step") {
      EXPECT_FALSE(s["params"].contains("total_steps"));  // given once, in "shared"
      found = true;
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(spec["shared"]["total_steps"], 70);
  const Result v = run("validate " + out.string());
  EXPECT_EQ(v.code, 0) << v.out;
  EXPECT_THAT(v.out, HasSubstr(": ok ("));
}

// A failure during a run keeps the kind of its cause, and the exit code says which: a dataset
// file that exists but cannot be decoded is a data error (3), named with its stage and file.
TEST(Cli, ADataErrorInAStageEndsTheRunWithExitCode3) {
  const DemoData data;
  const fs::path gt = data.root / "Universal/Mastermodell/Learn/Patches/GT";
  ASSERT_TRUE(fs::is_directory(gt));
  for (const auto& e : fs::directory_iterator(gt)) {
    std::ofstream(e.path(), std::ios::trunc) << "not a PNG";
  }
  const Result r = run("run " + (kSource / "configs/demo.yaml").string() + data.sets() +
                       " --set TRAINING.total_steps=2 --set TRAINING.warmup_steps=0"
                       " --set TRAINING.threads=1");
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("vsr_flow: data error: stage 'decode' (type decode) failed: "));
  EXPECT_THAT(r.out, HasSubstr(gt.string()));
}

// The two cases a new user met: validate said ok and run failed later. Now validate reports
// both, each with the config key and where it was set, and exits 2.
TEST(Cli, ValidateRunsEveryStageCheckWithTheConfigKey) {
  const DemoData data;
  const std::string demo = (kSource / "configs/demo.yaml").string();
  Result r = run("validate " + demo + data.sets() + " --set DATA.augmentation.crop=999");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--set DATA.augmentation.crop=999: DATA.augmentation.crop: crop "
                               "999 is larger than the patch size 540x540 of small_540"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("params.crop")));
  r = run("validate " + demo + data.sets() + " --set MODEL.pretrained=/nonexistent.pth");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--set MODEL.pretrained=/nonexistent.pth: MODEL.pretrained: "
                               "pretrained weights file /nonexistent.pth does not exist"));
  // Set in the file itself, the problem carries the key's file:line:col.
  const fs::path config = data.root / "bad.yaml";
  std::ofstream(config) << "MODEL:\n  base_channels: 16\n  num_blocks: 2\n"
                        << "  pretrained: /nonexistent.pth\nDATA:\n  augmentation:\n"
                        << "    crop: 999\nTRAINING:\n  batch_size: {small_540: 2}\n";
  r = run("validate " + config.string() + data.sets());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr(config.string() + ":4:15: MODEL.pretrained: pretrained weights "
                                                 "file /nonexistent.pth does not exist"));
  EXPECT_THAT(r.out, HasSubstr(config.string() + ":7:11: DATA.augmentation.crop: crop 999"));
  EXPECT_THAT(r.out, HasSubstr("2 problems"));
  // run finds the same before any stage is built: nothing is written.
  r = run("run " + config.string() + data.sets());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr(":7:11: DATA.augmentation.crop"));
  EXPECT_FALSE(fs::exists(data.root / "experiments"));
  // compile writes the spec for another machine and warns about the world only.
  const fs::path out = data.root / "spec.json";
  r = run("compile " + config.string() + data.sets() + " --set DATA.augmentation.crop=96 -o " +
          out.string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("vsr_flow: warning: " + config.string() +
                               ":4:15: MODEL.pretrained: pretrained weights file"));
  EXPECT_TRUE(fs::exists(out));
}

TEST(Cli, ValidateReportsEveryProblemWithPathsAndExits2) {
  const fs::path bad = fs::path(::testing::TempDir()) / "vsr_cli_bad.json";
  std::ofstream(bad) << R"({"version": 1,
    "stages": [{"name": "d", "type": "decod"}, {"name": "b", "type": "batch",
                "params": {"size": 2}}],
    "edges": ["d.out -> b.in"]})";
  const Result r = run("validate " + bad.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.out, HasSubstr("$.stages[0].type: unknown stage type 'decod' (did you mean "
                               "'decode'?)"));
  EXPECT_THAT(r.out, HasSubstr("$.stages[1].params.size: unknown param 'size'"));
  EXPECT_THAT(r.out, HasSubstr("$.edges[0]: edge names unknown stage 'd'"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("terminate")));
}

TEST(Cli, ConfigErrorsComeWithFileLineAndColumn) {
  const fs::path bad = fs::path(::testing::TempDir()) / "vsr_cli_bad.yaml";
  std::ofstream(bad) << "MODEL:\n  base_chanels: 16\nTRAINING:\n  total_steps: -3\n";
  const Result r = run("validate " + bad.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.out, HasSubstr(bad.string() + ":2:3: "));
  EXPECT_THAT(r.out, HasSubstr("base_channels"));
  EXPECT_THAT(r.out, HasSubstr(bad.string() + ":4:16: "));
}

TEST(Cli, DotOfTheTrainingPipelineRendersWithGraphviz) {
  const fs::path svg = fs::path(::testing::TempDir()) / "vsr_train.svg";
  const Result r =
      run("dot " + (kSource / "pipelines/train.json").string() + " | dot -Tsvg -o " + svg.string());
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string text = read(svg);
  EXPECT_THAT(text, HasSubstr("<svg"));
  EXPECT_THAT(text, HasSubstr("train_step"));
  EXPECT_THAT(text, HasSubstr("MicroBatch"));
}

TEST(Cli, HelpPrintsTheUsageAndSucceeds) {
  for (const char* args : {"--help", "-h", "help", "run --help", "check-data -h"}) {
    const Result r = run(args);
    EXPECT_EQ(r.code, 0) << args;
    EXPECT_THAT(r.out, HasSubstr("usage: vsr_flow <command>")) << args;
    EXPECT_THAT(r.out, HasSubstr("check-data CONFIG")) << args;
  }
}

TEST(Cli, UnknownCommandAndMissingFile) {
  Result r = run("frobnicate");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.out, HasSubstr("unknown command 'frobnicate'"));
  r = run("validate /nonexistent/spec.json");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.out, HasSubstr("/nonexistent/spec.json: cannot open the file"));
}

TEST(Signals, FirstSignalAsksToStop) {
  std::atomic<bool> stop{false};
  install_stop_signals(&stop);
  std::raise(SIGINT);
  EXPECT_TRUE(stop.load());
  install_stop_signals(nullptr);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

}  // namespace
}  // namespace vsr

namespace vsr {
namespace {

TEST(Cli, SelftestPassesOnThisInstallation) {
  const Result r = run("selftest");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("[ok]   model with 5 frames"));
  EXPECT_THAT(r.out, HasSubstr("[ok]   config train_space_7frames.yaml compiles"));
  EXPECT_THAT(r.out, HasSubstr("[ok]   training: 4 steps with validation and a checkpoint"));
  EXPECT_THAT(r.out, HasSubstr("selftest: all checks passed"));
}

}  // namespace
}  // namespace vsr

namespace vsr {
namespace {

TEST(Cli, PrintsItsVersion) {
  const Result r = run("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, ::testing::StartsWith("vsr_flow 0.1.0"));
}

}  // namespace
}  // namespace vsr

namespace vsr {
namespace {

// check-data: a mock dataset in its own per-process folder and a config pointing at it.
struct CheckDataFixture {
  explicit CheckDataFixture(const std::string& name)
      : data(name, {{"small_540", "medium_169"}, {5, 7}, /*count=*/3, /*val_count=*/2}),
        root(data.root()),
        config(root / "check.yaml"),
        learn(data.learn()) {
    std::ofstream(config) << "DATA:\n  data_root: \"" << root.string()
                          << "\"\n  formats: [small_540, medium_169]\n  num_workers: 2\n"
                          << "TRAINING:\n  batch_size: {small_540: 2, medium_169: 1}\n";
  }
  const testing::MockDataset data;
  fs::path root, config, learn;
};

TEST(Cli, CheckDataPassesACleanDataset) {
  const CheckDataFixture d("vsr_cli_check_clean");
  const Result r = run("check-data " + d.config.string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("checked small_540: 3 pairs, 8-bit, ok"));
  EXPECT_THAT(r.out, HasSubstr("checked validation images: 2 images, 8-bit, ok"));
  EXPECT_THAT(r.out, HasSubstr("dataset OK: 6 pairs in 2 formats, 2 validation images"));
}

TEST(Cli, CheckDataReportsEveryBadFileInOneRun) {
  const CheckDataFixture d("vsr_cli_check_broken");
  const fs::path small = d.learn / "Patches", medium = d.learn / "Patches_Medium169";
  // A 5-frame stack where the 7-frame one belongs, a GT of the wrong format, a garbage file.
  fs::copy_file(small / "LR_5frames/0001.png", small / "LR_7frames/0001.png",
                fs::copy_options::overwrite_existing);
  fs::copy_file(small / "GT/0002.png", medium / "GT/0002.png",
                fs::copy_options::overwrite_existing);
  std::ofstream(small / "GT/0000.png", std::ios::trunc) << "garbage bytes, not an image";
  const fs::path report = d.root / "report.json";
  const Result r = run("check-data " + d.config.string() + " --report " + report.string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("3 problems in 6 pairs in 2 formats, 2 validation images"));
  EXPECT_THAT(r.out, HasSubstr("cannot read image " + (small / "GT/0000.png").string()));
  EXPECT_THAT(r.out, HasSubstr("Wrong frame count in LR stack " +
                               (small / "LR_7frames/0001.png").string() + ": expected 180x1260"));
  EXPECT_THAT(r.out, HasSubstr("found 180x900"));
  EXPECT_THAT(r.out, HasSubstr("Wrong GT size in " + (medium / "GT/0002.png").string() +
                               ": expected 720x405"));
  EXPECT_THAT(r.out, HasSubstr("found 540x540"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("dataset OK")));

  std::ifstream in(report);
  ASSERT_TRUE(in) << report;
  const json doc = json::parse(in);
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["pairs"], 6);
  EXPECT_EQ(doc["val_images"], 2);
  EXPECT_EQ(doc["problem_count"], 3);
  std::vector<std::string> kinds;
  for (const auto& p : doc["problems"]) kinds.push_back(p["kind"]);
  EXPECT_THAT(kinds, ::testing::ElementsAre("unreadable", "lr_stack", "gt_size"));  // scan order
  EXPECT_EQ(doc["problems"][0]["gt"], (small / "GT/0000.png").string());
}

TEST(Cli, CheckDataReportsPairingErrorsAndNeedsAConfig) {
  const CheckDataFixture d("vsr_cli_check_pairing");
  fs::remove(d.learn / "Patches_Medium169/LR_7frames/0001.png");
  Result r = run("check-data " + d.config.string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("vsr_flow: check-data: dataset " + d.root.string()));
  EXPECT_THAT(r.out, HasSubstr("without a matching file in LR_7frames/, e.g. 0001.png"));
  r = run("check-data " + (kSource / "pipelines/train.json").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.out, HasSubstr("check-data reads a YAML training config"));
}

// `vsr_flow upscale` on small clips (5 frames in a folder; a 20-frame video with a hard cut at
// frame 10) with a tiny untrained checkpoint, and the same job through pipelines/infer.json
// with its placeholders replaced.
class UpscaleCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / ("vsr_cli_upscale_" + std::to_string(getpid()));
    fs::remove_all(root_);
    for (int i = 0; i < 5; ++i) {
      write_png_atomic(root_ / "lr" / ("frame_" + std::to_string(i) + ".png"),
                       make_mock_image(cv::Size(48, 40), 10 + static_cast<std::uint64_t>(i)));
    }
    // Textured content moving a pixel per frame; another scene from frame 10 on.
    cv::VideoWriter video((root_ / "clip.mp4").string(), cv::CAP_FFMPEG,
                          cv::VideoWriter::fourcc('m', 'p', '4', 'v'), 25, cv::Size(48, 40));
    ASSERT_TRUE(video.isOpened());
    cv::Mat scenes[2];
    for (int s = 0; s < 2; ++s) {
      cv::Mat bytes;
      make_mock_image(cv::Size(80, 60), 40 + static_cast<std::uint64_t>(s))
          .convertTo(bytes, CV_8U, 255.0);
      cv::cvtColor(bytes, scenes[s], cv::COLOR_RGB2BGR);
    }
    for (int i = 0; i < 20; ++i) video.write(scenes[i < 10 ? 0 : 1](cv::Rect(i, i / 2, 48, 40)));
    video.release();
    VSRNet net(VSRNetOptions().base_channels(8).num_blocks(1).scale(2).frames(3));
    CheckpointData c;
    c.step = 10;
    c.base_channels = 8;
    c.num_blocks = 1;
    c.scale = 2;
    c.frames = 3;
    for (const auto& p : net->named_parameters()) {
      c.model.emplace_back(p.key(), p.value().detach().clone());
    }
    c.ema = c.model;
    save_checkpoint(root_ / "model.pth", c);
  }
  void TearDown() override { fs::remove_all(root_); }

  Result upscale(const std::string& input, const std::string& output,
                 const std::string& options = " --device cpu --threads 1") {
    return run("upscale " + (root_ / "model.pth").string() + " --input " +
               (root_ / input).string() + " --output " + (root_ / output).string() + options);
  }

  static std::vector<std::string> entries(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  // Every file in dir must be one of the 5 frames, 96x80.
  void expect_five_frames(const fs::path& dir) {
    const auto names = entries(dir);
    EXPECT_EQ(names, (std::vector<std::string>{"frame_0.png", "frame_1.png", "frame_2.png",
                                               "frame_3.png", "frame_4.png"}));
    for (const auto& n : names) EXPECT_EQ(read_image_rgb(dir / n).size(), cv::Size(96, 80)) << n;
  }

  // The video's frames, read back: how many, each 96x80 (2 x 48x40), at `fps`.
  void expect_video(const fs::path& path, int frames, double fps) {
    EXPECT_EQ(entries(path.parent_path()), std::vector<std::string>{path.filename().string()})
        << "no temporary file is left";
    ClipReader clip(path);
    EXPECT_DOUBLE_EQ(clip.fps(), fps);
    int n = 0;
    for (cv::Mat f; clip.read(f); ++n) EXPECT_EQ(f.size(), cv::Size(96, 80)) << n;
    EXPECT_EQ(n, frames);
  }

  fs::path root_;
};

TEST_F(UpscaleCommandTest, WritesEveryFrameUpscaled) {
  const Result r = upscale("lr", "out", " --tile 20 --tile-overlap 4 --device cpu --threads 1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("x2, 3 frames, EMA weights"));
  EXPECT_THAT(r.out, HasSubstr((root_ / "lr").string() + " (frame folder, 5 frames, 48x40) -> " +
                               (root_ / "out").string() + " (PNG frames, 96x80)"));
  EXPECT_THAT(r.out, HasSubstr("frame 5/5 (100%) | "));
  EXPECT_THAT(r.out, HasSubstr("upscale: wrote 5 frames to " + (root_ / "out").string()));
  expect_five_frames(root_ / "out");
}

TEST_F(UpscaleCommandTest, VideoInVideoOut) {
  const Result r = upscale("clip.mp4", "out/clip_x2.mp4");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(
      r.out,
      HasSubstr((root_ / "clip.mp4").string() + " (video, about 20 frames, 48x40, 25 fps) -> " +
                (root_ / "out/clip_x2.mp4").string() + " (mp4v video, 96x80, 25 fps)"));
  // The windows do not cross the cut (the frames stage's tests check which frames they hold).
  EXPECT_THAT(r.out, HasSubstr("frames: 1 scene cut in " + (root_ / "clip.mp4").string() +
                               " (at frame 10); windows do not cross them"));
  EXPECT_THAT(r.out, HasSubstr("frame 20/20 (100%) | "));
  EXPECT_THAT(r.out,
              HasSubstr("upscale: wrote 20 frames to " + (root_ / "out/clip_x2.mp4").string()));
  expect_video(root_ / "out/clip_x2.mp4", 20, 25);
}

TEST_F(UpscaleCommandTest, FolderInVideoOutAndVideoInFolderOut) {
  Result r = upscale("lr", "out/lr_x2.mkv");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("(FFV1 video, 96x80, 25 fps)"));  // a folder has no rate: 25
  expect_video(root_ / "out/lr_x2.mkv", 5, 25);
  r = upscale("lr", "fps/lr_x2.avi", " --fps 12 --device cpu --threads 1 --precision bf16");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("EMA weights, bf16)"));
  // bf16 by name warns exactly where auto would not pick it (a CPU without AMX-BF16).
  const std::string slow =
      slow_cpu_bf16(c10::Device(c10::kCPU), Precision::kBf16, cpu_native_bf16());
  EXPECT_EQ(r.out.find("upscale: warning: precision bf16 " + slow) != std::string::npos,
            !slow.empty())
      << r.out;
  expect_video(root_ / "fps/lr_x2.avi", 5, 12);

  // --precision auto: bf16 on a CPU with AMX-BF16, else off; the same frames as the run that
  // names the choice.
  r = upscale("clip.mp4", "frames_x2",
              " --device cpu --threads 1 --cut-threshold 0 --precision auto");
  ASSERT_EQ(r.code, 0) << r.out;
  const PrecisionChoice here = auto_precision(false, 0, 0, cpu_native_bf16());
  const std::string picked = precision_name(here.precision);
  EXPECT_THAT(r.out, HasSubstr("upscale: precision auto: " + picked + " (" + here.why + ")"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("scene cut")));
  const auto names = entries(root_ / "frames_x2");
  ASSERT_EQ(names.size(), 20u);
  EXPECT_EQ(names.front(), "000000.png");
  EXPECT_EQ(names.back(), "000019.png");
  EXPECT_EQ(read_image_rgb(root_ / "frames_x2/000007.png").size(), cv::Size(96, 80));
  r = upscale("clip.mp4", "frames_" + picked,
              " --device cpu --threads 1 --cut-threshold 0 --precision " + picked);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("precision auto")));
  const cv::Mat a = read_image_rgb(root_ / "frames_x2/000007.png");
  const cv::Mat b = read_image_rgb(root_ / ("frames_" + picked + "/000007.png"));
  EXPECT_EQ(cv::norm(a, b, cv::NORM_INF), 0.0);
}

TEST_F(UpscaleCommandTest, Fp16OnTheCpuIsRejectedBeforeAnythingRuns) {
  const Result r = upscale("clip.mp4", "out/clip_x2.mp4", " --device cpu --precision fp16");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--precision: precision fp16 needs a CUDA device; use bf16 (or "
                               "off) on the CPU"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("upscale: wrote")));
  EXPECT_FALSE(fs::exists(root_ / "out"));
  const Result bad = upscale("clip.mp4", "out/clip_x2.mp4", " --precision half");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_THAT(bad.out, HasSubstr("--precision: "));
}

TEST_F(UpscaleCommandTest, MissingCheckpointExitsNonZeroNamingThePath) {
  const fs::path missing = root_ / "checkpoints" / "checkpoint_step_000001.pth";
  const Result r = run("upscale " + missing.string() + " --input " + (root_ / "lr").string() +
                       " --output " + (root_ / "out").string());
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr(missing.string()));
  EXPECT_FALSE(fs::exists(root_ / "out"));
}

TEST_F(UpscaleCommandTest, MissingOrUnwritableClipsAreNamedByTheirOption) {
  Result r = upscale("nope", "out");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_THAT(r.out,
              HasSubstr("--input: frame folder " + (root_ / "nope").string() + " does not exist"));
  r = upscale("nope.mkv", "out");
  EXPECT_THAT(r.out, HasSubstr("--input: video " + (root_ / "nope.mkv").string() +
                               " does not exist; check the path"));
  std::ofstream(root_ / "fake.mp4") << "not a video";
  r = upscale("fake.mp4", "out");
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("cannot open video " + (root_ / "fake.mp4").string()));
  r = upscale("clip.mp4", "out/clip_x2.flv");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("--output: cannot write " + (root_ / "out/clip_x2.flv").string() +
                               ": .flv videos are not written by vsr_flow"));
  EXPECT_FALSE(fs::exists(root_ / "out"));
}

TEST_F(UpscaleCommandTest, CheckedInInferSpecRunsWithItsPlaceholdersReplaced) {
  // A template: its placeholder paths exist nowhere, so only the spec itself is checked.
  const Result v = run("validate --spec-only " + (kSource / "pipelines/infer.json").string());
  EXPECT_EQ(v.code, 0) << v.out;
  json spec = json::parse(read(kSource / "pipelines/infer.json"));
  for (auto& s : spec["stages"]) {
    if (s["name"] == "frames") {
      s["params"]["dir"] = (root_ / "lr").string();
      s["params"]["frames"] = 3;
    } else if (s["name"] == "upscale") {
      s["params"]["checkpoint"] = (root_ / "model.pth").string();
      s["params"]["frames"] = 3;
      s["params"]["device"] = "cpu";
      s["params"]["threads"] = 1;
    } else if (s["name"] == "frame_writer") {
      s["params"]["dir"] = (root_ / "via_spec").string();
    }
  }
  std::ofstream(root_ / "infer.json") << spec.dump(2);
  const Result r = run("run " + (root_ / "infer.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  expect_five_frames(root_ / "via_spec");
}

}  // namespace
}  // namespace vsr
