// The conversion job's stages driven by hand: clip_source (held-out clips and tails), window
// (stride, scene cuts, held-out clips, short clips), patches (seeded and grid positions, flat
// crops, formats larger than the source), make_lr (the validation downscale, seeded degradations),
// stack (the inverse of split) and dataset_writer (layout, reruns, manifest).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/errors.h"
#include "runtime/data/formats.h"
#include "runtime/data/image.h"
#include "runtime/data/video.h"
#include "stages/convert/messages.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A textured BGR frame: shot `shot` (each shot its own pattern and brightness, so a change of
// shot is a hard cut), moved by `t` pixels.
cv::Mat frame(int shot, int t, cv::Size size = {600, 560}) {
  cv::Mat img(size, CV_8UC3);
  for (int y = 0; y < size.height; ++y) {
    for (int x = 0; x < size.width; ++x) {
      if (shot == 0) {
        const double v = 110 + 80 * std::sin((x + 2 * t) * 0.07) * std::cos(y * 0.05);
        img.at<cv::Vec3b>(y, x) =
            cv::Vec3b(cv::saturate_cast<uchar>(v), cv::saturate_cast<uchar>(v * 0.8 + 20),
                      cv::saturate_cast<uchar>(255 - v));
      } else {
        const auto v = cv::saturate_cast<uchar>(215 + 35 * std::cos((x - t) * 0.13 + y * 0.11));
        img.at<cv::Vec3b>(y, x) = cv::Vec3b(v, v, v);
      }
    }
  }
  return img;
}

Message clip_frame(int clip, std::int64_t index, const cv::Mat& f, bool last,
                   bool held_out = false) {
  auto c = std::make_shared<ClipFrame>();
  c->source = "clip" + std::to_string(clip) + ".mp4";
  c->clip = "clip" + std::to_string(clip);
  c->clip_index = clip;
  c->index = index;
  c->frame = f;
  c->last = last;
  c->held_out = held_out;
  return Message::of<ClipFrame>(c);
}

std::vector<std::shared_ptr<const TrainWindow>> windows_of(const testing::CapturingEmitter& out) {
  std::vector<std::shared_ptr<const TrainWindow>> w;
  for (const auto& [port, m] : out.messages) {
    if (port == 0) w.push_back(m.as<TrainWindow>());
  }
  return w;
}

TEST(WindowStage, WindowsEveryStrideNeverAcrossACut) {
  auto stage = testing::make_stage("window", {{"stride", 2}});
  testing::CapturingEmitter out;
  // 30 frames: shot 0 for frames 0..14, a hard cut, shot 1 for 15..29.
  for (int i = 0; i < 30; ++i) {
    stage->process(0, clip_frame(0, i, frame(i < 15 ? 0 : 1, i, {96, 64}), i == 29), out);
  }
  stage->close(true);
  std::vector<std::int64_t> centres;
  for (const auto& w : windows_of(out)) {
    ASSERT_EQ(w->frames.size(), 7u);
    centres.push_back(w->centre);
    const std::int64_t first = w->centre - 3, last = w->centre + 3;
    EXPECT_TRUE(last < 15 || first >= 15) << "window " << first << ".." << last << " spans the cut";
  }
  // Starts 0, 2, ..., 8 (window 8..14) before the cut; 10..14 span it; 16, ..., 22 after.
  EXPECT_EQ(centres, (std::vector<std::int64_t>{3, 5, 7, 9, 11, 19, 21, 23, 25}));
}

TEST(WindowStage, HeldOutClipsGiveValidationFramesOnly) {
  auto stage = testing::make_stage("window", {{"val_stride", 4}, {"val_max_per_clip", 3}});
  testing::CapturingEmitter out;
  for (int i = 0; i < 20; ++i)
    stage->process(0, clip_frame(1, i, frame(0, i, {96, 64}), i == 19, true), out);
  std::vector<std::int64_t> val;
  for (const auto& [port, m] : out.messages) {
    ASSERT_EQ(port, 1u);  // never a training window
    val.push_back(m.as<ValFrame>()->index);
  }
  EXPECT_EQ(val, (std::vector<std::int64_t>{0, 4, 8}));
}

