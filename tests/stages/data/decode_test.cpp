// The decode stage: a request's GT and LR stack exactly as OpenCV decodes them, 8- or 16-bit.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "common/errors.h"
#include "runtime/data/image.h"
#include "runtime/data/mock_data.h"
#include "runtime/model/compute_thread.h"
#include "stages/data/messages.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::max_abs_diff;

class DecodeStageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("vsr_decode_stage_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    write_png_atomic(dir_ / "gt.png", make_mock_image(cv::Size(48, 36), 1));
    // A 16-bit stack of 3 frames of 16x12, BGR as OpenCV writes it.
    cv::Mat stack;
    make_mock_image(cv::Size(16, 36), 2).convertTo(stack, CV_16UC3, 65535.0);
    cv::imwrite((dir_ / "lr.png").string(), stack);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A request for gt_name and lr_name in dir_.
  std::shared_ptr<SampleRequest> request_for(const std::string& gt_name,
                                             const std::string& lr_name = "lr.png") const {
    auto request = std::make_shared<SampleRequest>();
    request->gt_path = dir_ / gt_name;
    request->lr_path = dir_ / lr_name;
    return request;
  }
  Message request(const std::string& gt_name) const {
    return Message::of<SampleRequest>(request_for(gt_name));
  }

  // decode on one request for gt_name and lr_name in dir_.
  std::shared_ptr<const DecodedSample> decode(const std::string& gt_name,
                                              const std::string& lr_name) {
    auto request = request_for(gt_name, lr_name);
    request->seq = 4;
    auto stage = testing::make_stage("decode");
    testing::CapturingEmitter out;
    stage->process(0, Message::of<SampleRequest>(request), out);
    EXPECT_EQ(out.messages.size(), 1u);
    auto decoded = out.messages.at(0).second.as<DecodedSample>();
    EXPECT_EQ(decoded->request, request);  // the request travels with its pixels
    return decoded;
  }

  fs::path dir_;
};

TEST_F(DecodeStageTest, ReadsGtAndLrStackAsOpenCvDecodesThem) {
  const auto d = decode("gt.png", "lr.png");
  const int flags = cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH;
  ASSERT_EQ(d->gt.type(), CV_8UC3);
  EXPECT_EQ(d->gt.size(), cv::Size(48, 36));
  EXPECT_EQ(max_abs_diff(d->gt, cv::imread((dir_ / "gt.png").string(), flags)), 0.0);
  ASSERT_EQ(d->lr_stack.type(), CV_16UC3);  // 16-bit stays 16-bit until batch
  EXPECT_EQ(d->lr_stack.size(), cv::Size(16, 36));
  EXPECT_EQ(max_abs_diff(d->lr_stack, cv::imread((dir_ / "lr.png").string(), flags)), 0.0);
}

TEST_F(DecodeStageTest, WaitsWhileATrainingStepComputesExclusivelyUnlessThePairIsCached) {
  // TRAINING.pause_data: a micro-batch run with run_exclusive keeps decode from reading; a pair
  // from the cache, which costs no CPU, goes at once.
  auto stage = testing::make_stage("decode", {{"cache_mb", 1}});
  testing::CapturingEmitter out;
  stage->process(0, request("gt.png"), out);  // now cached
  std::atomic<bool> started{false}, ended{false};
  std::thread step([&] {
    ComputeThread::global().run_exclusive([&] {
      started = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      ended = true;
    });
  });
  while (!started) std::this_thread::yield();
  stage->process(0, request("gt.png"), out);
  EXPECT_FALSE(ended) << "a cached pair waited for the step";
  const auto d = decode("gt.png", "lr.png");  // a stage of its own: no cache
  EXPECT_TRUE(ended) << "decoded while the step computed";
  EXPECT_EQ(d->gt.size(), cv::Size(48, 36));
  step.join();
  ASSERT_EQ(out.messages.size(), 2u);
  ::testing::internal::CaptureStdout();
  stage->close(true);
  EXPECT_THAT(::testing::internal::GetCapturedStdout(),
              ::testing::Not(HasSubstr("was waiting while micro-batches")));
}

