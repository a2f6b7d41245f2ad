// The stage contract: every check that used to live in a stage's constructor or first message
// is now in its schema, and check_spec (what `vsr_flow validate` and `run` call before any
// stage is built) reports it with the JSON path of the param.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "graph/registry.h"
#include "graph/spec.h"
#include "tests/support/mock_dataset.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// "path: message" for every problem of a one-stage spec (its inputs left unconnected).
std::vector<std::string> problems_of(const std::string& type, const json& params,
                                     const json& shared = json::object(), bool world = true) {
  json doc = {{"version", 1},
              {"stages", {{{"name", "x"}, {"type", type}, {"params", params}}}},
              {"edges", json::array()}};
  if (!shared.empty()) doc["shared"] = shared;
  std::vector<std::string> out;
  for (const auto& p : check_spec(doc, Registry::global(), nullptr, CheckOptions{world})) {
    if (p.message.find("is not connected") == std::string::npos) {
      out.push_back(p.path + ": " + p.message);
    }
  }
  return out;
}

std::string all(const std::vector<std::string>& problems) {
  std::string out;
  for (const auto& p : problems) out += p + "\n";
  return out;
}

class StageContract : public ::testing::Test {
 protected:
  void SetUp() override { std::ofstream(root_ / "a_file") << "not a folder"; }
  json sample_params() const {
    return {{"data_root", root_.string()},  {"category", "general"},   {"lr_version", "7frames"},
            {"formats", {"small_540"}},     {"format_weights", {1.0}}, {"batch_size", {2}},
            {"gradient_accumulation", {1}}, {"total_steps", 10}};
  }
  json train_params() const {
    return {{"model", {{"base_channels", 8}, {"num_blocks", 1}}}, {"total_steps", 10}};
  }
  // small_540, 7 frames, one clip and one validation image: what every check accepts.
  const testing::MockDataset data_{"vsr_contract"};
  const fs::path root_ = data_.root();
};

TEST_F(StageContract, AugmentCropAgainstScaleAndFormats) {
  auto p = problems_of("augment", {{"crop", 100}, {"scale", 3}, {"formats", {"small_540"}}});
  EXPECT_THAT(all(p), HasSubstr("$.stages[0].params.crop: crop 100 must be a multiple of the "
                                "scale (3), e.g. 99"));
  p = problems_of("augment", {{"crop", 999}, {"formats", {"small_540", "medium_169"}}});
  EXPECT_THAT(all(p), HasSubstr("crop 999 is larger than the patch size 540x540 of small_540"));
  EXPECT_THAT(all(p), HasSubstr("larger than the patch size 720x405 of medium_169"));
  // Given once in "shared", the problem points there.
  p = problems_of("augment", {{"crop", 96}}, {{"scale", 5}, {"formats", {"small_540"}}});
  EXPECT_THAT(all(p), HasSubstr("$.shared.scale: value 5 out of range [2, 4]"));
  EXPECT_TRUE(problems_of("augment", {{"crop", 96}}, {{"formats", {"small_540"}}}).empty());
}

TEST_F(StageContract, TrainStepGroupsAreTyped) {
  json params = train_params();
  params["model"]["base_channels"] = "wide";
  params["optim"] = {{"betas", {0.9}}, {"loss", "l2"}, {"warmup_steps", 50}};
  const std::string p = all(problems_of("train_step", params));
  EXPECT_THAT(p, HasSubstr("$.stages[0].params.model.base_channels: expected int, found string"));
  EXPECT_THAT(p, HasSubstr("$.stages[0].params.optim.betas: expected 2 values"));
  EXPECT_THAT(p, HasSubstr("$.stages[0].params.optim.loss: expected one of 'charbonnier', 'l1'"));
  json missing = train_params();
  missing["model"].erase("num_blocks");
  missing["model"]["num_block"] = 2;
  const std::string m = all(problems_of("train_step", missing));
  EXPECT_THAT(m, HasSubstr("missing required param 'model.num_blocks'"));
  EXPECT_THAT(m, HasSubstr("unknown param 'model.num_block' for stage type train_step (did you "
                           "mean 'num_blocks'?)"));
}

TEST_F(StageContract, TrainStepChecksAcrossParamsAndTheWorld) {
  json params = train_params();
  params["optim"] = {{"warmup_steps", 50}};
  params["mixed_precision"] = "fp16";
  params["device"] = "cpu";
  params["frames"] = 6;
  params["model"]["pretrained"] = (root_ / "missing.pth").string();
  const std::string p = all(problems_of("train_step", params));
  EXPECT_THAT(p, HasSubstr("params.optim.warmup_steps: warmup_steps (50) must not exceed "
                           "total_steps (10)"));
  EXPECT_THAT(p, HasSubstr("params.mixed_precision: mixed_precision fp16 needs a CUDA device"));
  EXPECT_THAT(p, HasSubstr("params.frames: frames must be odd"));
  EXPECT_THAT(p, HasSubstr("params.model.pretrained: pretrained weights file " +
                           (root_ / "missing.pth").string() + " does not exist"));
  // Without the world checks the missing file is not looked for.
  EXPECT_THAT(all(problems_of("train_step", params, {}, /*world=*/false)),
              ::testing::Not(HasSubstr("pretrained")));
}

