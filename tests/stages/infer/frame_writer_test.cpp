// The frame_writer sink: one PNG per upscaled frame named after its input, or one video file
// by extension, written atomically, in frame order, with a progress line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "common/errors.h"
#include "runtime/data/image.h"
#include "runtime/data/mock_data.h"
#include "runtime/data/video.h"
#include "stages/infer/frame_writer.h"
#include "stages/infer/messages.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::InferStagesTest;
using testing::max_abs_diff;

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// An 8-bit BGR frame as float RGB in [0, 1].
cv::Mat read_as_rgb(const cv::Mat& bgr) {
  cv::Mat rgb, out;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  rgb.convertTo(out, CV_32F, 1.0 / 255);
  return out;
}

Message upscaled(std::int64_t index, const std::string& name, std::int64_t count, double fps = 25) {
  auto f = std::make_shared<UpscaledFrame>();
  f->index = index;
  f->name = name;
  f->image = make_mock_image(cv::Size(24, 16), 1 + static_cast<std::uint64_t>(index));
  f->clip.fps = fps;
  f->clip.frame_count = count;
  return Message::of<UpscaledFrame>(f);
}

TEST_F(InferStagesTest, FrameWriterWritesNamedPngsAtomically) {
  auto writer =
      testing::make_stage("frame_writer", {{"dir", (root_ / "out").string()}, {"progress", "off"}});
  writer->open();
  testing::CapturingEmitter out;
  auto f = std::make_shared<UpscaledFrame>();
  f->index = 0;
  f->name = "0003";
  f->image = make_mock_image(cv::Size(24, 16), 1);
  writer->process(0, Message::of<UpscaledFrame>(f), out);
  writer->close(true);
  EXPECT_TRUE(out.messages.empty());
  EXPECT_EQ(entries(root_ / "out"), std::vector<std::string>{"0003.png"});
  const cv::Mat back = read_image_rgb(root_ / "out" / "0003.png");
  EXPECT_EQ(back.size(), cv::Size(24, 16));
  EXPECT_LT(max_abs_diff(back, f->image), 1.0 / 255);
}

TEST_F(InferStagesTest, FrameWriterWritesAVideoInFrameOrderAtTheInputsRate) {
  const fs::path video = root_ / "out" / "clip_x2.mkv";
  auto writer = testing::make_stage("frame_writer", {{"dir", video.string()}, {"progress", "off"}});
  writer->open();
  testing::CapturingEmitter out;
  for (int i : {0, 2, 1, 4, 3}) {  // out of order: early frames wait for their turn
    writer->process(0, upscaled(i, "ignored", 5, 12), out);
  }
  EXPECT_FALSE(fs::exists(video));  // under a temporary name until the job ends
  writer->close(true);
  EXPECT_EQ(entries(root_ / "out"), std::vector<std::string>{"clip_x2.mkv"});
  ClipReader clip(video);
  EXPECT_DOUBLE_EQ(clip.fps(), 12);
  int i = 0;
  for (cv::Mat f; clip.read(f); ++i) {
    const cv::Mat expected = make_mock_image(cv::Size(24, 16), 1 + static_cast<std::uint64_t>(i));
    EXPECT_LT(max_abs_diff(read_as_rgb(f), expected), 1.0 / 255) << i;  // lossless FFV1
  }
  EXPECT_EQ(i, 5);
}

TEST_F(InferStagesTest, FrameWriterRemovesThePartialVideoAfterAFailure) {
  const fs::path video = root_ / "out" / "clip_x2.mp4";
  auto writer = testing::make_stage("frame_writer",
                                    {{"dir", video.string()}, {"fps", 30}, {"progress", "off"}});
  writer->open();
  testing::CapturingEmitter out;
  for (int i = 0; i < 3; ++i) writer->process(0, upscaled(i, "x", 10), out);
  writer->close(/*completed=*/false);
  EXPECT_TRUE(entries(root_ / "out").empty());
}

TEST_F(InferStagesTest, FrameWriterChecksTheOutputBeforeRunning) {
  try {
    testing::make_stage("frame_writer", {{"dir", (root_ / "clip.mpg").string()}});
    FAIL() << "expected SpecError";
  } catch (const SpecError& e) {
    EXPECT_THAT(e.what(), HasSubstr(".mpg videos are not written by vsr_flow; use .mp4"));
  }
}

TEST_F(InferStagesTest, FrameWriterProgressLine) {
  using W = FrameWriterStage;
  EXPECT_EQ(W::progress_line(1, 100, 0.5), "frame 1/100 (1%) | - frames/s | ETA -:--:--");
  EXPECT_EQ(W::progress_line(21, 100, 10), "frame 21/100 (21%) | 2.00 frames/s | ETA 0:00:40");
  EXPECT_EQ(W::progress_line(100, 100, 33), "frame 100/100 (100%) | 3.00 frames/s | ETA 0:00:00");
  EXPECT_EQ(W::progress_line(11, -1, 5), "frame 11 | 2.00 frames/s");
  EXPECT_EQ(W::progress_line(120, 100, 5), "frame 120 | 23.80 frames/s");  // an estimate too low
}

TEST_F(InferStagesTest, FrameWriterPrintsALinePerIntervalAndTheLast) {
  auto writer = testing::make_stage(
      "frame_writer",
      {{"dir", (root_ / "out").string()}, {"progress", "lines"}, {"progress_interval", 2}});
  writer->open();
  testing::CapturingEmitter out;
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 5; ++i) writer->process(0, upscaled(i, std::to_string(i), 5), out);
  writer->close(true);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("frame 2/5 (40%)"));
  EXPECT_THAT(err, HasSubstr("frame 4/5 (80%)"));
  EXPECT_THAT(err, HasSubstr("frame 5/5 (100%)"));
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 3) << err;
}

}  // namespace
}  // namespace vsr
