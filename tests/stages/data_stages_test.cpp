// The data half of the training graph: sample -> decode -> split -> augment -> batch.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>

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

class DataStages : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::path(::testing::TempDir()) / ("vsr_data_stages_" + std::to_string(getpid()));
    fs::remove_all(root_);
    MockDataOptions o;
    o.root = root_;
    o.formats = {"small_540", "medium_169"};
    o.lr_versions = {7};
    o.count = 5;
    o.val_count = 1;
    o.seed = 3;
    write_mock_dataset(o);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // sample -> decode -> split -> augment -> batch -> sink.
  static json training_data_spec(int workers, int steps, int prefetch = 3,
                                 double sink_delay_ms = 0) {
    json sample = {{"data_root", root_.string()},
                   {"category", "general"},
                   {"lr_version", "7frames"},
                   {"formats", {"small_540", "medium_169"}},
                   {"format_weights", {0.5, 0.5}},
                   {"batch_size", {2, 1}},
                   {"gradient_accumulation", {1, 2}},
                   {"total_steps", steps},
                   {"seed", 11}};
    json stages = {
        {{"name", "sample"}, {"type", "sample"}, {"params", sample}, {"max_in_flight", prefetch}},
        {{"name", "decode"}, {"type", "decode"}, {"concurrency", workers}},
        {{"name", "split"}, {"type", "split"}},
        {{"name", "augment"},
         {"type", "augment"},
         {"concurrency", workers},
         {"params", {{"crop", 90}}}},
        {{"name", "batch"}, {"type", "batch"}},
        {{"name", "sink"}, {"type", "collect_batches"}, {"params", {{"delay_ms", sink_delay_ms}}}}};
    return {{"version", 1},
            {"stages", stages},
            {"edges",
             {"sample.out -> decode.in", "decode.out -> split.in", "split.out -> augment.in",
              "augment.out -> batch.in", "batch.out -> sink.in"}}};
  }

  static std::vector<std::shared_ptr<const MicroBatch>> run_batches(
      const json& doc, std::vector<StageStats>* stats = nullptr) {
    testing::clear_collected();
    const Registry& r = testing::stage_test_registry();
    Pipeline p(parse_spec(doc, r), r);
    p.run();
    if (stats) *stats = p.stats();
    std::vector<std::shared_ptr<const MicroBatch>> out;
    for (const auto& m : testing::collected("sink")) out.push_back(m.as<MicroBatch>());
    return out;
  }

  static fs::path root_;
};

fs::path DataStages::root_;

TEST_F(DataStages, BatchesHaveTheFormatsShapesInRequestOrder) {
  const auto batches = run_batches(training_data_spec(2, 12));
  std::int64_t seq = 0;
  std::map<std::int64_t, int> micro_per_step;
  for (const auto& b : batches) {
    EXPECT_EQ(b->seq, seq++);  // restored order
    ++micro_per_step[b->step];
    const int B = b->format == "small_540" ? 2 : 1;
    EXPECT_EQ(b->accum, b->format == "small_540" ? 1 : 2);
    // crop 90 at x3: GT 90x90, LR frames 30x30.
    EXPECT_EQ(b->lr.sizes(), (std::vector<std::int64_t>{B, 7, 3, 30, 30}));
    EXPECT_EQ(b->gt.sizes(), (std::vector<std::int64_t>{B, 3, 90, 90}));
    EXPECT_EQ(b->lr.scalar_type(), at::kFloat);
    EXPECT_GE(b->lr.min().item<float>(), 0.0f);
    EXPECT_LE(b->gt.max().item<float>(), 1.0f);
    EXPECT_GT(b->gt.std().item<float>(), 0.01f);  // real content, not flat
  }
  ASSERT_EQ(micro_per_step.size(), 12u);
  for (const auto& [step, n] : micro_per_step) {
    EXPECT_EQ(n, batches[0]->step == step ? batches[0]->accum : n);
  }
}

