// The frames source: a window of neighbouring decoded frames per frame of a video or a frame
// folder, clamped at both ends of the clip and at scene cuts, each frame decoded once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "common/errors.h"
#include "runtime/data/image.h"
#include "runtime/data/mock_data.h"
#include "stages/infer/frames.h"
#include "stages/infer/messages.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::InferStagesTest;
using Sources = std::vector<std::int64_t>;

// 20 frames of 40x32 textured content moving a pixel per frame, as a lossless video (FFV1:
// what is read back is exactly what was written); from frame `cut` on (>= 0) another scene.
std::vector<cv::Mat> write_clip(const fs::path& path, int cut, double fps = 24) {
  const auto scene = [](std::uint64_t seed) {
    cv::Mat bytes, bgr;
    make_mock_image(cv::Size(80, 60), seed).convertTo(bytes, CV_8U, 255.0);
    cv::cvtColor(bytes, bgr, cv::COLOR_RGB2BGR);
    return bgr;
  };
  const cv::Mat a = scene(5), b = scene(6);
  std::vector<cv::Mat> frames;
  cv::VideoWriter w(path.string(), cv::CAP_FFMPEG, cv::VideoWriter::fourcc('F', 'F', 'V', '1'), fps,
                    cv::Size(40, 32));
  EXPECT_TRUE(w.isOpened()) << path;
  for (int i = 0; i < 20; ++i) {
    const cv::Mat& s = (cut >= 0 && i >= cut) ? b : a;
    frames.push_back(s(cv::Rect(i, i / 2, 40, 32)).clone());
    w.write(frames.back());
  }
  return frames;
}

struct SourceRun {
  std::vector<std::shared_ptr<const FrameWindow>> windows;
  std::vector<std::int64_t> decoded_after;  // frames decoded when each window was emitted
  Sources cuts;
};

// Every window of the frames source over `input`.
SourceRun run_frames(const fs::path& input, int frames, double cut_threshold = 30) {
  auto stage = testing::make_stage(
      "frames", {{"dir", input.string()}, {"frames", frames}, {"cut_threshold", cut_threshold}});
  auto& source = dynamic_cast<FramesStage&>(*stage);
  source.open();
  SourceRun run;
  testing::CapturingEmitter out;
  while (source.produce(out)) run.decoded_after.push_back(source.frames_decoded());
  for (const auto& [port, m] : out.messages) {
    EXPECT_EQ(port, 0u);
    run.windows.push_back(m.as<FrameWindow>());
  }
  run.cuts = source.cuts();
  source.close(true);
  return run;
}

TEST_F(InferStagesTest, FramesClampsTheWindowAtBothEnds) {
  // The suite's frames are five unrelated images: every one is a cut unless detection is off.
  EXPECT_EQ(run_frames(root_ / "lr", 3).cuts, (Sources{1, 2, 3, 4}));
  const SourceRun r3 = run_frames(root_ / "lr", 3, /*cut_threshold=*/0);
  ASSERT_EQ(r3.windows.size(), 5u);
  EXPECT_EQ(r3.windows[0]->sources, (Sources{0, 0, 1}));
  EXPECT_EQ(r3.windows[1]->sources, (Sources{0, 1, 2}));
  EXPECT_EQ(r3.windows[2]->sources, (Sources{1, 2, 3}));
  EXPECT_EQ(r3.windows[3]->sources, (Sources{2, 3, 4}));
  EXPECT_EQ(r3.windows[4]->sources, (Sources{3, 4, 4}));
  const SourceRun r5 = run_frames(root_ / "lr", 5, /*cut_threshold=*/0);
  const auto& w5 = r5.windows;
  ASSERT_EQ(w5.size(), 5u);
  EXPECT_EQ(w5[0]->sources, (Sources{0, 0, 0, 1, 2}));
  EXPECT_EQ(w5[1]->sources, (Sources{0, 0, 1, 2, 3}));
  EXPECT_EQ(w5[2]->sources, (Sources{0, 1, 2, 3, 4}));
  EXPECT_EQ(w5[3]->sources, (Sources{1, 2, 3, 4, 4}));
  EXPECT_EQ(w5[4]->sources, (Sources{2, 3, 4, 4, 4}));
  for (std::size_t i = 0; i < w5.size(); ++i) {
    EXPECT_EQ(w5[i]->index, static_cast<std::int64_t>(i));
    EXPECT_EQ(w5[i]->name, "000" + std::to_string(i));
    EXPECT_EQ(w5[i]->clip.fps, 0);  // a frame folder has no rate
    EXPECT_EQ(w5[i]->clip.frame_count, 5);
    ASSERT_EQ(w5[i]->frames.size(), 5u);
    for (std::size_t t = 0; t < 5; ++t) {
      const cv::Mat expected = read_image_bgr(frame_path(static_cast<int>(w5[i]->sources[t])));
      EXPECT_EQ(cv::norm(w5[i]->frames[t], expected, cv::NORM_INF), 0) << i << " " << t;
    }
  }
}

