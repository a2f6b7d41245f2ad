// validate, driven by hand with snapshots of a tiny VSRNet, and in a graph with image_writer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <torch/torch.h>
#include <unistd.h>
#include <algorithm>
#include <nlohmann/json.hpp>

#include <filesystem>

#include <opencv2/imgcodecs.hpp>

#include "common/errors.h"
#include "graph/pipeline.h"
#include "graph/registry.h"
#include "runtime/data/image.h"
#include "runtime/data/mock_data.h"
#include "runtime/model/model.h"
#include "stages/train/messages.h"
#include "stages/train/validate.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::max_abs_diff;

constexpr int kFrames = 5;
constexpr int kScale = 3;

NamedTensors state_of(VSRNet& net) {
  NamedTensors out;
  for (const auto& p : net->named_parameters())
    out.emplace_back(p.key(), p.value().detach().clone());
  return out;
}

// A tiny model's snapshot; trained=false leaves upsample.last at zero (output = bicubic),
// trained=true gives every weight a random nudge so the network does something.
std::shared_ptr<ModelSnapshot> snapshot(bool trained, std::int64_t step = 500) {
  torch::manual_seed(42);
  VSRNet net(VSRNetOptions().base_channels(4).num_blocks(1).scale(kScale).frames(kFrames));
  if (trained) {
    torch::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.05);
  }
  auto s = std::make_shared<ModelSnapshot>();
  s->step = step;
  s->validate = true;
  s->base_channels = 4;
  s->num_blocks = 1;
  s->scale = kScale;
  s->frames = kFrames;
  s->model = state_of(net);
  return s;
}

struct ValRun {
  std::shared_ptr<const ValResult> result;
  std::shared_ptr<const ValImages> images;
};

// Emits the snapshots of steps 1..4 of a tiny untrained model; even steps are validation steps.
class SnapshotSource : public Stage {
 public:
  static StageSchema schema() { return StageSchema("test_snapshots").output<ModelSnapshot>("out"); }
  explicit SnapshotSource(const StageContext&) {}
  bool produce(Emitter& out) override {
    if (step_ == 4) return false;
    auto s = snapshot(false, ++step_);
    s->validate = step_ % 2 == 0;
    s->final = step_ == 4;
    out.emit<ModelSnapshot>(0, std::move(s));
    return true;
  }

 private:
  std::int64_t step_ = 0;
};

class ResultCollector : public Stage {
 public:
  static std::vector<std::shared_ptr<const ValResult>> results;
  static StageSchema schema() { return StageSchema("test_collect_val").input<ValResult>("in"); }
  explicit ResultCollector(const StageContext&) {}
  void process(std::size_t, const Message& in, Emitter&) override {
    results.push_back(in.as<ValResult>());
  }
};
std::vector<std::shared_ptr<const ValResult>> ResultCollector::results;

class ValidateStageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::path(::testing::TempDir()) / ("vsr_validate_stage_" + std::to_string(getpid()));
    fs::remove_all(root_);
    val_dir_ = root_ / "Val" / "GT";
    write_png_atomic(val_dir_ / "0000.png", make_mock_image(cv::Size(96, 96), 1));
    // Not a multiple of the scale: compared after cropping to 93x72.
    write_png_atomic(val_dir_ / "0001.png", make_mock_image(cv::Size(95, 74), 2));
    write_png_atomic(val_dir_ / "0002.png", make_mock_image(cv::Size(60, 66), 3, "toon"));
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  static json params(json extra = json::object()) {
    json p = {{"val_dir", val_dir_.string()},
              {"frames", kFrames},
              {"scale", kScale},
              {"num_images", 0},
              {"device", "cpu"},
              {"threads", 1}};
    p.update(extra);
    return p;
  }

  static ValRun run(const std::shared_ptr<const ModelSnapshot>& snap, json extra = json::object()) {
    auto stage = testing::make_stage("validate", params(std::move(extra)));
    stage->open();
    testing::CapturingEmitter out;
    stage->process(0, Message::of<ModelSnapshot>(snap), out);
    stage->close(true);
    ValRun r;
    for (const auto& [port, m] : out.messages) {
      if (port == 0) r.result = m.as<ValResult>();
      if (port == 1) r.images = m.as<ValImages>();
    }
    EXPECT_EQ(out.messages.size(), 2u);
    return r;
  }

  static cv::Mat image(const ValRun& r, const std::string& name) {
    for (const auto& [n, img] : r.images->images) {
      if (n == name) return img;
    }
    ADD_FAILURE() << "no image " << name;
    return {};
  }

  static fs::path root_, val_dir_;
};

