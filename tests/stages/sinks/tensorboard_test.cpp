// The tensorboard sink, read back record by record (read_event_file checks every CRC).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <opencv2/imgcodecs.hpp>

#include "runtime/outputs/tensorboard.h"
#include "stages/train/messages.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;

std::shared_ptr<const StepEvent> step_event(std::int64_t step, double loss) {
  auto e = std::make_shared<StepEvent>();
  e->step = step;
  e->total_steps = 5;
  e->format = "small_540";
  e->samples = 4;
  e->loss = loss;
  e->lr = 1e-4 * static_cast<double>(step);
  e->grad_norm = static_cast<double>(step);
  e->compute_s = 0.75;
  e->wait_s = 0.25;
  e->peak_memory_bytes = step * (std::int64_t{512} << 20);  // 0.5 GiB per step
  e->memory_on_device = true;
  return e;
}

fs::path only_event_file(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  EXPECT_EQ(files.size(), 1u);
  return files.at(0);
}

TEST(TensorBoardStage, WritesTrainScalarsPerIntervalValMetricsAndImages) {
  const fs::path dir = fs::path(::testing::TempDir()) / "vsr_tb_stage";
  fs::remove_all(dir);
  auto stage = testing::make_stage("tensorboard", {{"dir", dir.string()}, {"log_interval", 2}});
  testing::CapturingEmitter out;
  stage->open();
  const double losses[] = {0.4, 0.2, 0.1, 0.3, 0.05};
  for (int s = 1; s <= 5; ++s) {
    stage->process(0, Message::of<StepEvent>(step_event(s, losses[s - 1])), out);
    if (s == 4) {
      auto r = std::make_shared<ValResult>();
      r->step = 4;
      r->psnr = 28.5;
      r->psnr_y = 29.75;
      r->ssim = 0.8125;
      r->bicubic_psnr = 27.25;
      stage->process(1, Message::of<ValResult>(r), out);
      auto images = std::make_shared<ValImages>();
      images->step = 4;
      cv::Mat red(6, 8, CV_32FC3, cv::Scalar(1.0, 0.0, 0.0));  // RGB
      for (int i = 0; i < 4; ++i) {
        images->images.emplace_back("gt_00" + std::to_string(i), red);
        images->images.emplace_back("pred_00" + std::to_string(i), red);
      }
      stage->process(2, Message::of<ValImages>(images), out);
    }
  }
  stage->close(true);
  EXPECT_TRUE(out.messages.empty());

  const auto records = read_event_file(only_event_file(dir));
  ASSERT_FALSE(records.empty());
  EXPECT_THAT(records[0].file_version, HasSubstr("brain.Event"));
  std::map<std::string, std::map<std::int64_t, float>> scalars;
  std::vector<std::string> image_tags;
  for (const auto& r : records) {
    if (r.has_scalar) {
      EXPECT_FALSE(scalars[r.tag].count(r.step)) << r.tag << " twice at step " << r.step;
      scalars[r.tag][r.step] = r.scalar;
    }
    if (r.has_image) {
      image_tags.push_back(r.tag);
      EXPECT_EQ(r.step, 4);
      EXPECT_EQ(r.image_height, 6);
      EXPECT_EQ(r.image_width, 8);
      const cv::Mat png = cv::imdecode(std::vector<uchar>(r.image_png.begin(), r.image_png.end()),
                                       cv::IMREAD_COLOR);
      ASSERT_EQ(png.size(), cv::Size(8, 6));
      EXPECT_EQ(png.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 255));  // BGR: red
    }
  }
  EXPECT_THAT(image_tags,
              ElementsAre("val_images/pred_000", "val_images/pred_001", "val_images/pred_002"));

  // Steps 2 and 4 (interval), 5 (the last step).
  using Series = std::map<std::int64_t, float>;
  EXPECT_EQ(scalars["train/loss"].size(), 3u);
  EXPECT_THAT(scalars["train/loss"][2], FloatNear(0.3f, 1e-6f));  // mean of 0.4, 0.2
  EXPECT_THAT(scalars["train/loss"][4], FloatNear(0.2f, 1e-6f));
  EXPECT_THAT(scalars["train/loss"][5], FloatNear(0.05f, 1e-6f));
  EXPECT_THAT(scalars["train/lr"][4], FloatNear(4e-4f, 1e-9f));
  EXPECT_EQ(scalars["train/samples_per_s"], (Series{{2, 4.0f}, {4, 4.0f}, {5, 4.0f}}));
  EXPECT_EQ(scalars["train/data_wait_fraction"], (Series{{2, 0.25f}, {4, 0.25f}, {5, 0.25f}}));
  EXPECT_EQ(scalars["train/grad_norm"], (Series{{2, 1.5f}, {4, 3.5f}, {5, 5.0f}}));
  EXPECT_EQ(scalars["val/psnr"], (Series{{4, 28.5f}}));
  EXPECT_EQ(scalars["val/psnr_y"], (Series{{4, 29.75f}}));
  EXPECT_EQ(scalars["val/ssim"], (Series{{4, 0.8125f}}));
  EXPECT_EQ(scalars["val/bicubic_psnr"], (Series{{4, 27.25f}}));
  EXPECT_EQ(scalars["val/bicubic_psnr_y"], (Series{{4, 0.0f}}));
  EXPECT_EQ(scalars["val/psnr_gain_over_bicubic"], (Series{{4, 1.25f}}));
  EXPECT_EQ(scalars["train/effective_batch/small_540"], (Series{{2, 4.0f}, {4, 4.0f}, {5, 4.0f}}));
  // The peak so far at the interval's last step.
  EXPECT_EQ(scalars["train/peak_device_memory_gib"], (Series{{2, 1.0f}, {4, 2.0f}, {5, 2.5f}}));
  EXPECT_EQ(scalars.size(), 13u);
}