TEST_F(InferStagesTest, FramesDecodesEachFrameOnceAndReadsHalfAWindowAhead) {
  write_clip(root_ / "clip.mkv", /*cut=*/-1);
  const SourceRun r = run_frames(root_ / "clip.mkv", 5);
  ASSERT_EQ(r.windows.size(), 20u);
  for (std::size_t i = 0; i < r.windows.size(); ++i) {
    // Window i needs frames up to i + 2, and no more have been read.
    EXPECT_EQ(r.decoded_after[i], std::min<std::int64_t>(static_cast<std::int64_t>(i) + 3, 20));
  }
  EXPECT_EQ(r.decoded_after.back(), 20);
  // Neighbouring windows share the decoded frames: frame 5 is one buffer in windows 3 to 7.
  const uchar* frame5 = r.windows[5]->frames[2].data;
  for (int i = 3; i <= 7; ++i) EXPECT_EQ(r.windows[i]->frames[5 - i + 2].data, frame5) << i;
}

TEST_F(InferStagesTest, FramesReadsAVideoWithItsRateAndNames) {
  const auto written = write_clip(root_ / "clip.mkv", /*cut=*/-1, /*fps=*/30);
  const SourceRun r = run_frames(root_ / "clip.mkv", 3);
  ASSERT_EQ(r.windows.size(), 20u);
  EXPECT_EQ(r.windows[0]->name, "000000");
  EXPECT_EQ(r.windows[19]->name, "000019");
  EXPECT_DOUBLE_EQ(r.windows[7]->clip.fps, 30);
  EXPECT_EQ(r.windows[7]->clip.frame_count, 20);
  EXPECT_EQ(r.windows[7]->sources, (Sources{6, 7, 8}));
  for (std::size_t t = 0; t < 3; ++t) {
    EXPECT_EQ(r.windows[7]->frames[t].type(), CV_8UC3);
    EXPECT_EQ(cv::norm(r.windows[7]->frames[t], written[6 + t], cv::NORM_INF), 0) << t;
  }
  EXPECT_TRUE(r.cuts.empty());
}

TEST_F(InferStagesTest, FramesNextToACutAreMadeOnlyFromTheirOwnShot) {
  const auto written = write_clip(root_ / "cut.mkv", /*cut=*/10);
  const SourceRun r = run_frames(root_ / "cut.mkv", 5);
  EXPECT_EQ(r.cuts, (Sources{10}));
  const auto& w = r.windows;
  ASSERT_EQ(w.size(), 20u);
  // Across the cut the nearest frame of the centre's shot repeats, as at the clip's ends.
  EXPECT_EQ(w[7]->sources, (Sources{5, 6, 7, 8, 9}));
  EXPECT_EQ(w[8]->sources, (Sources{6, 7, 8, 9, 9}));
  EXPECT_EQ(w[9]->sources, (Sources{7, 8, 9, 9, 9}));
  EXPECT_EQ(w[10]->sources, (Sources{10, 10, 10, 11, 12}));
  EXPECT_EQ(w[11]->sources, (Sources{10, 10, 11, 12, 13}));
  EXPECT_EQ(w[12]->sources, (Sources{10, 11, 12, 13, 14}));
  EXPECT_EQ(w[19]->sources, (Sources{17, 18, 19, 19, 19}));
  // The pixels are those of the frames named: shot 1 only in window 9, shot 2 only in 10.
  for (std::size_t t = 0; t < 5; ++t) {
    EXPECT_EQ(cv::norm(w[9]->frames[t], written[w[9]->sources[t]], cv::NORM_INF), 0) << t;
    EXPECT_EQ(cv::norm(w[10]->frames[t], written[w[10]->sources[t]], cv::NORM_INF), 0) << t;
  }
  // cut_threshold 0: no cut detection, windows cross it.
  const SourceRun off = run_frames(root_ / "cut.mkv", 5, /*cut_threshold=*/0);
  EXPECT_TRUE(off.cuts.empty());
  EXPECT_EQ(off.windows[9]->sources, (Sources{7, 8, 9, 10, 11}));
  EXPECT_EQ(off.windows[10]->sources, (Sources{8, 9, 10, 11, 12}));
}

TEST_F(InferStagesTest, FramesNamesAMissingOrEmptyInput) {
  auto missing = testing::make_stage("frames", {{"dir", (root_ / "nope").string()}, {"frames", 3}});
  try {
    missing->open();
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("frame folder " + (root_ / "nope").string() + " does not exist"));
    EXPECT_THAT(e.what(), HasSubstr("PNG or JPEG"));
  }
  auto video =
      testing::make_stage("frames", {{"dir", (root_ / "nope.mp4").string()}, {"frames", 3}});
  EXPECT_THROW(video->open(), DataError);
  fs::create_directories(root_ / "empty");
  auto empty = testing::make_stage("frames", {{"dir", (root_ / "empty").string()}, {"frames", 3}});
  try {
    empty->open();
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr((root_ / "empty").string() + " has no images"));
  }
  EXPECT_THROW(testing::make_stage("frames", {{"dir", "x"}, {"frames", 4}}), std::exception);
  EXPECT_THROW(testing::make_stage("frames", {{"dir", "x"}, {"cut_threshold", -1}}), SpecError);
}

TEST_F(InferStagesTest, FramesOfAnotherSizeFailNamingTheFrame) {
  write_frame(2, cv::Size(36, 32));
  try {
    run_frames(root_ / "lr", 3);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("frame " + frame_path(2).string() + " is 36x32"));
    EXPECT_THAT(e.what(), HasSubstr("the clip's first frame is 40x32"));
  }
}

}  // namespace
}  // namespace vsr