TEST(WindowStage, AClipShorterThanAWindowIsAnError) {
  auto stage = testing::make_stage("window");
  testing::CapturingEmitter out;
  for (int i = 0; i < 4; ++i)
    stage->process(0, clip_frame(0, i, frame(0, i, {96, 64}), false), out);
  try {
    stage->process(0, clip_frame(0, 4, frame(0, 4, {96, 64}), true), out);
    ADD_FAILURE() << "no error";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("clip clip0.mp4 has 5 frames; a training window needs 7 "
                                    "consecutive frames"));
  }
}

// A temporary folder of clips for clip_source: frame folders and videos of textured frames.
class ClipSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("vsr_clip_source_" + std::to_string(::getpid()));
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path write_clip(const std::string& name, int frames) {
    const fs::path path = root_ / name;
    ClipWriter writer(path, 25);
    for (int i = 0; i < frames; ++i) {
      writer.write(frame(0, i, {64, 48}),
                   std::string(4 - std::to_string(i).size(), '0') + std::to_string(i));
    }
    writer.close();
    return path;
  }
  // (clip, index, held_out) of every frame clip_source emits with `params`.
  static std::vector<std::tuple<std::string, std::int64_t, bool>> frames_of(const json& params) {
    auto stage = testing::make_stage("clip_source", params);
    stage->open();
    testing::CapturingEmitter out;
    while (stage->produce(out)) {
    }
    std::vector<std::tuple<std::string, std::int64_t, bool>> got;
    for (const auto& [port, m] : out.messages) {
      const auto f = m.as<ClipFrame>();
      got.emplace_back(f->clip, f->index, f->held_out);
    }
    return got;
  }
  fs::path root_;
};

TEST_F(ClipSourceTest, AValTailHoldsOutTheLastFramesOfEveryOtherClip) {
  const fs::path a = write_clip("a", 20), b = write_clip("b.avi", 10), held = write_clip("held", 9);
  const auto got = frames_of({{"sources", {a.string(), b.string(), held.string()}},
                              {"val_clips", {"held"}},
                              {"val_tail", 0.25}});
  ASSERT_EQ(got.size(), 39u);
  std::map<std::string, std::vector<bool>> held_out;
  for (const auto& [clip, index, h] : got) {
    EXPECT_EQ(index, static_cast<std::int64_t>(held_out[clip].size())) << clip;
    held_out[clip].push_back(h);
  }
  // a: 20 frames, the last floor(0.25 x 20) = 5 held out; b (a video, its container's count):
  // 10 frames, the last 3; the held-out clip: all.
  std::vector<bool> a_expected(20, false), b_expected(10, false);
  std::fill(a_expected.begin() + 15, a_expected.end(), true);
  std::fill(b_expected.begin() + 7, b_expected.end(), true);
  EXPECT_EQ(held_out["a"], a_expected);
  EXPECT_EQ(held_out["b"], b_expected);
  EXPECT_EQ(held_out["held"], std::vector<bool>(9, true));

  // Through window: training windows from frames 0..14 only, Val/GT from the tail.
  auto window = testing::make_stage("window", {{"stride", 1}, {"val_stride", 2}});
  testing::CapturingEmitter out;
  const cv::Mat f = frame(0, 0, {64, 48});
  for (int i = 0; i < 20; ++i) {
    window->process(0, clip_frame(0, i, f, i == 19, held_out["a"][i]), out);
  }
  std::int64_t last_window_frame = -1;
  std::vector<std::int64_t> val;
  for (const auto& [port, m] : out.messages) {
    if (port == 0) last_window_frame = std::max(last_window_frame, m.as<TrainWindow>()->centre + 3);
    if (port == 1) val.push_back(m.as<ValFrame>()->index);
  }
  EXPECT_EQ(last_window_frame, 14);
  EXPECT_EQ(val, (std::vector<std::int64_t>{16, 18}));
}

