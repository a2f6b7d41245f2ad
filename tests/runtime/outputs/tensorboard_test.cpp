#include "runtime/outputs/tensorboard.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "common/errors.h"

namespace vsr {
namespace {

using ::testing::HasSubstr;

TEST(TensorBoard, Crc32cKnownValues) {
  // RFC 3720 test vectors.
  const std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  const std::string digits = "123456789";
  EXPECT_EQ(crc32c(digits.data(), digits.size()), 0xE3069283u);
  std::string inc(32, '\0');
  for (int i = 0; i < 32; ++i) inc[i] = static_cast<char>(i);
  EXPECT_EQ(crc32c(inc.data(), inc.size()), 0x46DD794Eu);
}

TEST(TensorBoard, WritesFramedEventsThatReadBack) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / "vsr_tb_test";
  std::filesystem::remove_all(dir);
  std::filesystem::path file;
  {
    TensorBoardWriter tb(dir);
    file = tb.path();
    tb.add_scalar("train/loss", 0.25f, 10);
    tb.add_scalar("train/lr", 1e-4f, 10);
    tb.add_image("val/pred_000", std::string("\x89PNG fake", 9), 4, 6, 20);
    tb.flush();
  }
  EXPECT_THAT(file.filename().string(), HasSubstr("events.out.tfevents."));
  const auto records = read_event_file(file);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].file_version, "brain.Event:2");
  EXPECT_EQ(records[1].tag, "train/loss");
  EXPECT_TRUE(records[1].has_scalar);
  EXPECT_FLOAT_EQ(records[1].scalar, 0.25f);
  EXPECT_EQ(records[1].step, 10);
  EXPECT_FLOAT_EQ(records[2].scalar, 1e-4f);
  EXPECT_TRUE(records[3].has_image);
  EXPECT_EQ(records[3].image_height, 4);
  EXPECT_EQ(records[3].image_width, 6);
  EXPECT_EQ(records[3].image_png, std::string("\x89PNG fake", 9));
  EXPECT_GT(records[3].wall_time, 1.6e9);

  // A flipped byte in the data is caught by the data CRC.
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  bytes[bytes.size() - 6] ^= 0x01;
  const auto broken = dir / "broken.tfevents";
  std::ofstream(broken, std::ios::binary) << bytes;
  try {
    read_event_file(broken);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("data CRC mismatch"));
  }
}

}  // namespace
}  // namespace vsr
