// The dataset check: scan -> check_pair -> check_report.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/errors.h"
#include "graph/pipeline.h"
#include "runtime/data/image.h"
#include "runtime/data/mock_data.h"
#include "stages/data/messages.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

class CheckDataStages : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::path(::testing::TempDir()) / ("vsr_check_stages_" + std::to_string(getpid()));
    fs::remove_all(root_);
    MockDataOptions o;
    o.root = root_;
    o.formats = {"small_540", "medium_169"};
    o.lr_versions = {5, 7};
    o.count = 3;
    o.val_count = 2;
    o.seed = 5;
    write_mock_dataset(o);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  static json scan_params(const fs::path& root, bool with_val) {
    json p = {{"data_root", root.string()},
              {"category", "general"},
              {"lr_version", "7frames"},
              {"formats", {"medium_169", "small_540"}}};
    if (with_val) p["val_dir"] = (root / "Universal/Mastermodell/Learn/Val/GT").string();
    return p;
  }

  // scan -> collect_requests; the requests in seq order.
  static std::vector<std::shared_ptr<const SampleRequest>> run_scan(
      const json& params, int max_in_flight = 4, double delay_ms = 0,
      std::vector<StageStats>* stats = nullptr) {
    testing::clear_collected();
    const json doc = {
        {"version", 1},
        {"stages",
         {{{"name", "scan"},
           {"type", "scan"},
           {"params", params},
           {"max_in_flight", max_in_flight}},
          {{"name", "sink"}, {"type", "collect_requests"}, {"params", {{"delay_ms", delay_ms}}}}}},
        {"edges", {"scan.out -> sink.in"}}};
    const Registry& r = testing::stage_test_registry();
    Pipeline p(parse_spec(doc, r), r);
    p.run();
    if (stats) *stats = p.stats();
    std::vector<std::shared_ptr<const SampleRequest>> out;
    for (const auto& m : testing::collected("sink")) out.push_back(m.as<SampleRequest>());
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a->seq < b->seq; });
    return out;
  }

  // check_pair on one request, by hand.
  static std::shared_ptr<const PairCheck> check(const SampleRequest& r) {
    auto stage = testing::make_stage("check_pair");
    testing::CapturingEmitter out;
    stage->process(0, Message::of<SampleRequest>(std::make_shared<SampleRequest>(r)), out);
    EXPECT_EQ(out.messages.size(), 1u);
    return out.messages.at(0).second.as<PairCheck>();
  }

  static fs::path root_;
};

fs::path CheckDataStages::root_;

TEST_F(CheckDataStages, ScanEmitsEveryPairInFormatAndFileOrder) {
  const auto requests = run_scan(scan_params(root_, /*with_val=*/true));
  ASSERT_EQ(requests.size(), 8u);  // 3 + 3 pairs, 2 validation images
  const fs::path learn = root_ / "Universal/Mastermodell/Learn";
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const SampleRequest& r = *requests[i];
    EXPECT_EQ(r.seq, static_cast<std::int64_t>(i));
    EXPECT_EQ(r.step, 0);
    EXPECT_EQ(r.micro, 0);
    EXPECT_EQ(r.slot, 0);
    EXPECT_EQ(r.batch_size, 1);
    EXPECT_EQ(r.accum, 1);
    EXPECT_EQ(r.seed, 0u);
    EXPECT_EQ(r.scale, 3);
    const std::string name = "000" + std::to_string(i % 3) + ".png";
    if (i < 3) {  // the formats in the order given, not the spec's order
      EXPECT_EQ(r.format, "medium_169");
      EXPECT_EQ(r.format_index, 0);
      EXPECT_EQ(r.gt_size, cv::Size(720, 405));
      EXPECT_EQ(r.frames, 7);
      EXPECT_EQ(r.gt_path, learn / "Patches_Medium169/GT" / name);
      EXPECT_EQ(r.lr_path, learn / "Patches_Medium169/LR_7frames" / name);
    } else if (i < 6) {
      EXPECT_EQ(r.format, "small_540");
      EXPECT_EQ(r.format_index, 1);
      EXPECT_EQ(r.gt_size, cv::Size(540, 540));
      EXPECT_EQ(r.gt_path, learn / "Patches/GT" / name);
      EXPECT_EQ(r.lr_path, learn / "Patches/LR_7frames" / name);
    } else {
      EXPECT_EQ(r.format, "val");
      EXPECT_EQ(r.format_index, 2);
      EXPECT_EQ(r.frames, 0);
      EXPECT_EQ(r.gt_path, learn / "Val/GT" / ("000" + std::to_string(i - 6) + ".png"));
      EXPECT_TRUE(r.lr_path.empty());
    }
  }
  EXPECT_EQ(run_scan(scan_params(root_, /*with_val=*/false)).size(), 6u);
}

TEST_F(CheckDataStages, ScanRespectsMaxInFlight) {
  std::vector<StageStats> stats;
  const auto requests = run_scan(scan_params(root_, true), /*max_in_flight=*/2,
                                 /*delay_ms=*/15, &stats);
  EXPECT_EQ(requests.size(), 8u);
  ASSERT_EQ(stats[0].name, "scan");
  EXPECT_EQ(stats[0].max_in_flight, 2);
  EXPECT_EQ(stats[0].peak_in_flight, 2);  // reached, never exceeded
  EXPECT_GT(stats[0].blocked_s, 0.03);    // held back by the slow consumer
}

TEST_F(CheckDataStages, ScanReportsPairingErrorsAndAMissingValFolderTogether) {
  const fs::path bad =
      fs::path(::testing::TempDir()) / ("vsr_check_pairing_" + std::to_string(getpid()));
  fs::remove_all(bad);
  MockDataOptions o;
  o.root = bad;
  o.formats = {"small_540"};
  o.lr_versions = {7};
  o.count = 2;
  o.val_count = 0;  // no Val/GT folder
  write_mock_dataset(o);
  fs::remove(bad / "Universal/Mastermodell/Learn/Patches/LR_7frames/0001.png");
  json params = scan_params(bad, true);
  params["formats"] = {"small_540"};
  try {
    run_scan(params);
    FAIL() << "expected a stage error";
  } catch (const StageError& e) {
    EXPECT_EQ(e.stage(), "scan");
    // scan_dataset's own words, as sample reports them.
    EXPECT_THAT(e.what(), HasSubstr("1 GT file of 2 without a matching file in LR_7frames/"));
    EXPECT_THAT(e.what(), HasSubstr("0001.png"));
    EXPECT_THAT(e.what(), HasSubstr("validation folder " +
                                    (bad / "Universal/Mastermodell/Learn/Val/GT").string() +
                                    " does not exist"));
  }
  fs::remove_all(bad);
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