TEST_F(ClipSourceTest, AClipTooShortForItsValTailIsAnErrorNamingIt) {
  const fs::path clip = write_clip("short.avi", 12);
  try {
    frames_of({{"sources", {clip.string()}}, {"val_tail", 0.5}});
    ADD_FAILURE() << "no error";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("clip " + clip.string() +
                                    " has 12 frames: with val_tail 0.5, 6 would be left for "
                                    "training and 6 held out, but a training window needs 7 "
                                    "consecutive frames; lower val_tail, or hold the clip out "
                                    "whole (val_clips)"));
  }
  // Held out whole, the clip needs no frames left to train on.
  const fs::path other = write_clip("other", 20);
  const auto got = frames_of(
      {{"sources", {clip.string(), other.string()}}, {"val_clips", {"short"}}, {"val_tail", 0.5}});
  ASSERT_EQ(got.size(), 32u);
  for (const auto& [name, index, held_out] : got) {
    EXPECT_EQ(held_out, name == "short" || index >= 10) << name << " " << index;
  }
}

std::shared_ptr<const TrainWindow> window_of(int shot, cv::Size size = {600, 560}) {
  auto w = std::make_shared<TrainWindow>();
  w->source = "a.mp4";
  w->clip = "a";
  w->centre = 12;
  for (int t = 0; t < 7; ++t) w->frames.push_back(frame(shot, t, size));
  return w;
}

std::vector<std::shared_ptr<const PatchSample>> patches_of(const json& params,
                                                           std::shared_ptr<const TrainWindow> w) {
  auto stage = testing::make_stage("patches", params);
  testing::CapturingEmitter out;
  stage->process(0, Message::of<TrainWindow>(w), out);
  stage->close(true);
  std::vector<std::shared_ptr<const PatchSample>> p;
  for (const auto& [port, m] : out.messages) p.push_back(m.as<PatchSample>());
  return p;
}

TEST(PatchesStage, SeededPositionsAlignedToTheScaleAndRepeatable) {
  const json params = {
      {"formats", {"small_540"}}, {"scale", 3}, {"seed", 4}, {"patches_per_window", 5}};
  const auto w = window_of(0);
  const auto a = patches_of(params, w), b = patches_of(params, w);
  ASSERT_EQ(a.size(), 5u);
  std::set<std::pair<int, int>> positions;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]->crop, b[i]->crop);  // same seed, same crops
    EXPECT_EQ(a[i]->crop.size(), cv::Size(540, 540));
    EXPECT_EQ(a[i]->crop.x % 3, 0);
    EXPECT_EQ(a[i]->crop.y % 3, 0);
    EXPECT_LE(a[i]->crop.br().x, 600);
    EXPECT_LE(a[i]->crop.br().y, 560);
    positions.insert({a[i]->crop.x, a[i]->crop.y});
    EXPECT_EQ(a[i]->name(), "a_000012_" + std::to_string(i));
  }
  EXPECT_GT(positions.size(), 1u);
  const auto other = patches_of(
      {{"formats", {"small_540"}}, {"scale", 3}, {"seed", 5}, {"patches_per_window", 5}}, w);
  bool differs = false;
  for (std::size_t i = 0; i < other.size(); ++i) differs |= other[i]->crop != a[i]->crop;
  EXPECT_TRUE(differs);
}

TEST(PatchesStage, GridPlacementSpansTheFrame) {
  const auto p = patches_of(
      {{"formats", {"small_540"}}, {"scale", 3}, {"placement", "grid"}, {"patches_per_window", 4}},
      window_of(0));
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0]->crop.tl(), cv::Point(0, 0));
  EXPECT_EQ(p[3]->crop.br(), cv::Point(600, 558));  // 20 px free in y: 18 on the LR grid
}

