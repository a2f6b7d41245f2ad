// The decode stage: a request's GT and LR stack exactly as OpenCV decodes them, 8- or 16-bit.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "common/errors.h"
#include "runtime/data/image.h"
#include "runtime/data/mock_data.h"
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

  // decode on one request for gt_name and lr_name in dir_.
  std::shared_ptr<const DecodedSample> decode(const std::string& gt_name,
                                              const std::string& lr_name) {
    auto request = std::make_shared<SampleRequest>();
    request->seq = 4;
    request->gt_path = dir_ / gt_name;
    request->lr_path = dir_ / lr_name;
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

}  // namespace
}  // namespace vsr
