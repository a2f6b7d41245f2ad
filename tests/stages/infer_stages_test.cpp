// frames, upscale and frame_writer, driven by hand with a tiny untrained checkpoint (an
// untrained VSRNet outputs exactly bicubic upscaling of the centre frame).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/errors.h"
#include "runtime/data/image.h"
#include "runtime/data/mock_data.h"
#include "runtime/model/model.h"
#include "runtime/outputs/checkpoint.h"
#include "stages/infer/messages.h"
#include "stages/infer/upscale.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr int kScale = 2;

double max_abs_diff(const cv::Mat& a, const cv::Mat& b) {
  EXPECT_EQ(a.size(), b.size());
  EXPECT_EQ(a.type(), b.type());
  return cv::norm(a, b, cv::NORM_INF);
}

cv::Mat clamp01(const cv::Mat& img) {
  cv::Mat out;
  cv::min(img, 1.0, out);
  cv::max(out, 0.0, out);
  return out;
}

class InferStagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / ("vsr_infer_stages_" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "lr");
    for (int i = 0; i < 5; ++i) write_frame(i, cv::Size(40, 32));
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path frame_path(int i) const { return root_ / "lr" / ("000" + std::to_string(i) + ".png"); }
  void write_frame(int i, cv::Size size) {
    write_png_atomic(frame_path(i), make_mock_image(size, 100 + static_cast<std::uint64_t>(i)));
  }

  // A fresh tiny VSRNet of `frames` frames saved as a checkpoint; returns its path.
  fs::path write_checkpoint(int frames, bool with_ema) {
    torch::manual_seed(7);
    VSRNet net(VSRNetOptions().base_channels(8).num_blocks(1).scale(kScale).frames(frames));
    CheckpointData c;
    c.step = 1;
    c.base_channels = 8;
    c.num_blocks = 1;
    c.scale = kScale;
    c.frames = frames;
    for (const auto& p : net->named_parameters()) {
      c.model.emplace_back(p.key(), p.value().detach().clone());
    }
    if (with_ema) c.ema = c.model;
    const fs::path path = root_ / ("model_" + std::to_string(frames) + ".pth");
    save_checkpoint(path, c);
    return path;
  }

  // Every window the frames source makes of the lr folder.
  std::vector<std::shared_ptr<const FrameWindow>> windows(int frames) {
    auto source =
        testing::make_stage("frames", {{"dir", (root_ / "lr").string()}, {"frames", frames}});
    source->open();
    testing::CapturingEmitter out;
    while (source->produce(out)) {
    }
    std::vector<std::shared_ptr<const FrameWindow>> w;
    for (const auto& [port, m] : out.messages) {
      EXPECT_EQ(port, 0u);
      w.push_back(m.as<FrameWindow>());
    }
    return w;
  }

  // Upscales every window; returns the images in order.
  std::vector<cv::Mat> upscale_all(const json& params, int frames, std::size_t* decoded = nullptr) {
    auto stage = testing::make_stage("upscale", params);
    stage->open();
    testing::CapturingEmitter out;
    for (const auto& w : windows(frames)) stage->process(0, Message::of<FrameWindow>(w), out);
    std::vector<cv::Mat> images;
    for (const auto& [port, m] : out.messages) {
      auto f = m.as<UpscaledFrame>();
      EXPECT_EQ(f->index, static_cast<std::int64_t>(images.size()));
      EXPECT_EQ(f->name, "000" + std::to_string(images.size()));
      images.push_back(f->image);
    }
    if (decoded) *decoded = dynamic_cast<UpscaleStage&>(*stage).files_decoded();
    stage->close(true);
    return images;
  }

  fs::path root_;
};

TEST_F(InferStagesTest, FramesClampsTheWindowAtBothEnds) {
  const auto p = [&](int i) { return frame_path(i); };
  using Paths = std::vector<fs::path>;
  const auto w3 = windows(3);
  ASSERT_EQ(w3.size(), 5u);
  EXPECT_EQ(w3[0]->paths, (Paths{p(0), p(0), p(1)}));
  EXPECT_EQ(w3[1]->paths, (Paths{p(0), p(1), p(2)}));
  EXPECT_EQ(w3[2]->paths, (Paths{p(1), p(2), p(3)}));
  EXPECT_EQ(w3[3]->paths, (Paths{p(2), p(3), p(4)}));
  EXPECT_EQ(w3[4]->paths, (Paths{p(3), p(4), p(4)}));
  const auto w5 = windows(5);
  ASSERT_EQ(w5.size(), 5u);
  EXPECT_EQ(w5[0]->paths, (Paths{p(0), p(0), p(0), p(1), p(2)}));
  EXPECT_EQ(w5[1]->paths, (Paths{p(0), p(0), p(1), p(2), p(3)}));
  EXPECT_EQ(w5[2]->paths, (Paths{p(0), p(1), p(2), p(3), p(4)}));
  EXPECT_EQ(w5[3]->paths, (Paths{p(1), p(2), p(3), p(4), p(4)}));
  EXPECT_EQ(w5[4]->paths, (Paths{p(2), p(3), p(4), p(4), p(4)}));
  for (std::size_t i = 0; i < w5.size(); ++i) {
    EXPECT_EQ(w5[i]->index, static_cast<std::int64_t>(i));
    EXPECT_EQ(w5[i]->name, "000" + std::to_string(i));
  }
}