TEST(PatchesStage, FlatCropsAndFormatsLargerThanTheFramesAreLeftOut) {
  auto flat = std::make_shared<TrainWindow>();
  flat->clip = "sky";
  for (int t = 0; t < 7; ++t)
    flat->frames.push_back(cv::Mat(560, 600, CV_8UC3, cv::Scalar(200, 190, 180)));
  EXPECT_TRUE(patches_of({{"formats", {"small_540"}}, {"scale", 3}}, flat).empty());
  EXPECT_EQ(patches_of({{"formats", {"small_540"}}, {"scale", 3}, {"min_detail", 0}}, flat).size(),
            4u);
  // large_720 does not fit a 600x560 frame; small_540 does.
  const auto mixed =
      patches_of({{"formats", {"large_720", "small_540"}}, {"scale", 3}}, window_of(0));
  ASSERT_EQ(mixed.size(), 4u);
  for (const auto& p : mixed) EXPECT_EQ(p->format, "small_540");
}

std::shared_ptr<const PatchPair> lr_of(const json& params, int n = 0) {
  auto patch = std::make_shared<PatchSample>();
  patch->window = window_of(0);
  patch->format = "small_540";
  patch->n = n;
  patch->crop = cv::Rect(30, 9, 540, 540);
  auto stage = testing::make_stage("make_lr", params);
  testing::CapturingEmitter out;
  stage->process(0, Message::of<PatchSample>(patch), out);
  return out.messages.at(0).second.as<PatchPair>();
}

TEST(MakeLrStage, CleanLrIsTheValidationDownscaleOfEachCrop) {
  const auto pair = lr_of({{"scale", 3}});
  ASSERT_EQ(pair->lr.size(), 7u);
  const auto& w = *pair->patch->window;
  EXPECT_EQ(cv::norm(pair->gt, w.frames[3](pair->patch->crop), cv::NORM_INF), 0);
  for (int t = 0; t < 7; ++t) {
    EXPECT_EQ(pair->lr[t].size(), cv::Size(180, 180));
    EXPECT_EQ(cv::norm(pair->lr[t], downscale(w.frames[t](pair->patch->crop), 3), cv::NORM_INF), 0);
  }
  EXPECT_EQ(pair->degradation.blur_sigma, 0);
  EXPECT_EQ(pair->degradation.jpeg_quality, 0);
}

TEST(MakeLrStage, DegradationsAreSeededPerSample) {
  const json params = {{"scale", 3},
                       {"seed", 2},
                       {"blur", {0.5, 2.0}},
                       {"noise", {1, 4}},
                       {"jpeg_quality", {50, 90}}};
  const auto a = lr_of(params), b = lr_of(params), c = lr_of(params, 1);
  EXPECT_EQ(cv::norm(a->lr[2], b->lr[2], cv::NORM_INF), 0);  // repeatable
  EXPECT_GE(a->degradation.blur_sigma, 0.5);
  EXPECT_LE(a->degradation.blur_sigma, 2.0);
  EXPECT_GE(a->degradation.jpeg_quality, 50);
  EXPECT_LE(a->degradation.jpeg_quality, 90);
  EXPECT_NE(a->degradation.noise_sigma, c->degradation.noise_sigma);  // another sample
  const auto clean = lr_of({{"scale", 3}});
  EXPECT_GT(cv::norm(a->lr[2], clean->lr[2], cv::NORM_L1), 0);
}

TEST(MakeLrStage, ARangeMustBeMinThenMax) {
  try {
    testing::make_stage("make_lr", {{"scale", 3}, {"blur", {2, 1}}});
    ADD_FAILURE() << "accepted";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("blur must be [min, max] with min <= max, found [2,1]"));
  }
}