fs::path ValidateStageTest::root_, ValidateStageTest::val_dir_;

TEST_F(ValidateStageTest, UntrainedModelScoresExactlyBicubic) {
  const ValRun r = run(snapshot(/*trained=*/false));
  ASSERT_TRUE(r.result && r.images);
  EXPECT_EQ(r.result->step, 500);
  EXPECT_EQ(r.result->images, 3);
  EXPECT_GT(r.result->bicubic_psnr, 15);
  EXPECT_LT(r.result->bicubic_psnr, 60);
  EXPECT_NEAR(r.result->psnr, r.result->bicubic_psnr, 1e-3);
  EXPECT_NEAR(r.result->psnr_y, r.result->bicubic_psnr_y, 1e-3);
  EXPECT_NEAR(r.result->ssim, r.result->bicubic_ssim, 1e-5);
  EXPECT_GT(r.result->ssim, 0.2);
  EXPECT_LE(r.result->ssim, 1.0);
  EXPECT_GE(r.result->seconds, 0);
}

TEST_F(ValidateStageTest, PerImageMetricsAddUpToTheMeans) {
  const ValRun r = run(snapshot(/*trained=*/true));
  ASSERT_TRUE(r.result && r.images);
  const nlohmann::json m = nlohmann::json::parse(r.images->metrics_json);
  EXPECT_EQ(m.at("step"), 500);
  EXPECT_EQ(m.at("crop_border"), 3);
  const auto& images = m.at("images");
  ASSERT_EQ(images.size(), 3u);  // every image, also those not saved
  double psnr = 0, psnr_y = 0, ssim = 0, bicubic_y = 0;
  std::vector<std::string> files;
  for (const auto& img : images) {
    files.push_back(img.at("file").get<std::string>());
    psnr += img.at("psnr").get<double>();
    psnr_y += img.at("psnr_y").get<double>();
    ssim += img.at("ssim").get<double>();
    bicubic_y += img.at("bicubic_psnr_y").get<double>();
    EXPECT_NE(img.at("psnr").get<double>(), img.at("bicubic_psnr").get<double>());
  }
  EXPECT_TRUE(std::is_sorted(files.begin(), files.end()));
  EXPECT_THAT(files[0], ::testing::EndsWith(".png"));
  EXPECT_NEAR(psnr / 3, r.result->psnr, 1e-9);
  EXPECT_NEAR(psnr_y / 3, r.result->psnr_y, 1e-9);
  EXPECT_NEAR(ssim / 3, r.result->ssim, 1e-9);
  EXPECT_NEAR(bicubic_y / 3, r.result->bicubic_psnr_y, 1e-9);
  EXPECT_DOUBLE_EQ(m.at("mean").at("psnr").get<double>(), r.result->psnr);
  EXPECT_DOUBLE_EQ(m.at("mean").at("bicubic_psnr_y").get<double>(), r.result->bicubic_psnr_y);
}

TEST_F(ValidateStageTest, SavesPredBicubicAndGtAtTheCroppedSize) {
  const ValRun all = run(snapshot(true));
  ASSERT_EQ(all.images->images.size(), 9u);
  EXPECT_EQ(all.images->step, 500);
  EXPECT_EQ(all.images->images[0].first, "pred_000");
  EXPECT_EQ(all.images->images[1].first, "bicubic_000");
  EXPECT_EQ(all.images->images[2].first, "gt_000");
  EXPECT_EQ(all.images->images[8].first, "gt_002");
  EXPECT_EQ(image(all, "bicubic_001").size(), cv::Size(93, 72));
  EXPECT_EQ(image(all, "pred_001").size(), cv::Size(93, 72));
  EXPECT_EQ(image(all, "gt_001").size(), cv::Size(93, 72));
  EXPECT_EQ(image(all, "pred_002").size(), cv::Size(60, 66));
  EXPECT_EQ(image(all, "pred_000").type(), CV_32FC3);
  double lo, hi;
  cv::minMaxLoc(image(all, "pred_000").reshape(1), &lo, &hi);
  EXPECT_GE(lo, 0.0);
  EXPECT_LE(hi, 1.0);

  // num_images limits what is saved, never what is evaluated.
  const ValRun one = run(snapshot(true), {{"num_images", 1}});
  ASSERT_EQ(one.images->images.size(), 3u);
  EXPECT_EQ(one.result->images, 3);
  EXPECT_DOUBLE_EQ(one.result->psnr, all.result->psnr);
}

