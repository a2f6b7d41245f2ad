// The image_writer sink: validation images as 8-bit PNGs under step_NNNNNN folders.
#include "stages/sinks/image_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "runtime/io/fileio.h"
#include "stages/train/messages.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST(ImageWriter, WritesEachImageUnderItsStepFolder) {
  const fs::path dir = fs::path(::testing::TempDir()) / "vsr_image_writer";
  fs::remove_all(dir);
  auto stage = testing::make_stage("image_writer", {{"dir", dir.string()}});
  stage->open();
  auto msg = std::make_shared<ValImages>();
  msg->step = 500;
  cv::Mat pred(30, 40, CV_32FC3, cv::Scalar(1.0, 0.5, 0.0));  // RGB
  msg->images = {{"pred_000", pred},
                 {"gt_000", cv::Mat(30, 40, CV_32FC3, cv::Scalar::all(0.25))},
                 {"pred_001", cv::Mat(12, 21, CV_32FC3, cv::Scalar::all(2.0))}};
  msg->metrics_json = "{\"step\": 500}\n";
  testing::CapturingEmitter out;
  stage->process(0, Message::of<ValImages>(msg), out);
  stage->close(true);
  EXPECT_TRUE(out.messages.empty());

  const fs::path step = dir / "step_000500";
  EXPECT_EQ(read_text_file(step / "metrics.json"), "{\"step\": 500}\n");
  const cv::Mat p = cv::imread((step / "pred_000.png").string(), cv::IMREAD_UNCHANGED);
  ASSERT_FALSE(p.empty());
  EXPECT_EQ(p.size(), cv::Size(40, 30));
  EXPECT_EQ(p.type(), CV_8UC3);
  EXPECT_EQ(p.at<cv::Vec3b>(3, 4), cv::Vec3b(0, 128, 255));  // BGR on disk
  const cv::Mat g = cv::imread((step / "gt_000.png").string());
  EXPECT_EQ(g.size(), cv::Size(40, 30));
  EXPECT_EQ(g.at<cv::Vec3b>(0, 0), cv::Vec3b(64, 64, 64));
  const cv::Mat q = cv::imread((step / "pred_001.png").string());
  EXPECT_EQ(q.size(), cv::Size(21, 12));
  EXPECT_EQ(q.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 255, 255));  // clamped
  std::vector<std::string> files;                              // no temporary files left
  for (const auto& e : fs::directory_iterator(step)) files.push_back(e.path().filename());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"gt_000.png", "metrics.json", "pred_000.png",
                                             "pred_001.png"}));
}

TEST(ImageWriter, NamesStepFoldersWithSixDigitsAndNeedsADir) {
  EXPECT_EQ(ImageWriterStage::step_dir("/x", 500), fs::path("/x/step_000500"));
  EXPECT_EQ(ImageWriterStage::step_dir("/x", 1234567), fs::path("/x/step_1234567"));
  try {
    testing::make_stage("image_writer", json::object());
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("dir"));
  }
}

}  // namespace
}  // namespace vsr
