// The sample source: formats drawn by their weights; a missing dataset found before it runs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/errors.h"
#include "graph/pipeline.h"
#include "stages/data/messages.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using testing::DataStages;
using ::testing::HasSubstr;

TEST_F(DataStages, FormatFrequenciesFollowTheWeights) {
  testing::clear_collected();
  json sample = {{"data_root", root_.string()},  {"category", "general"},
                 {"lr_version", "7frames"},      {"formats", {"small_540", "medium_169"}},
                 {"format_weights", {3.0, 1.0}},  // normalised to 0.75 / 0.25
                 {"batch_size", {1, 1}},         {"gradient_accumulation", {1, 1}},
                 {"total_steps", 4000}};
  json doc = {{"version", 1},
              {"stages",
               {{{"name", "sample"}, {"type", "sample"}, {"params", sample}},
                {{"name", "sink"}, {"type", "collect_requests"}}}},
              {"edges", {"sample.out -> sink.in"}}};
  const Registry& r = testing::stage_test_registry();
  Pipeline p(parse_spec(doc, r), r);
  p.run();
  const auto requests = testing::collected("sink");
  ASSERT_EQ(requests.size(), 4000u);
  int small = 0;
  for (const auto& m : requests) small += m.as<SampleRequest>()->format == "small_540";
  EXPECT_NEAR(small / 4000.0, 0.75, 0.025);
}

TEST_F(DataStages, MissingDatasetNamesTheExpectedPath) {
  const fs::path empty = fs::path(::testing::TempDir()) / "vsr_empty_dataset";
  fs::create_directories(empty);
  json doc = training_data_spec(data_config(1, 1, 3, {"DATA.data_root=" + empty.string()}));
  // The spec's checks find it before any stage is built (it used to be the sample stage's
  // open()); the message names the folder the format needs, and points at the formats, given
  // once for the whole spec.
  try {
    run_batches(doc);
    FAIL() << "expected a spec error";
  } catch (const SpecError& e) {
    EXPECT_THAT(e.what(), HasSubstr("$.shared.formats"));
    EXPECT_THAT(e.what(), HasSubstr((empty / "Universal/Mastermodell/Learn").string()));
  }
}

}  // namespace
}  // namespace vsr
