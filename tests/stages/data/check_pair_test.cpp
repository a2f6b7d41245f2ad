// The check_pair stage: every problem of a GT/LR pair or a validation image, never a throw.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "runtime/data/image.h"
#include "runtime/data/mock_data.h"
#include "stages/data/messages.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using testing::CheckDataStages;
using ::testing::HasSubstr;

// check_pair on one request, by hand.
std::shared_ptr<const PairCheck> check(const SampleRequest& r) {
  auto stage = testing::make_stage("check_pair");
  testing::CapturingEmitter out;
  stage->process(0, Message::of<SampleRequest>(std::make_shared<SampleRequest>(r)), out);
  EXPECT_EQ(out.messages.size(), 1u);
  return out.messages.at(0).second.as<PairCheck>();
}

TEST_F(CheckDataStages, CheckPairAcceptsAGoodPair) {
  const fs::path dir = root_ / "Universal/Mastermodell/Learn/Patches";
  SampleRequest r;
  r.format = "small_540";
  r.gt_size = cv::Size(540, 540);
  r.frames = 7;
  r.gt_path = dir / "GT/0000.png";
  r.lr_path = dir / "LR_7frames/0000.png";
  const auto c = check(r);
  EXPECT_TRUE(c->ok()) << c->problems.at(0).message;
  EXPECT_EQ(c->gt_size, cv::Size(540, 540));
  EXPECT_EQ(c->lr_size, cv::Size(180, 1260));
  EXPECT_EQ(c->gt_bits, 8);
  EXPECT_EQ(c->lr_bits, 8);
  EXPECT_EQ(c->channels, 3);
}

TEST_F(CheckDataStages, CheckPairReportsEveryProblemOfAPairInsteadOfThrowing) {
  const fs::path dir = root_ / "Universal/Mastermodell/Learn";
  SampleRequest r;
  r.format = "medium_169";
  r.gt_size = cv::Size(720, 405);
  r.frames = 7;
  r.gt_path = dir / "Patches/GT/0000.png";                    // 540x540: wrong GT size
  r.lr_path = dir / "Patches_Medium169/LR_5frames/0000.png";  // 5 frames: wrong stack
  auto c = check(r);
  ASSERT_EQ(c->problems.size(), 2u);
  EXPECT_EQ(c->problems[0].kind, "gt_size");
  EXPECT_THAT(c->problems[0].message, HasSubstr(r.gt_path.string()));
  EXPECT_THAT(c->problems[0].message, HasSubstr("expected 720x405"));
  EXPECT_THAT(c->problems[0].message, HasSubstr("found 540x540"));
  EXPECT_EQ(c->problems[1].kind, "lr_stack");
  EXPECT_THAT(c->problems[1].message, HasSubstr("expected 240x945"));
  EXPECT_THAT(c->problems[1].message, HasSubstr("found 240x675"));

  const fs::path garbage =
      fs::path(::testing::TempDir()) / ("vsr_check_garbage_" + std::to_string(getpid()) + ".png");
  std::ofstream(garbage) << "not an image at all";
  r.gt_path = garbage;
  r.lr_path = garbage.string() + ".missing.png";
  c = check(r);
  ASSERT_EQ(c->problems.size(), 2u);
  EXPECT_EQ(c->problems[0].kind, "unreadable");
  EXPECT_THAT(c->problems[0].message, HasSubstr("cannot read image " + garbage.string()));
  EXPECT_EQ(c->problems[1].kind, "unreadable");
  EXPECT_THAT(c->problems[1].message, HasSubstr("file does not exist"));
  EXPECT_EQ(c->gt_size, cv::Size(0, 0));
  fs::remove(garbage);
}

TEST_F(CheckDataStages, CheckPairChecksValidationImagesAsValidateNeedsThem) {
  const fs::path dir =
      fs::path(::testing::TempDir()) / ("vsr_check_val_" + std::to_string(getpid()));
  fs::create_directories(dir);
  write_png_atomic(dir / "tiny.png", make_mock_image(cv::Size(12, 40), 1));
  write_png_atomic(dir / "odd.png", make_mock_image(cv::Size(100, 61), 2));
  SampleRequest r;
  r.format = "val";
  r.frames = 0;
  r.gt_path = dir / "tiny.png";
  auto c = check(r);
  ASSERT_EQ(c->problems.size(), 1u);
  EXPECT_EQ(c->problems[0].kind, "val_size");
  EXPECT_THAT(c->problems[0].message, HasSubstr("is 12x40; it must be at least 17x17"));
  r.gt_path = dir / "odd.png";
  c = check(r);
  EXPECT_TRUE(c->ok());  // validate crops to a multiple of the scale: worth a note only
  ASSERT_EQ(c->notes.size(), 1u);
  EXPECT_THAT(c->notes[0], HasSubstr("not divisible by scale 3: validation uses its top-left "
                                     "99x60"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace vsr
