// Hostile input to the readers of untrusted bytes in runtime/: the YAML config loader (training
// and conversion configs), the image decoder of the data path and the LR-stack splitter. Each
// broken input gives its own clear error (asserted by its text), each legal oddity works; none
// crashes, hangs or allocates what a header merely claims. (The spec reader's cases are
// tests/graph/spec_input_test.cpp, the command line's tests/e2e/hostile_input_cli_test.cpp,
// the fuzz targets tests/fuzz/.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "common/errors.h"
#include "runtime/config/config.h"
#include "runtime/config/convert_config.h"
#include "runtime/data/image.h"
#include "runtime/data/png.h"
#include "runtime/io/fileio.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

const char* const kMinimal =
    "DATA:\n"
    "  formats: [small_540]\n"
    "TRAINING:\n"
    "  batch_size: {small_540: 4}\n";

// The ConfigError message of loading `text` as a training config, or "" when it loads.
std::string config_error(const std::string& text) {
  try {
    load_config_text(text, "t.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng() & 0xFF);
  return out;
}

// `levels` nested flow sequences around one scalar: [[[...x...]]].
std::string nested_flow(int levels) {
  return "DATA: " + std::string(levels, '[') + "x" + std::string(levels, ']') + "\n";
}

// A "billion laughs": `levels` anchors, each a list of ten aliases of the one before.
std::string alias_bomb(int levels) {
  std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < levels; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) text += (k ? ", " : "") + prev;
    text += "]\n";
  }
  return text;
}

TEST(HostileConfig, ZeroByteConfigNamesTheMissingKey) {
  EXPECT_THAT(config_error(""), HasSubstr("TRAINING.batch_size has no entry for it"));
}

TEST(HostileConfig, TruncatedConfigIsASyntaxErrorWithItsPosition) {
  const std::string text = kMinimal;
  EXPECT_THAT(config_error(text.substr(0, text.find("540]") + 2)),
              AllOf(HasSubstr("t.yaml:"), HasSubstr("YAML syntax error")));
}

TEST(HostileConfig, RandomBytesAreNotUtf8) {
  const std::string text = "DATA:\n  formats: [small_540]\n" + random_bytes(256, 1);
  const std::string error = config_error(text);
  EXPECT_THAT(error, HasSubstr("the config is not UTF-8 text (byte 0x"));
  EXPECT_THAT(error, HasSubstr("t.yaml:3:"));
  for (unsigned seed = 2; seed < 50; ++seed) {
    EXPECT_NE(config_error(random_bytes(1 + seed * 37, seed)), "") << seed;
  }
}

TEST(HostileConfig, PrintableGarbageIsAClearError) {
  EXPECT_THAT(config_error("just some words"), HasSubstr("a config must be a mapping of sections"));
  EXPECT_THAT(config_error("{{{{ : ]]]"), HasSubstr("YAML syntax error"));
}

TEST(HostileConfig, DeepNestingIsRefusedAtItsPosition) {
  // Past our bound (32 levels), and past yaml-cpp's own guard (DeepRecursion at 2000).
  EXPECT_THAT(config_error(nested_flow(40)),
              AllOf(HasSubstr("t.yaml:1:"), HasSubstr("the YAML nests deeper than 32 levels")));
  EXPECT_THAT(config_error(nested_flow(100000)),
              AllOf(HasSubstr("t.yaml:1:"), HasSubstr("the YAML nests deeper than 32 levels")));
  std::string block = "DATA:\n";
  for (int i = 0; i < 60; ++i)
    block += std::string(2 * i + 2, ' ') + "k" + std::to_string(i) + ":\n";
  EXPECT_THAT(config_error(block), HasSubstr("the YAML nests deeper than 32 levels"));
  // Within the bound, the usual checks run.
  EXPECT_THAT(config_error(nested_flow(20)), HasSubstr("DATA must be a mapping of keys"));
}

TEST(HostileConfig, AliasBombIsRefusedQuickly) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(config_error(alias_bomb(9)),  // 10^9 nodes expanded
              HasSubstr("the YAML expands to more than 100000 nodes (each use of an alias"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  try {
    load_convert_config_text(alias_bomb(9), "c.yaml");
    FAIL() << "the alias bomb loaded as a conversion config";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("c.yaml:"));
    EXPECT_THAT(e.what(), HasSubstr("expands to more than 100000 nodes"));
  }
  EXPECT_THROW(config_kind(alias_bomb(9), "c.yaml"), ConfigError);
}

TEST(HostileConfig, AliasedLongValuesAreBoundedByTheirBytes) {
  std::string text = "a: &a \"" + std::string(500000, 'x') + "\"\nb: [";
  for (int i = 0; i < 40; ++i) text += i ? ", *a" : "*a";  // 20 MB of values
  EXPECT_THAT(config_error(text + "]\n"),
              AllOf(HasSubstr("t.yaml:1:"),
                    HasSubstr("the YAML expands to more than 16777216 bytes of values")));
}

TEST(HostileConfig, EscapedLoneSurrogateIsASyntaxError) {
  EXPECT_THAT(config_error("OUTPUT: {experiment_name: \"a\\ud800b\"}\n"),
              HasSubstr("t.yaml:1:35: YAML syntax error: invalid unicode"));
}

