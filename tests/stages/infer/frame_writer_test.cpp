// The frame_writer sink: one PNG per upscaled frame, named after its input, written atomically.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "runtime/data/image.h"
#include "runtime/data/mock_data.h"
#include "stages/infer/messages.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using testing::InferStagesTest;
using testing::max_abs_diff;

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
