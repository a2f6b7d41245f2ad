// The check_report sink: every problem grouped by kind, a summary per format, the JSON report.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/errors.h"
#include "stages/data/messages.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using testing::CheckDataStages;
using ::testing::HasSubstr;
using ::testing::Not;

std::shared_ptr<const PairCheck> make_check(std::int64_t seq, const std::string& format, int index,
                                            std::vector<PairProblem> problems) {
  auto req = std::make_shared<SampleRequest>();
  req->seq = seq;
  req->format = format;
  req->format_index = index;
  req->gt_path = "/d/GT/" + std::to_string(seq) + ".png";
  if (format != "val") req->lr_path = "/d/LR/" + std::to_string(seq) + ".png";
  auto c = std::make_shared<PairCheck>();
  c->request = req;
  c->problems = std::move(problems);
  c->gt_bits = 8;
  return c;
}

TEST_F(CheckDataStages, CheckReportGroupsEveryProblemByKindAndWritesJson) {
  const fs::path report =
      fs::path(::testing::TempDir()) / ("vsr_check_report_" + std::to_string(getpid()) + ".json");
  fs::remove(report);
  auto stage =
      testing::make_stage("check_report", {{"report", report.string()}, {"progress_s", 0}});
  testing::CapturingEmitter out;
  // Out of order, as a concurrent check_pair delivers them.
  const std::vector<std::shared_ptr<const PairCheck>> checks = {
      make_check(3, "small_540", 1, {{"gt_size", "Wrong GT size in /d/GT/3.png"}}),
      make_check(0, "medium_169", 0, {}),
      make_check(2, "small_540", 1,
                 {{"lr_stack", "Wrong frame count in LR stack /d/LR/2.png"},
                  {"gt_size", "Wrong GT size in /d/GT/2.png"}}),
      make_check(1, "medium_169", 0, {{"unreadable", "cannot read image /d/GT/1.png"}}),
      make_check(4, "val", 2, {})};
  for (const auto& c : checks) stage->process(0, Message::of<PairCheck>(c), out);
  EXPECT_TRUE(out.messages.empty());
  ::testing::internal::CaptureStdout();
  try {
    stage->close(true);
    FAIL() << "expected the problems";
  } catch (const DataError& e) {
    const std::string text = e.what();
    EXPECT_THAT(text, HasSubstr("4 problems in 4 pairs in 2 formats, 1 validation image:"));
    EXPECT_THAT(text, HasSubstr("\nunreadable files (1):\n  - cannot read image /d/GT/1.png\n"));
    EXPECT_THAT(text, HasSubstr("\nwrong LR stack size (1):\n  - Wrong frame count"));
    // Within a kind, in scan order.
    EXPECT_THAT(text, HasSubstr("\nwrong GT size (2):\n  - Wrong GT size in /d/GT/2.png\n"
                                "  - Wrong GT size in /d/GT/3.png"));
  }
  const std::string printed = ::testing::internal::GetCapturedStdout();
  EXPECT_THAT(printed, HasSubstr("checked medium_169: 2 pairs, 8-bit, 1 with problems\n"));
  EXPECT_THAT(printed, HasSubstr("checked small_540: 2 pairs, 8-bit, 2 with problems\n"));
  EXPECT_THAT(printed, HasSubstr("checked validation images: 1 image, 8-bit, ok\n"));
  EXPECT_THAT(printed, Not(HasSubstr("dataset OK")));

  std::ifstream in(report);
  ASSERT_TRUE(in) << report;
  const json doc = json::parse(in);
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["complete"], true);
  EXPECT_EQ(doc["pairs"], 4);
  EXPECT_EQ(doc["val_images"], 1);
  EXPECT_EQ(doc["problem_count"], 4);
  ASSERT_EQ(doc["formats"].size(), 3u);
  EXPECT_EQ(doc["formats"][0]["format"], "medium_169");
  EXPECT_EQ(doc["formats"][1]["with_problems"], 2);
  EXPECT_EQ(doc["formats"][2]["images"], 1);
  ASSERT_EQ(doc["problems"].size(), 4u);
  EXPECT_EQ(doc["problems"][0]["kind"], "unreadable");
  EXPECT_EQ(doc["problems"][0]["gt"], "/d/GT/1.png");
  EXPECT_EQ(doc["problems"][0]["lr"], "/d/LR/1.png");
  EXPECT_EQ(doc["problems"][3]["seq"], 3);
  fs::remove(report);
}

TEST_F(CheckDataStages, CheckReportSaysOkWhenThereIsNothingWrong) {
  auto stage = testing::make_stage("check_report", {{"progress_s", 0}});
  testing::CapturingEmitter out;
  for (int i = 0; i < 3; ++i) {
    stage->process(0, Message::of<PairCheck>(make_check(i, "small_540", 0, {})), out);
  }
  ::testing::internal::CaptureStdout();
  stage->close(true);
  EXPECT_THAT(::testing::internal::GetCapturedStdout(),
              HasSubstr("dataset OK: 3 pairs in 1 format\n"));
}

}  // namespace
}  // namespace vsr
