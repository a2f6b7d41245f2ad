// Hostile input to the pipeline-spec reader (parse_json_text, read_json_file): each broken
// file gives its own clear error, with file:line:col where there is one; deep nesting and huge
// files are refused before anything walks them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "common/errors.h"
#include "graph/spec.h"
#include "tests/graph/test_stages.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

const char* const kGood = R"({
  "version": 1, "max_in_flight": 4,
  "stages": [{"name": "numbers", "type": "counter", "params": {"count": 5}},
             {"name": "out", "type": "sink"}],
  "edges": ["numbers.out -> out.in"]
})";

// The SpecError message of parsing `text`, or "" when it parses.
std::string parse_error(const std::string& text) {
  try {
    parse_json_text(text, "s.json");
  } catch (const SpecError& e) {
    return e.what();
  }
  return "";
}

TEST(SpecInput, ZeroByteAndTruncatedSpecsAreSyntaxErrorsWithTheirPosition) {
  EXPECT_THAT(parse_error(""),
              AllOf(HasSubstr("s.json:1:1: invalid JSON"), HasSubstr("unexpected end of input")));
  const std::string good = kGood;
  EXPECT_THAT(parse_error(good.substr(0, good.find("\"out\""))),
              AllOf(HasSubstr("s.json:4:"), HasSubstr("invalid JSON")));
  EXPECT_EQ(parse_error(good), "");
  testing::test_spec(parse_json_text(good, "s.json"));
}

TEST(SpecInput, RandomBytesAreAnError) {
  for (unsigned seed = 0; seed < 50; ++seed) {
    std::mt19937 rng(seed);
    std::string bytes = "{" + std::string(seed * 13, '\0');
    for (std::size_t i = 1; i < bytes.size(); ++i) bytes[i] = static_cast<char>(rng() & 0xFF);
    EXPECT_THAT(parse_error(bytes), HasSubstr("invalid JSON")) << seed;
  }
  EXPECT_THAT(parse_error("{\"name\": \"\xff\xfe\"}"), HasSubstr("invalid JSON"));
  // Found by the fuzzer: a number past a double is nlohmann's out_of_range, not a parse_error.
  EXPECT_THAT(parse_error("[1, 8" + std::string(400, '0') + "]"),
              AllOf(HasSubstr("s.json: invalid JSON"), HasSubstr("number overflow")));
}

TEST(SpecInput, DeepNestingIsRefusedAtItsPosition) {
  const std::string deep = "{\"a\":\n" + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_THAT(parse_error(deep),
              AllOf(HasSubstr("s.json:2:64: the JSON nests deeper than 64 levels here")));
  // A million levels: no stack overflow, in the parser or anywhere after it.
  EXPECT_THAT(parse_error(std::string(1000000, '[')), HasSubstr("nests deeper than 64 levels"));
  // Brackets inside strings do not count.
  EXPECT_EQ(parse_error("{\"a\": \"" + std::string(1000, '[') + "\"}"), "");
  EXPECT_EQ(parse_error(std::string(64, '[') + std::string(64, ']')), "");
}

TEST(SpecInput, OversizedSpecIsRefused) {
  const std::string big = "[\"" + std::string(kMaxSpecBytes, 'x') + "\"]";
  EXPECT_THAT(parse_error(big), HasSubstr("more than the limit of 16777216 (16 MiB)"));
}

class SpecFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("vsr_spec_input_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  static std::string read_error(const fs::path& p) {
    try {
      read_json_file(p.string());
    } catch (const SpecError& e) {
      return e.what();
    }
    return "";
  }
  fs::path dir_;
};

TEST_F(SpecFiles, FolderMissingHugeAndOddlyNamedFiles) {
  fs::create_directories(dir_ / "folder.json");
  EXPECT_THAT(read_error(dir_ / "folder.json"), HasSubstr("folder.json: is a folder, not a spec"));
  EXPECT_THAT(read_error(dir_ / "missing.json"), HasSubstr("cannot open the file; check the path"));
  const fs::path big = dir_ / "big.json";
  std::ofstream(big) << kGood;
  fs::resize_file(big, std::uintmax_t{4} << 30);  // sparse: no disk used
  EXPECT_THAT(read_error(big), HasSubstr("the file is 4294967296 bytes, more than the limit"));
  const fs::path odd = dir_ / fs::u8path("my spec \xc3\xa9 \xe6\x97\xa5.json");
  std::ofstream(odd) << kGood;
  EXPECT_EQ(read_error(odd), "");
  std::ofstream(dir_ / "cut.json") << std::string(kGood).substr(0, 30);
  EXPECT_THAT(read_error(dir_ / "cut.json"), HasSubstr("cut.json:2:"));
}

}  // namespace
}  // namespace vsr