TEST(StackStage, StacksAreWhatSplitReadsBack) {
  const auto pair = lr_of({{"scale", 3}});
  auto stage = testing::make_stage("stack");
  testing::CapturingEmitter out;
  stage->process(0, Message::of<PatchPair>(pair), out);
  const auto s = out.messages.at(0).second.as<PatchStacks>();
  EXPECT_EQ(s->lr7.size(), cv::Size(180, 7 * 180));
  EXPECT_EQ(s->lr5.size(), cv::Size(180, 5 * 180));
  const auto seven = split_stack(s->lr7, 7, {180, 180}, "lr7");
  const auto five = split_stack(s->lr5, 5, {180, 180}, "lr5");
  for (int t = 0; t < 7; ++t) EXPECT_EQ(cv::norm(seven[t], pair->lr[t], cv::NORM_INF), 0);
  for (int t = 0; t < 5; ++t) EXPECT_EQ(cv::norm(five[t], pair->lr[t + 1], cv::NORM_INF), 0);
}

TEST(DatasetWriterStage, WritesTheLayoutOnceAndTheManifest) {
  const fs::path root = fs::path(::testing::TempDir()) / "vsr_convert_writer";
  fs::remove_all(root);
  const auto pair = lr_of({{"scale", 3}});
  auto stack = testing::make_stage("stack");
  testing::CapturingEmitter stacked;
  stack->process(0, Message::of<PatchPair>(pair), stacked);
  auto val = std::make_shared<ValFrame>();
  val->source = "held.mp4";
  val->clip = "held";
  val->index = 30;
  val->frame = frame(1, 0, {100, 50});
  const json params = {{"output_root", root.string()},
                       {"category", "general"},
                       {"scale", 3},
                       {"config", "SOURCES: {inputs: [a.mp4]}\n"}};
  for (int run = 0; run < 2; ++run) {
    auto writer = testing::make_stage("dataset_writer", params);
    testing::CapturingEmitter none;
    writer->process(0, stacked.messages.at(0).second, none);
    writer->process(1, Message::of<ValFrame>(val), none);
    if (run == 0) {
      writer->close(true);
      continue;
    }
    // The rerun finds the files there and writes nothing.
    const auto before =
        fs::last_write_time(root / "Universal/Mastermodell/Learn/Patches/GT/a_000012_0.png");
    writer->close(true);
    EXPECT_EQ(fs::last_write_time(root / "Universal/Mastermodell/Learn/Patches/GT/a_000012_0.png"),
              before);
  }
  const fs::path cat = root / "Universal/Mastermodell/Learn";
  const cv::Mat gt = cv::imread((cat / "Patches/GT/a_000012_0.png").string(), cv::IMREAD_UNCHANGED);
  EXPECT_EQ(gt.size(), cv::Size(540, 540));
  EXPECT_EQ(cv::norm(gt, pair->gt, cv::NORM_INF), 0);  // lossless, as cut
  EXPECT_EQ(cv::imread((cat / "Patches/LR_7frames/a_000012_0.png").string()).size(),
            cv::Size(180, 1260));
  EXPECT_EQ(cv::imread((cat / "Patches/LR_5frames/a_000012_0.png").string()).size(),
            cv::Size(180, 900));
  EXPECT_EQ(cv::imread((cat / "Val/GT/held_000030.png").string()).size(), cv::Size(99, 48));
  std::ifstream manifest(cat / "manifest.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(manifest, line);)
    lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["name"], "a_000012_0");
  EXPECT_EQ(lines[0]["frames"], nlohmann::json::array({9, 15}));
  EXPECT_EQ(lines[0]["crop"], nlohmann::json::array({30, 9, 540, 540}));
  EXPECT_EQ(lines[0]["source"], "a.mp4");
  EXPECT_EQ(lines[1]["val"], true);
  EXPECT_EQ(lines[1]["name"], "held_000030");
  std::ifstream config(cat / "convert_config.yaml");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(config), {}),
            "SOURCES: {inputs: [a.mp4]}\n");
  fs::remove_all(root);
}

}  // namespace
}  // namespace vsr