TEST_F(InferStagesTest, FramesNamesAMissingOrEmptyFolder) {
  auto missing = testing::make_stage("frames", {{"dir", (root_ / "nope").string()}, {"frames", 3}});
  try {
    missing->open();
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr((root_ / "nope").string() + " does not exist"));
    EXPECT_THAT(e.what(), HasSubstr("PNG or JPEG"));
  }
  fs::create_directories(root_ / "empty");
  auto empty = testing::make_stage("frames", {{"dir", (root_ / "empty").string()}, {"frames", 3}});
  try {
    empty->open();
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr((root_ / "empty").string() + " has no images"));
  }
  EXPECT_THROW(testing::make_stage("frames", {{"dir", "x"}, {"frames", 4}}), std::exception);
}

TEST_F(InferStagesTest, UntrainedModelIsBicubicTiledOrNotAndDecodesEachFileOnce) {
  const fs::path ckpt = write_checkpoint(3, /*with_ema=*/true);
  std::size_t decoded = 0;
  const auto whole =
      upscale_all({{"checkpoint", ckpt.string()}, {"frames", 3}, {"device", "cpu"}, {"threads", 1}},
                  3, &decoded);
  EXPECT_EQ(decoded, 5u);
  const auto tiled = upscale_all({{"checkpoint", ckpt.string()},
                                  {"frames", 3},
                                  {"tile", 20},
                                  {"tile_overlap", 8},
                                  {"device", "cpu"},
                                  {"threads", 1}},
                                 3);
  ASSERT_EQ(whole.size(), 5u);
  ASSERT_EQ(tiled.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    const cv::Mat expected = clamp01(bicubic_upscale(read_image_rgb(frame_path(i)), kScale));
    EXPECT_EQ(whole[i].size(), cv::Size(80, 64));
    EXPECT_LT(max_abs_diff(whole[i], expected), 1e-4) << i;
    EXPECT_LT(max_abs_diff(tiled[i], whole[i]), 1e-4) << i;
  }
}

TEST_F(InferStagesTest, ModelWeightsWithoutEmaWork) {
  const fs::path ckpt = write_checkpoint(3, /*with_ema=*/false);
  for (const char* weights : {"ema", "model"}) {
    const auto out = upscale_all(
        {{"checkpoint", ckpt.string()}, {"frames", 3}, {"weights", weights}, {"device", "cpu"}}, 3);
    ASSERT_EQ(out.size(), 5u) << weights;
  }
}

TEST_F(InferStagesTest, FrameCountMismatchWithTheCheckpointIsAClearError) {
  const fs::path ckpt = write_checkpoint(3, true);
  auto stage = testing::make_stage("upscale", {{"checkpoint", ckpt.string()}, {"frames", 5}});
  try {
    stage->open();
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr(ckpt.string() + " is a 3-frame model"));
    EXPECT_THAT(e.what(), HasSubstr("params.frames is 5"));
  }
}

TEST_F(InferStagesTest, MissingCheckpointIsNamed) {
  auto stage =
      testing::make_stage("upscale", {{"checkpoint", (root_ / "no.pth").string()}, {"frames", 3}});
  try {
    stage->open();
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr((root_ / "no.pth").string()));
  }
}

TEST_F(InferStagesTest, FramesOfAnotherSizeAreNamedWithBothSizes) {
  write_frame(2, cv::Size(36, 32));
  const fs::path ckpt = write_checkpoint(3, true);
  try {
    upscale_all({{"checkpoint", ckpt.string()}, {"frames", 3}, {"device", "cpu"}}, 3);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr(frame_path(2).string() + " is 36x32"));
    EXPECT_THAT(e.what(), HasSubstr("is 40x32"));
  }
}

TEST_F(InferStagesTest, FrameWriterWritesNamedPngsAtomically) {
  auto writer = testing::make_stage("frame_writer", {{"dir", (root_ / "out").string()}});
  testing::CapturingEmitter out;
  auto f = std::make_shared<UpscaledFrame>();
  f->index = 3;
  f->name = "0003";
  f->image = make_mock_image(cv::Size(24, 16), 1);
  writer->process(0, Message::of<UpscaledFrame>(f), out);
  EXPECT_TRUE(out.messages.empty());
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(root_ / "out")) {
    files.push_back(e.path().filename().string());
  }
  EXPECT_EQ(files, std::vector<std::string>{"0003.png"});
  const cv::Mat back = read_image_rgb(root_ / "out" / "0003.png");
  EXPECT_EQ(back.size(), cv::Size(24, 16));
  EXPECT_LT(max_abs_diff(back, f->image), 1.0 / 255);
}

}  // namespace
}  // namespace vsr