TEST_F(ValidateStageTest, OneTileCoveringTheImageMatchesWholeImage) {
  auto snap = snapshot(true);
  const ValRun whole = run(snap);
  const ValRun tiled = run(snap, {{"tile", 40}, {"tile_overlap", 8}});  // LR images are <= 32x32
  EXPECT_NEAR(whole.result->psnr, tiled.result->psnr, 1e-9);
  for (const char* name : {"pred_000", "pred_001", "pred_002"}) {
    EXPECT_LE(max_abs_diff(image(whole, name), image(tiled, name)), 1e-4) << name;
  }
  // And the trained model differs from bicubic, so the comparisons above mean something.
  EXPECT_GT(std::abs(whole.result->psnr - whole.result->bicubic_psnr), 0.01);
}

TEST_F(ValidateStageTest, TilingOfTheUntrainedModelIsExact) {
  // The output is bicubic (support 2 LR pixels), and the blend drops a quarter of the overlap
  // at inner tile edges, so with overlap >= 8 no tile border effect reaches the output.
  auto snap = snapshot(false);
  const ValRun whole = run(snap);
  const ValRun tiled = run(snap, {{"tile", 17}, {"tile_overlap", 8}});
  for (const char* name : {"pred_000", "pred_001", "pred_002"}) {
    EXPECT_LE(max_abs_diff(image(whole, name), image(tiled, name)), 1e-5) << name;
  }
}

TEST_F(ValidateStageTest, RealTilingWithOverlapStaysCloseToWholeImage) {
  // The network's receptive field is wider than the overlap, so a tile sees replicate padding
  // where the whole image had real pixels: tiled output is close, not equal. Measured here
  // (20-pixel LR tiles, overlap 8, randomly nudged tiny model): mean |diff| <= 3e-4, max
  // <= 5e-3 on [0, 1], PSNR identical to 1e-4 dB. The bounds leave some room for that.
  auto snap = snapshot(true);
  const ValRun whole = run(snap);
  const ValRun tiled = run(snap, {{"tile", 20}, {"tile_overlap", 8}});
  for (const char* name : {"pred_000", "pred_001", "pred_002"}) {
    const cv::Mat a = image(whole, name), b = image(tiled, name);
    const double mean_abs = cv::norm(a, b, cv::NORM_L1) / static_cast<double>(a.total() * 3);
    EXPECT_GT(max_abs_diff(a, b), 0) << name << ": tiles were not used";
    EXPECT_LE(mean_abs, 1e-3) << name;
    EXPECT_LE(max_abs_diff(a, b), 0.02) << name;
  }
  EXPECT_NEAR(whole.result->psnr, tiled.result->psnr, 0.01);
  EXPECT_NEAR(whole.result->ssim, tiled.result->ssim, 1e-3);
}

TEST_F(ValidateStageTest, UsesEmaWeightsWhenPresent) {
  auto trained = snapshot(true);
  auto untrained = snapshot(false);
  auto both = std::make_shared<ModelSnapshot>(*untrained);
  both->ema = trained->model;
  const ValRun with_ema = run(both);
  const ValRun plain = run(trained);
  EXPECT_DOUBLE_EQ(with_ema.result->psnr, plain.result->psnr);
  EXPECT_GT(std::abs(with_ema.result->psnr - with_ema.result->bicubic_psnr), 0.01);
}

TEST_F(ValidateStageTest, IgnoresSnapshotsThatAreNotValidationSteps) {
  auto snap = snapshot(false);
  snap->validate = false;
  auto stage = testing::make_stage("validate", params());
  stage->open();
  testing::CapturingEmitter out;
  stage->process(0, Message::of<ModelSnapshot>(snap), out);
  EXPECT_TRUE(out.messages.empty());
}