TEST_F(DataStages, SameSeedGivesIdenticalBatchesWithOneOrTwoWorkers) {
  const auto one = run_batches(training_data_spec(1, 10));
  const auto two = run_batches(training_data_spec(2, 10));
  ASSERT_EQ(one.size(), two.size());
  for (std::size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i]->format, two[i]->format);
    EXPECT_TRUE(at::equal(one[i]->lr, two[i]->lr)) << "micro-batch " << i;
    EXPECT_TRUE(at::equal(one[i]->gt, two[i]->gt)) << "micro-batch " << i;
  }
}

TEST_F(DataStages, PrefetchBoundHoldsWithASlowConsumer) {
  std::vector<StageStats> stats;
  const auto batches = run_batches(training_data_spec(2, 10, /*prefetch=*/2, /*delay=*/20), &stats);
  EXPECT_GE(batches.size(), 10u);
  EXPECT_EQ(stats[0].name, "sample");
  EXPECT_EQ(stats[0].max_in_flight, 2);
  EXPECT_EQ(stats[0].peak_in_flight, 2);  // reached, never exceeded
  EXPECT_GT(stats[0].blocked_s, 0.05);    // the source waited for the slow consumer
}

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

// A FrameSample of one 8-bit frame pair filled with `value`, for micro-batch `seq`.
Message constant_sample(std::int64_t seq, int value) {
  auto req = std::make_shared<SampleRequest>();
  req->seq = seq;
  req->batch_size = 1;
  auto s = std::make_shared<FrameSample>();
  s->request = req;
  s->gt = cv::Mat(12, 12, CV_8UC3, cv::Scalar::all(value));
  s->frames = {cv::Mat(4, 4, CV_8UC3, cv::Scalar::all(value)),
               cv::Mat(4, 4, CV_8UC3, cv::Scalar::all(value))};
  return Message::of<FrameSample>(s);
}

TEST(BatchStage, RecyclesTheBlocksOfDroppedMicroBatchesOnly) {
  auto stage = testing::make_stage("batch");
  auto next = [&](std::int64_t seq, int value) {
    testing::CapturingEmitter out;
    stage->process(0, constant_sample(seq, value), out);
    EXPECT_EQ(out.messages.size(), 1u);
    return out.messages.at(0).second.as<MicroBatch>();
  };
  auto first = next(0, 51);
  const void* first_gt = first->gt.data_ptr();
  EXPECT_FLOAT_EQ(first->gt.max().item<float>(), 51 / 255.0f);
  first.reset();  // the consumer is done with it: its blocks go back to the pool
  auto second = next(1, 102);
  EXPECT_EQ(second->gt.data_ptr(), first_gt);  // reused, not allocated again
  auto third = next(2, 204);                   // second is still alive: a new block
  EXPECT_NE(third->gt.data_ptr(), second->gt.data_ptr());
  EXPECT_NE(third->lr.data_ptr(), second->lr.data_ptr());
  // Neither live batch was overwritten by the other.
  EXPECT_FLOAT_EQ(second->gt.min().item<float>(), 102 / 255.0f);
  EXPECT_FLOAT_EQ(second->lr.max().item<float>(), 102 / 255.0f);
  EXPECT_FLOAT_EQ(third->gt.min().item<float>(), 204 / 255.0f);
  // Micro-batches outlive the stage (and its pool's owner) intact.
  stage.reset();
  EXPECT_FLOAT_EQ(third->lr.min().item<float>(), 204 / 255.0f);
  EXPECT_EQ(third->lr.sizes(), (std::vector<std::int64_t>{1, 2, 3, 4, 4}));
}

