// Hostile input through the command line: broken configs, specs and datasets each end the
// command with its own clear error (the exit code of its kind and the problem's text), legal
// oddities (grayscale and 16-bit files, odd file names) work, and nothing crashes or hangs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "runtime/data/image.h"
#include "runtime/io/fileio.h"
#include "tests/support/command.h"
#include "tests/support/mock_dataset.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

using Result = testing::CommandResult;  // out: stdout and stderr together

Result run(const std::string& args) {
  return testing::run_command(std::string(VSR_BINARY) + " " + args + " 2>&1");
}

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

class HostileCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("vsr_hostile_cli_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, const std::string& bytes) {
    const fs::path p = dir_ / fs::u8path(name);
    write_file_atomic(p, bytes);
    return p;
  }
  fs::path dir_;
};

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng() & 0xFF);
  return out;
}

// Every problem is found before anything runs: exit 2, no crash (a signal gives -1), no
// stack trace.
void expect_refused(const Result& r, const std::string& message) {
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr(message));
  EXPECT_THAT(r.out, Not(HasSubstr("terminate called")));
  EXPECT_THAT(r.out, Not(HasSubstr("Exception raised from")));
}

TEST_F(HostileCli, BrokenConfigsGiveTheirOwnErrors) {
  expect_refused(run("compile " + quoted(write("empty.yaml", ""))),
                 "TRAINING.batch_size has no entry for it");
  expect_refused(run("compile " + quoted(write("noise.yaml", random_bytes(300, 7)))),
                 "the config is not UTF-8 text");
  expect_refused(run("compile " + quoted(write("cut.yaml", "DATA:\n  formats: [small_5"))),
                 "cut.yaml:2:");
  expect_refused(
      run("compile " + quoted(write("deep.yaml", "DATA: " + std::string(5000, '[') + "\n"))),
      "the YAML nests deeper than 32 levels");
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) bomb += (k ? ", *a" : "*a") + std::to_string(i - 1);
    bomb += "]\n";
  }
  expect_refused(run("compile " + quoted(write("bomb.yaml", bomb))),
                 "the YAML expands to more than 100000 nodes");
  fs::create_directories(dir_ / "folder.yaml");
  expect_refused(run("compile " + quoted(dir_ / "folder.yaml")), "is a folder, not a config file");
  expect_refused(run("run " + quoted(write("bomb run.yaml", bomb))), "expands to more than");
}

TEST_F(HostileCli, BrokenSpecsGiveTheirOwnErrors) {
  expect_refused(run("validate " + quoted(write("empty.json", ""))),
                 "empty.json:1:1: invalid JSON");
  expect_refused(run("validate " + quoted(write("noise.json", "{" + random_bytes(300, 3)))),
                 "invalid JSON");
  expect_refused(run("validate " + quoted(write("cut.json", "{\"version\": 1, \"stages\": ["))),
                 "cut.json:1:");
  expect_refused(run("validate " + quoted(write("deep.json", std::string(100000, '[')))),
                 "the JSON nests deeper than 64 levels");
  fs::create_directories(dir_ / "folder.json");
  expect_refused(run("validate " + quoted(dir_ / "folder.json")), "is a folder, not a spec file");
  expect_refused(run("validate " + quoted(write("\xe6\x97\xa5 spec.json", "[1, 2]"))),
                 "\xe6\x97\xa5 spec.json");
}

// check-data over a mock dataset with one broken or odd file per kind.
class HostileDataset : public ::testing::Test {
 protected:
  HostileDataset()
      : data_("vsr_hostile_data", {{"small_540"}, {7}, /*count=*/4, /*val_count=*/1}),
        config_(data_.root() / "check.yaml"),
        gt_(data_.learn() / "Patches/GT"),
        lr_(data_.learn() / "Patches/LR_7frames") {
    std::ofstream(config_) << "DATA:\n  data_root: \"" << data_.root().string()
                           << "\"\n  formats: [small_540]\n  num_workers: 2\n"
                           << "TRAINING:\n  batch_size: {small_540: 2}\n";
  }
  Result check() { return run("check-data " + quoted(config_)); }
  const testing::MockDataset data_;
  fs::path config_, gt_, lr_;
};