TEST_F(StageContract, SampleAndScanDatasetParams) {
  json params = sample_params();
  params["formats"] = json::array();
  EXPECT_THAT(all(problems_of("sample", params)), HasSubstr("params.formats: must not be empty"));
  params["formats"] = {"small_540", "tiny"};
  EXPECT_THAT(all(problems_of("sample", params)),
              HasSubstr("params.formats: expected one of 'small_540'"));
  params = {{"data_root", root_.string()},
            {"category", "general"},
            {"lr_version", "7frames"},
            {"formats", {"medium_169"}},
            {"scale", 4}};
  EXPECT_THAT(all(problems_of("scan", params)),
              HasSubstr("format 'medium_169' (720x405) is not divisible by the scale 4"));
  params = sample_params();
  params["batch_size"] = {2, 2};
  EXPECT_THAT(all(problems_of("sample", params)),
              HasSubstr("params.batch_size: batch_size has 2 entries; it needs one per format"));
  params = sample_params();
  params["formats"] = {"small_540", "large_720"};
  params["format_weights"] = {1.0, 1.0};
  params["batch_size"] = {1, 1};
  params["gradient_accumulation"] = {1, 1};
  EXPECT_THAT(all(problems_of("sample", params)),
              HasSubstr("format large_720: folder " +
                        (root_ / "Universal/Mastermodell/Learn/Patches_Large/GT").string() +
                        " does not exist"));
  params = sample_params();
  params["data_root"] = (root_ / "nowhere").string();
  EXPECT_THAT(all(problems_of("sample", params)),
              HasSubstr("params.data_root: dataset folder " + (root_ / "nowhere").string() +
                        " does not exist"));
  EXPECT_TRUE(problems_of("sample", sample_params()).empty())
      << all(problems_of("sample", sample_params()));
}

TEST_F(StageContract, ValidateAndUpscaleForwardParams) {
  const std::string val = (root_ / "Universal/Mastermodell/Learn/Val/GT").string();
  std::string p = all(problems_of("validate", {{"val_dir", val},
                                               {"frames", 5},
                                               {"shifts", {-1.0, 0.0, 1.0}},
                                               {"tile", 16},
                                               {"tile_overlap", 8},
                                               {"device", "tpu"}}));
  EXPECT_THAT(p, HasSubstr("params.shifts: shifts has 3 entries; it needs one per frame (5)"));
  EXPECT_THAT(p, HasSubstr("params.tile_overlap: params.tile_overlap (8) must be less than half "
                           "of params.tile (16)"));
  EXPECT_THAT(p, HasSubstr("params.device:"));
  p = all(problems_of("validate", {{"val_dir", (root_ / "nowhere").string()}}));
  EXPECT_THAT(p, HasSubstr("params.val_dir: validation folder " + (root_ / "nowhere").string() +
                           " does not exist"));
  // Checks across params run once every param of the stage is valid.
  EXPECT_THAT(all(problems_of("upscale", {{"checkpoint", ""}, {"frames", 4}})),
              HasSubstr("params.checkpoint: must not be empty"));
  EXPECT_THAT(all(problems_of("upscale", {{"checkpoint", "x.pth"}, {"frames", 4}}, {}, false)),
              HasSubstr("params.frames: frames must be odd"));
  p = all(problems_of("upscale", {{"checkpoint", (root_ / "no.pth").string()}}));
  EXPECT_THAT(p, HasSubstr("checkpoint " + (root_ / "no.pth").string() + " does not exist"));
}

TEST_F(StageContract, FoldersToReadAndToWrite) {
  EXPECT_THAT(all(problems_of("frames", {{"dir", ""}})),
              HasSubstr("params.dir: must not be empty"));
  EXPECT_THAT(all(problems_of("frames", {{"dir", "x"}, {"frames", 4}}, {}, false)),
              HasSubstr("params.frames: frames must be odd"));
  EXPECT_THAT(all(problems_of("frames", {{"dir", (root_ / "nope").string()}})),
              HasSubstr("frame folder " + (root_ / "nope").string() + " does not exist"));
  for (const char* type : {"checkpoint", "tensorboard", "image_writer", "frame_writer"}) {
    EXPECT_THAT(all(problems_of(type, {{"dir", ""}})), HasSubstr("params.dir: must not be empty"))
        << type;
    EXPECT_THAT(all(problems_of(type, {{"dir", (root_ / "a_file").string()}})),
                HasSubstr("exists and is not a folder"))
        << type;
    EXPECT_THAT(all(problems_of(type, {{"dir", (root_ / "a_file" / "sub").string()}})),
                HasSubstr("cannot be created"))
        << type;
    EXPECT_TRUE(problems_of(type, {{"dir", (root_ / "new" / "deeper").string()}}).empty()) << type;
  }
}

TEST_F(StageContract, SharedValuesMustBeUsed) {
  const std::string p = all(problems_of("augment", json::object(), {{"scal", 3}}));
  EXPECT_THAT(p, HasSubstr("$.shared.scal: shared value 'scal' is not a shared param of any "
                           "stage here (did you mean 'scale'?)"));
}

}  // namespace
}  // namespace vsr