TEST_F(DecodeStageTest, AMissingOrUnreadableFileIsNamed) {
  try {
    decode("gt.png", "missing.png");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot read image " + (dir_ / "missing.png").string() +
                                    ": file does not exist"));
  }
  std::ofstream(dir_ / "garbage.png") << "not an image";
  try {
    decode("garbage.png", "lr.png");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot read image " + (dir_ / "garbage.png").string()));
  }
}

TEST_F(DecodeStageTest, TheCacheKeepsPairsReadOnceUpToItsBudgetAndSharesTheirPixels) {
  // gt.png is 48x36x3 bytes, lr.png 16x36x3 x 2 bytes: 8640 bytes a pair; 1 MiB holds both.
  write_png_atomic(dir_ / "gt2.png", make_mock_image(cv::Size(48, 36), 3));
  auto stage = testing::make_stage("decode", {{"cache_mb", 1}});
  testing::CapturingEmitter out;
  stage->process(0, request("gt.png"), out);
  // The file is gone, and still it decodes: the second read comes from the cache, with the
  // same pixels (shared, not copied).
  fs::rename(dir_ / "gt.png", dir_ / "gt_moved.png");
  stage->process(0, request("gt.png"), out);
  stage->process(0, request("gt2.png"), out);
  ASSERT_EQ(out.messages.size(), 3u);
  const auto first = out.messages[0].second.as<DecodedSample>();
  const auto again = out.messages[1].second.as<DecodedSample>();
  EXPECT_EQ(again->gt.data, first->gt.data);
  EXPECT_EQ(again->lr_stack.data, first->lr_stack.data);
  EXPECT_EQ(max_abs_diff(again->gt, cv::imread((dir_ / "gt_moved.png").string())), 0.0);
  EXPECT_EQ(again->request->gt_path, dir_ / "gt.png");  // each sample keeps its own request
  const auto other = out.messages[2].second.as<DecodedSample>();
  EXPECT_EQ(max_abs_diff(other->gt, cv::imread((dir_ / "gt2.png").string())), 0.0);
  ::testing::internal::CaptureStdout();
  stage->close(true);
  EXPECT_THAT(
      ::testing::internal::GetCapturedStdout(),
      HasSubstr("decode: cache 2 pairs, 0.0 MiB of cache_mb 1; 1 of 3 samples came from it"));

  // Without the cache (the default) every request reads its files.
  auto plain = testing::make_stage("decode");
  testing::CapturingEmitter plain_out;
  plain->process(0, request("gt2.png"), plain_out);
  plain->process(0, request("gt2.png"), plain_out);
  EXPECT_NE(plain_out.messages[0].second.as<DecodedSample>()->gt.data,
            plain_out.messages[1].second.as<DecodedSample>()->gt.data);
  EXPECT_THROW(plain->process(0, request("gt.png"), plain_out), DataError);  // moved away
}

TEST_F(DecodeStageTest, TheCacheStopsTakingPairsAtItsBudget) {
  // 400x300 8-bit GT (360000 bytes) + the 16-bit stack: three such pairs exceed 1 MiB.
  for (int i = 0; i < 3; ++i) {
    write_png_atomic(dir_ / ("big" + std::to_string(i) + ".png"),
                     make_mock_image(cv::Size(400, 300), 10 + i));
  }
  auto stage = testing::make_stage("decode", {{"cache_mb", 1}});
  testing::CapturingEmitter out;
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < 3; ++i) {
      stage->process(0, request("big" + std::to_string(i) + ".png"), out);
    }
  }
  ::testing::internal::CaptureStdout();
  stage->close(true);
  // Two pairs (2 x 363456 bytes) fit in 1 MiB and come from it the second time; the third is
  // read both times.
  EXPECT_THAT(
      ::testing::internal::GetCapturedStdout(),
      HasSubstr("decode: cache 2 pairs, 0.7 MiB of cache_mb 1; 2 of 6 samples came from it"));
}

}  // namespace
}  // namespace vsr