TEST_F(HostileDataset, GrayAnd16BitFilesAndOddNamesAreLegal) {
  // Pair 0000 as 8-bit gray, pair 0001 as 16-bit, pair 0002 renamed with spaces and unicode.
  const auto rewrite = [](const fs::path& p, int depth, bool gray) {
    cv::Mat image = read_image_bgr(p);
    if (gray) cv::extractChannel(image, image, 1);
    if (depth == CV_16U) image.convertTo(image, CV_16U, 257);
    write_bgr_png_atomic(p, image);
  };
  rewrite(gt_ / "0000.png", CV_8U, true);
  rewrite(lr_ / "0000.png", CV_8U, true);
  rewrite(gt_ / "0001.png", CV_16U, false);
  rewrite(lr_ / "0001.png", CV_16U, false);
  const std::string odd = "clip 2 \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.png";
  fs::rename(gt_ / "0002.png", gt_ / fs::u8path(odd));
  fs::rename(lr_ / "0002.png", lr_ / fs::u8path(odd));
  // A folder symlink that loops, without an image's name: not a dataset file, ignored.
  fs::create_directory_symlink(".", gt_ / "loop");
  const Result r = check();
  EXPECT_THAT(r.out, HasSubstr("dataset OK")) << r.out;
  EXPECT_THAT(r.out, HasSubstr("4 pairs"));
}

TEST_F(HostileDataset, SymlinkLoopIsNamed) {
  fs::remove(gt_ / "0003.png");
  fs::create_symlink("0003.png", gt_ / "0003.png");
  const Result r = check();
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr((gt_ / "0003.png").string() +
                               " is a symbolic link that leads nowhere (or in a loop)"));
}

TEST_F(HostileDataset, FolderWhereAFileShouldBeIsNamed) {
  fs::remove(lr_ / "0001.png");
  fs::create_directories(lr_ / "0001.png");
  const Result r = check();
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr((lr_ / "0001.png").string() + " is a folder, not an image file"));
}

TEST_F(HostileDataset, BrokenFilesEachGiveTheirOwnError) {
  // Zero bytes, cut short, random bytes, a header claiming 60000x60000, a stack one LR row short.
  std::ofstream(gt_ / "0000.png", std::ios::trunc).flush();
  const std::vector<char> whole = read_file_bytes(lr_ / "0001.png");
  write_file_atomic(lr_ / "0001.png", whole.data(), whole.size() / 3);
  write_file_atomic(gt_ / "0002.png", random_bytes(5000, 11));
  std::vector<char> huge = read_file_bytes(gt_ / "0003.png");
  for (int i = 0; i < 8; ++i) huge[16 + i] = "\x00\x00\xea\x60\x00\x00\xea\x60"[i];
  write_file_atomic(gt_ / "0003.png", huge.data(), huge.size());
  const cv::Mat stack = read_image_bgr(lr_ / "0000.png");
  write_bgr_png_atomic(lr_ / "0000.png", stack.rowRange(0, stack.rows - 1));
  const Result r = check();
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("the file is empty (0 bytes)"));
  EXPECT_THAT(r.out, AllOf(HasSubstr("cannot read image " + (lr_ / "0001.png").string()),
                           HasSubstr("not a readable PNG (corrupt or truncated)")));
  EXPECT_THAT(r.out, HasSubstr("not a PNG or JPEG file"));
  EXPECT_THAT(r.out, HasSubstr("its PNG header claims 60000x60000 pixels"));
  EXPECT_THAT(r.out, AllOf(HasSubstr("Wrong frame count in LR stack"),
                           HasSubstr("height is not a multiple of the LR height 180")));
  EXPECT_THAT(r.out, Not(HasSubstr("dataset OK")));
}

}  // namespace
}  // namespace vsr
