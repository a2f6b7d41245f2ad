// The scan source of the dataset check: every pair and validation image, in order, bounded.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "common/errors.h"
#include "graph/pipeline.h"
#include "stages/data/messages.h"
#include "tests/stages/harness.h"
#include "tests/support/mock_dataset.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using testing::CheckDataStages;
using ::testing::HasSubstr;

json scan_params(const fs::path& root, bool with_val) {
  json p = {{"data_root", root.string()},
            {"category", "general"},
            {"lr_version", "7frames"},
            {"formats", {"medium_169", "small_540"}}};
  if (with_val) p["val_dir"] = (root / "Universal/Mastermodell/Learn/Val/GT").string();
  return p;
}

// scan -> collect_requests; the requests in seq order.
std::vector<std::shared_ptr<const SampleRequest>> run_scan(
    const json& params, int max_in_flight = 4, double delay_ms = 0,
    std::vector<StageStats>* stats = nullptr) {
  testing::clear_collected();
  const json doc = {
      {"version", 1},
      {"stages",
       {{{"name", "scan"}, {"type", "scan"}, {"params", params}, {"max_in_flight", max_in_flight}},
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
  // No Val/GT folder.
  const testing::MockDataset data("vsr_check_pairing",
                                  {{"small_540"}, {7}, /*count=*/2, /*val_count=*/0});
  const fs::path bad = data.root();
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
}

}  // namespace
}  // namespace vsr