TEST_F(DataStages, AugmentTransformsGtAndEveryFrameIdentically) {
  // A sample whose LR frames are exactly the downscaled GT: after any augmentation each frame
  // must still be the downscaled (augmented) GT.
  const cv::Mat gt = make_mock_image(cv::Size(540, 540), 5);
  const cv::Mat lr = downscale(gt, 3);
  auto stage = testing::make_stage(
      "augment", {{"crop", 270}, {"hflip", 0.5}, {"vflip", 0.5}, {"rot90", 0.5}, {"reverse", 0.5}});
  int changed = 0;
  for (std::uint64_t seed = 0; seed < 24; ++seed) {
    auto req = std::make_shared<SampleRequest>();
    req->seed = seed;
    req->gt_size = gt.size();
    req->scale = 3;
    req->frames = 7;
    auto in = std::make_shared<FrameSample>();
    in->request = req;
    in->gt = gt;
    for (int t = 0; t < 7; ++t) in->frames.push_back(lr);
    testing::CapturingEmitter out;
    stage->process(0, Message::of<FrameSample>(in), out);
    ASSERT_EQ(out.messages.size(), 1u);
    auto res = out.messages[0].second.as<FrameSample>();
    ASSERT_EQ(res->gt.size(), cv::Size(270, 270));
    const cv::Mat expect = downscale(res->gt, 3);
    for (const auto& f : res->frames) {
      ASSERT_EQ(f.size(), cv::Size(90, 90));
      EXPECT_LT(cv::norm(f, expect, cv::NORM_INF), 1e-5) << "seed " << seed;
    }
    changed += cv::norm(res->gt, gt(cv::Rect(0, 0, 270, 270)), cv::NORM_INF) > 0;
  }
  EXPECT_GT(changed, 12);  // the transforms really happened
}

TEST_F(DataStages, WrongFrameCountNamesTheFileAndSizes) {
  const fs::path bad = fs::path(::testing::TempDir()) / "vsr_bad_stack";
  fs::remove_all(bad);
  MockDataOptions o;
  o.root = bad;
  o.formats = {"small_540"};
  o.lr_versions = {5, 7};
  o.count = 1;
  o.val_count = 0;
  write_mock_dataset(o);
  const fs::path patches = bad / "Universal/Mastermodell/Learn/Patches";
  // Put the 5-frame stack where the 7-frame one belongs.
  fs::copy_file(patches / "LR_5frames/0000.png", patches / "LR_7frames/0000.png",
                fs::copy_options::overwrite_existing);
  json doc = training_data_spec(1, 1);
  doc["stages"][0]["params"]["data_root"] = bad.string();
  doc["stages"][0]["params"]["formats"] = {"small_540"};
  doc["stages"][0]["params"]["format_weights"] = {1.0};
  doc["stages"][0]["params"]["batch_size"] = {1};
  doc["stages"][0]["params"]["gradient_accumulation"] = {1};
  try {
    run_batches(doc);
    FAIL() << "expected a stage error";
  } catch (const StageError& e) {
    EXPECT_EQ(e.stage(), "split");
    EXPECT_THAT(e.what(), HasSubstr((patches / "LR_7frames/0000.png").string()));
    EXPECT_THAT(e.what(), HasSubstr("180x1260"));
    EXPECT_THAT(e.what(), HasSubstr("180x900"));
  }
}

TEST_F(DataStages, MissingDatasetNamesTheExpectedPath) {
  const fs::path empty = fs::path(::testing::TempDir()) / "vsr_empty_dataset";
  fs::create_directories(empty);
  json doc = training_data_spec(1, 1);
  doc["stages"][0]["params"]["data_root"] = empty.string();
  // The spec's checks find it before any stage is built (it used to be the sample stage's
  // open()); the message names the folder the format needs.
  try {
    run_batches(doc);
    FAIL() << "expected a spec error";
  } catch (const SpecError& e) {
    EXPECT_THAT(e.what(), HasSubstr("$.stages[0].params.formats"));
    EXPECT_THAT(e.what(), HasSubstr((empty / "Universal/Mastermodell/Learn").string()));
  }
}

}  // namespace
}  // namespace vsr