TEST(HostileConfig, SelfReferencingAliasIsRefused) {
  EXPECT_THAT(config_error("a: &a [*a, *a]\n"), HasSubstr("t.yaml:1:"));
  EXPECT_NE(config_error("a: &a {k: *a}\n"), "");
}

TEST(HostileConfig, AliasesWithinBoundsWork) {
  const TrainConfig c = load_config_text(
      "DATA:\n  formats: [small_540, medium_169]\n"
      "TRAINING:\n  batch_size: &b {small_540: 4, medium_169: 2}\n"
      "  gradient_accumulation: *b\n",
      "t.yaml");
  EXPECT_EQ(c.training.gradient_accumulation.at("medium_169"), 2);
}

TEST(HostileConfig, OversizedConfigIsRefusedBeforeParsing) {
  std::string text = kMinimal;
  text += "# " + std::string(kMaxConfigBytes, 'x') + "\n";
  EXPECT_THAT(config_error(text), HasSubstr("more than the limit of 1048576 (1 MiB)"));
}

TEST(HostileConfig, OverrideValueIsBounded) {
  try {
    load_config_text(kMinimal, "t.yaml", {"DATA.formats=" + nested_flow(40).substr(6)});
    FAIL() << "a deeply nested --set value was taken";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("--set DATA.formats="));
    EXPECT_THAT(e.what(), HasSubstr("nests deeper than 32 levels"));
  }
}

class HostileFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("vsr_hostile_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, const std::string& bytes) {
    const fs::path p = dir_ / fs::u8path(name);
    write_file_atomic(p, bytes);
    return p;
  }
  fs::path write_png(const std::string& name, const cv::Mat& image) {
    const std::vector<std::uint8_t> bytes = encode_png(image);
    return write(name, std::string(bytes.begin(), bytes.end()));
  }
  // The DataError of reading `path` with read_image_bgr, or "" when it reads.
  static std::string image_error(const fs::path& path) {
    try {
      read_image_bgr(path);
    } catch (const DataError& e) {
      return e.what();
    }
    return "";
  }
  fs::path dir_;
};

TEST_F(HostileFiles, ConfigFolderAndOddNames) {
  fs::create_directories(dir_ / "folder.yaml");
  try {
    read_config_text((dir_ / "folder.yaml").string());
    FAIL() << "a folder was read as a config";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("folder.yaml: is a folder, not a config file"));
  }
  const fs::path odd = write("my config \xc3\xbc \xe6\x97\xa5\xe6\x9c\xac.yaml", kMinimal);
  EXPECT_EQ(load_config(odd.string()).training.batch_size.at("small_540"), 4);
}

TEST_F(HostileFiles, OversizedConfigFileIsRefusedBeforeReading) {
  const fs::path big = dir_ / "big.yaml";
  std::ofstream(big) << kMinimal;
  fs::resize_file(big, std::uintmax_t{8} << 30);  // sparse: no disk used
  try {
    read_config_text(big.string());
    FAIL() << "an 8 GiB config was read";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("the config file is 8589934592 bytes, more than the limit"));
  }
}

// A PNG whose IHDR claims width x height, with a tiny IDAT: nothing of the claimed size exists.
std::string png_claiming(std::uint32_t width, std::uint32_t height) {
  cv::Mat tiny(1, 1, CV_8UC3, cv::Scalar(1, 2, 3));
  std::vector<std::uint8_t> png = encode_png(tiny);
  for (int i = 0; i < 4; ++i) {
    png[16 + i] = static_cast<std::uint8_t>(width >> (24 - 8 * i));
    png[20 + i] = static_cast<std::uint8_t>(height >> (24 - 8 * i));
  }
  return std::string(png.begin(), png.end());
}

TEST_F(HostileFiles, HugeImageHeaderIsRefusedBeforeAllocating) {
  const fs::path huge = write("huge.png", png_claiming(60000, 60000));
  EXPECT_THAT(image_error(huge),
              AllOf(HasSubstr("cannot read image " + huge.string()),
                    HasSubstr("its PNG header claims 60000x60000 pixels (3600 megapixels), more "
                              "than the limit of 100 megapixels")));
  // A JPEG: SOI, then a baseline frame header (SOF0) of 65535x65535.
  const std::string sof = {'\xFF', '\xD8', '\xFF', '\xC0', 0, 11,   8, '\xFF',
                           '\xFF', '\xFF', '\xFF', 1,      1, 0x11, 0};
  const fs::path jpeg = write("huge.jpg", sof + std::string(64, '\0'));
  EXPECT_THAT(image_error(jpeg), HasSubstr("its JPEG header claims 65535x65535 pixels"));
  // Just inside the limit a header is believed, and its truth decides (here: damaged data).
  const fs::path edge = write("edge.png", png_claiming(10000, 10000));
  EXPECT_THAT(image_error(edge), HasSubstr("not a readable PNG (corrupt or truncated)"));
}