TEST_F(ValidateStageTest, WeightsThatDoNotFitTheNetworkAreAnError) {
  auto stage = testing::make_stage("validate", params());
  stage->open();
  testing::CapturingEmitter out;

  auto missing = snapshot(false);
  missing->model.pop_back();  // upsample.last.bias
  try {
    stage->process(0, Message::of<ModelSnapshot>(missing), out);
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("missing upsample.last.bias"));
    EXPECT_THAT(e.what(), HasSubstr("step 500"));
  }

  auto extra = snapshot(false);
  extra->model.emplace_back("head.weight", torch::zeros({2}));
  try {
    stage->process(0, Message::of<ModelSnapshot>(extra), out);
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown head.weight"));
  }

  auto other_frames = snapshot(false);
  other_frames->frames = 7;
  try {
    stage->process(0, Message::of<ModelSnapshot>(other_frames), out);
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("7-frame"));
  }
  EXPECT_TRUE(out.messages.empty());
}

TEST_F(ValidateStageTest, MissingOrEmptyValFolderIsAClearError) {
  const fs::path missing = root_ / "nowhere" / "Val" / "GT";
  auto stage = testing::make_stage("validate", params({{"val_dir", missing.string()}}));
  try {
    stage->open();
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr(missing.string()));
    EXPECT_THAT(e.what(), HasSubstr("does not exist"));
    EXPECT_THAT(e.what(), HasSubstr("validation GT images"));
  }

  const fs::path empty = root_ / "empty";
  fs::create_directories(empty);
  auto stage2 = testing::make_stage("validate", params({{"val_dir", empty.string()}}));
  try {
    stage2->open();
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr(empty.string()));
    EXPECT_THAT(e.what(), HasSubstr("has no images"));
  }
}

TEST_F(ValidateStageTest, RejectsInconsistentParams) {
  try {
    testing::make_stage("validate", params({{"tile", 16}, {"tile_overlap", 8}}));
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("less than half of params.tile"));
  }
  try {
    testing::make_stage("validate", params({{"shifts", {-1.0, 0.0, 1.0}}}));
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("one per frame (5)"));
  }
}

TEST_F(ValidateStageTest, RunsInAGraphWithTheImageWriter) {
  const fs::path out_dir = root_ / "validation_images";
  fs::remove_all(out_dir);
  Registry registry = testing::stage_test_registry();
  registry.add<SnapshotSource>();
  registry.add<ResultCollector>();
  ResultCollector::results.clear();
  const json doc = {
      {"version", 1},
      {"stages",
       {{{"name", "train"}, {"type", "test_snapshots"}},
        {{"name", "validate"}, {"type", "validate"}, {"params", params({{"num_images", 2}})}},
        {{"name", "images"}, {"type", "image_writer"}, {"params", {{"dir", out_dir.string()}}}},
        {{"name", "results"}, {"type", "test_collect_val"}}}},
      {"edges",
       {"train.out -> validate.in", "validate.out -> results.in", "validate.images -> images.in"}}};
  Pipeline p(parse_spec(doc, registry), registry);
  p.run();

  ASSERT_EQ(ResultCollector::results.size(), 2u);
  EXPECT_EQ(ResultCollector::results[0]->step, 2);
  EXPECT_EQ(ResultCollector::results[1]->step, 4);
  EXPECT_TRUE(ResultCollector::results[1]->final);
  EXPECT_FALSE(fs::exists(out_dir / "step_000001"));
  for (const char* step : {"step_000002", "step_000004"}) {
    EXPECT_EQ(cv::imread((out_dir / step / "pred_000.png").string()).size(), cv::Size(96, 96));
    EXPECT_EQ(cv::imread((out_dir / step / "gt_001.png").string()).size(), cv::Size(93, 72));
    EXPECT_FALSE(fs::exists(out_dir / step / "pred_002.png"));  // num_images = 2
  }
}

TEST(ValidateOutOfMemory, NamesTheImageAndTheTileToSet) {
  using ::testing::HasSubstr;
  const std::string whole = validation_out_of_memory_message(
      "cuda:0", 5000, 3, cv::Size(1920, 1080), 0, "CUDA out of memory. Tried to allocate 8 GiB");
  EXPECT_THAT(whole, HasSubstr("out of memory on cuda:0 validating step 5000 (validation image "
                               "3, 1920x1080): CUDA out of memory. Tried to allocate 8 GiB"));
  EXPECT_THAT(whole, HasSubstr("set VALIDATION.tile (now 0: whole images), e.g. 128"));
  EXPECT_THAT(whole, HasSubstr("Checkpoints written so far are intact."));
  EXPECT_THAT(validation_out_of_memory_message("cuda:0", 1, 0, cv::Size(8, 8), 256, "oom"),
              HasSubstr("lower VALIDATION.tile (now 256, e.g. 128)"));
}

}  // namespace
}  // namespace vsr