TEST(TensorBoardStage, ClosingMidIntervalWritesThePartialInterval) {
  const fs::path dir = fs::path(::testing::TempDir()) / "vsr_tb_stage_partial";
  fs::remove_all(dir);
  auto stage = testing::make_stage("tensorboard", {{"dir", dir.string()}, {"log_interval", 10}});
  testing::CapturingEmitter out;
  stage->open();
  stage->process(0, Message::of<StepEvent>(step_event(1, 0.5)), out);
  stage->process(0, Message::of<StepEvent>(step_event(2, 0.25)), out);
  stage->close(false);
  int losses = 0;
  for (const auto& r : read_event_file(only_event_file(dir))) {
    if (r.tag == "train/loss") {
      ++losses;
      EXPECT_EQ(r.step, 2);
      EXPECT_FLOAT_EQ(r.scalar, 0.375f);
    }
  }
  EXPECT_EQ(losses, 1);
}

TEST(TensorBoardStage, SkippedStepsAreCountedAndAResumedRunStartsWithASessionStart) {
  const fs::path dir = fs::path(::testing::TempDir()) / "vsr_tb_stage_resumed";
  fs::remove_all(dir);
  auto stage = testing::make_stage("tensorboard",
                                   {{"dir", dir.string()}, {"log_interval", 2}, {"start_step", 6}});
  testing::CapturingEmitter out;
  stage->open();
  for (std::int64_t s = 7; s <= 10; ++s) {
    auto e = std::make_shared<StepEvent>(*step_event(s, 0.5));
    e->total_steps = 10;
    e->skipped = s == 7 || s == 9;
    stage->process(0, Message::of<StepEvent>(e), out);
  }
  stage->close(true);
  const auto records = read_event_file(only_event_file(dir));
  ASSERT_GE(records.size(), 2u);
  EXPECT_EQ(records[0].file_version, "brain.Event:2");
  EXPECT_TRUE(records[1].session_start);  // TensorBoard drops older events of steps >= 7
  EXPECT_EQ(records[1].step, 7);
  std::vector<std::pair<std::int64_t, float>> skipped;
  for (const auto& r : records) {
    if (r.tag == "train/skipped_steps") skipped.emplace_back(r.step, r.scalar);
  }
  EXPECT_THAT(skipped, ElementsAre(std::make_pair(std::int64_t{8}, 1.0f),
                                   std::make_pair(std::int64_t{10}, 2.0f)));
}

TEST(TensorBoardStage, ValidationImagesArePredBicubicGtStrips) {
  const fs::path dir = fs::path(::testing::TempDir()) / "vsr_tb_stage_strip";
  fs::remove_all(dir);
  auto stage = testing::make_stage("tensorboard", {{"dir", dir.string()}, {"max_images", 1}});
  testing::CapturingEmitter out;
  stage->open();
  auto images = std::make_shared<ValImages>();
  images->step = 10;
  for (const char* index : {"000", "001"}) {
    images->images.emplace_back(std::string("pred_") + index,
                                cv::Mat(6, 8, CV_32FC3, cv::Scalar(1.0, 0.0, 0.0)));
    images->images.emplace_back(std::string("bicubic_") + index,
                                cv::Mat(6, 8, CV_32FC3, cv::Scalar(0.0, 1.0, 0.0)));
    images->images.emplace_back(std::string("gt_") + index,
                                cv::Mat(6, 8, CV_32FC3, cv::Scalar(0.0, 0.0, 1.0)));
  }
  stage->process(2, Message::of<ValImages>(images), out);
  stage->close(true);
  std::vector<std::string> tags;
  for (const auto& r : read_event_file(only_event_file(dir))) {
    if (!r.has_image) continue;
    tags.push_back(r.tag);
    EXPECT_EQ(r.image_width, 24);
    EXPECT_EQ(r.image_height, 6);
    const cv::Mat png =
        cv::imdecode(std::vector<uchar>(r.image_png.begin(), r.image_png.end()), cv::IMREAD_COLOR);
    ASSERT_EQ(png.size(), cv::Size(24, 6));
    EXPECT_EQ(png.at<cv::Vec3b>(3, 2), cv::Vec3b(0, 0, 255));   // pred: red (BGR)
    EXPECT_EQ(png.at<cv::Vec3b>(3, 10), cv::Vec3b(0, 255, 0));  // bicubic: green
    EXPECT_EQ(png.at<cv::Vec3b>(3, 18), cv::Vec3b(255, 0, 0));  // GT: blue
  }
  EXPECT_THAT(tags, ElementsAre("val_images/pred_bicubic_gt_000"));  // max_images 1
}

}  // namespace
}  // namespace vsr