TEST_F(HostileFiles, BrokenImagesGiveTheirOwnErrors) {
  const cv::Mat image(12, 10, CV_8UC3, cv::Scalar(10, 20, 30));
  const std::vector<std::uint8_t> good = encode_png(image);
  EXPECT_THAT(image_error(write("empty.png", "")), HasSubstr("the file is empty (0 bytes)"));
  EXPECT_THAT(image_error(write("cut.png", std::string(good.begin(), good.begin() + 60))),
              HasSubstr("not a readable PNG (corrupt or truncated)"));
  EXPECT_THAT(image_error(write("sig.png", std::string(good.begin(), good.begin() + 8))),
              HasSubstr("damaged PNG: no IHDR header chunk after the signature"));
  EXPECT_THAT(image_error(write("noise.png", "\x01\x02garbage")),
              HasSubstr("not a PNG or JPEG file (it starts with bytes 01 02 67 61 72 62 61 67)"));
  EXPECT_THAT(image_error(write("nosof.jpg", std::string("\xFF\xD8\xFF\xD9", 4))),
              HasSubstr("damaged JPEG: no frame header (SOF) before its end"));
  for (unsigned seed = 0; seed < 20; ++seed) {
    std::string bytes(good.begin(), good.end());
    std::mt19937 rng(seed);
    for (int i = 0; i < 8; ++i) bytes[8 + rng() % (bytes.size() - 8)] = static_cast<char>(rng());
    const fs::path p = write("flipped.png", bytes);
    const std::string error = image_error(p);  // either reads or says why
    if (!error.empty()) {
      EXPECT_THAT(error, HasSubstr("cannot read image " + p.string()));
    }
  }
  fs::create_directories(dir_ / "dir.png");
  EXPECT_THAT(image_error(dir_ / "dir.png"), HasSubstr("it is a folder, not a file"));
  fs::create_symlink("loop_b.png", dir_ / "loop_a.png");
  fs::create_symlink("loop_a.png", dir_ / "loop_b.png");
  EXPECT_THAT(image_error(dir_ / "loop_a.png"),
              HasSubstr("a symbolic link that leads nowhere (or in a loop)"));
  EXPECT_THAT(image_error(dir_ / "missing.png"), HasSubstr("file does not exist"));
}

TEST_F(HostileFiles, OversizedImageFileIsRefusedBeforeReading) {
  const fs::path big = write("big.png", png_claiming(4, 4));
  fs::resize_file(big, std::uintmax_t{3} << 30);  // sparse
  EXPECT_THAT(image_error(big), HasSubstr("the file is 3221225472 bytes, more than the limit of "
                                          "1073741824 (1 GiB) for an image"));
}

TEST_F(HostileFiles, GrayAnd16BitImagesAndOddNamesAreLegal) {
  cv::Mat gray(9, 7, CV_8UC1), deep(9, 7, CV_16UC3), gray16(5, 4, CV_16UC1);
  cv::randu(gray, 0, 256);
  cv::randu(deep, 0, 65536);
  cv::randu(gray16, 0, 65536);
  const std::vector<std::pair<std::string, cv::Mat>> cases = {
      {"gray.png", gray},
      {"deep.png", deep},
      {"gray16.png", gray16},
      {"frame 0001 \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.png", gray},
  };
  for (const auto& [name, image] : cases) {
    const fs::path p = write_png(name, image);
    const cv::Mat ours = read_image_bgr(p);
    const cv::Mat ref = cv::imread(p.string(), cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH);
    ASSERT_EQ(ours.type(), ref.type()) << name;
    EXPECT_EQ(ours.channels(), 3) << name;
    EXPECT_EQ(ours.depth(), image.depth()) << name;
    EXPECT_EQ(cv::norm(ours, ref, cv::NORM_INF), 0) << name;
  }
}

TEST(HostileStack, WrongHeightsAndSizesNameTheFileAndWhatToDo) {
  const cv::Size lr(60, 30);
  const auto error = [&](const cv::Mat& stack, int frames) {
    try {
      split_stack(stack, frames, lr, "s.png");
    } catch (const DataError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(error(cv::Mat(210, 60, CV_8UC3), 7), "");
  EXPECT_THAT(error(cv::Mat(150, 60, CV_8UC3), 7),
              AllOf(HasSubstr("Wrong frame count in LR stack s.png: expected 60x210"),
                    HasSubstr("looks like 5 frames: check lr_version")));
  EXPECT_THAT(error(cv::Mat(211, 60, CV_8UC3), 7),
              HasSubstr("height is not a multiple of the LR height 30"));
  EXPECT_THAT(error(cv::Mat(210, 61, CV_8UC3), 7), HasSubstr("wrong LR width"));
  EXPECT_THAT(error(cv::Mat(), 7), HasSubstr("found 0x0"));
  EXPECT_THAT(error(cv::Mat(29, 60, CV_8UC3), 1), HasSubstr("found 60x29"));
  try {
    check_gt_size(cv::Mat(10, 10, CV_8UC3), cv::Size(180, 90), "g.png");
    FAIL() << "a GT of the wrong size passed";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("Wrong GT size in g.png: expected 180x90"));
  }
}

}  // namespace
}  // namespace vsr
