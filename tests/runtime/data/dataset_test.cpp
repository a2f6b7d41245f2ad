#include "runtime/data/dataset.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/errors.h"
#include "runtime/data/formats.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// A fresh folder per test; scanning only looks at names, so files are empty.
class DatasetScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::temp_directory_path() /
            ("vsr_dataset_test_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path fmt_dir(const std::string& folder) const {
    return root_ / "Universal/Mastermodell/Learn" / folder;
  }
  void touch(const fs::path& p) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << "x";
  }
  // Files NNNN.png for the indices in [from, to).
  void touch_range(const fs::path& dir, int from, int to) {
    for (int i = from; i < to; ++i) {
      char name[16];
      std::snprintf(name, sizeof(name), "%04d.png", i);
      touch(dir / name);
    }
  }
  std::string scan_error(const std::string& category, const std::string& lr,
                         const std::vector<std::string>& formats) {
    try {
      scan_dataset(root_, category, lr, formats);
    } catch (const DataError& e) {
      return e.what();
    }
    ADD_FAILURE() << "scan_dataset did not throw";
    return "";
  }

  fs::path root_;
};

TEST_F(DatasetScanTest, PairsByStemSortedAcrossExtensions) {
  const fs::path dir = fmt_dir("Patches");
  touch(dir / "GT/b.png");
  touch(dir / "GT/a.PNG");
  touch(dir / "GT/c.jpg");
  touch(dir / "GT/notes.txt");
  touch(dir / "GT/.hidden.png");
  touch(dir / "LR_7frames/a.png");
  touch(dir / "LR_7frames/b.jpeg");
  touch(dir / "LR_7frames/c.jpg");
  fs::create_directories(dir / "LR_5frames");

  const DatasetIndex index = scan_dataset(root_, "general", "7frames", {"small_540"});
  ASSERT_EQ(index.formats.size(), 1u);
  const FormatIndex& f = index.formats[0];
  EXPECT_EQ(f.format.name, "small_540");
  EXPECT_EQ(index.lr_version.frames, 7);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f.pairs[0].stem, "a");
  EXPECT_EQ(f.pairs[0].gt, "a.PNG");
  EXPECT_EQ(f.pairs[1].lr, "b.jpeg");
  EXPECT_EQ(f.pairs[2].gt, "c.jpg");
  EXPECT_EQ(f.gt_path(1), dir / "GT" / "b.png");
  EXPECT_EQ(f.lr_path(2), dir / "LR_7frames" / "c.jpg");
  EXPECT_EQ(index.sizes(), std::vector<std::size_t>{3});
  EXPECT_EQ(index.total(), 3u);
  EXPECT_EQ(&index.at("small_540"), &index.formats[0]);
  EXPECT_THROW(index.at("large_720"), DataError);
}

TEST_F(DatasetScanTest, KeepsRequestedFormatOrder) {
  touch_range(fmt_dir("Patches") / "GT", 0, 2);
  touch_range(fmt_dir("Patches") / "LR_5frames", 0, 2);
  touch_range(fmt_dir("Patches_Large") / "GT", 0, 5);
  touch_range(fmt_dir("Patches_Large") / "LR_5frames", 0, 5);
  const DatasetIndex index = scan_dataset(root_, "general", "5frames", {"large_720", "small_540"});
  EXPECT_EQ(index.sizes(), (std::vector<std::size_t>{5, 2}));
  EXPECT_EQ(index.formats[0].lr_dir, fmt_dir("Patches_Large") / "LR_5frames");
}

TEST_F(DatasetScanTest, ReportsEveryProblemAtOnceWithCounts) {
  // small_540: GT 0..9, LR 0..6 plus 20, 21 -> 3 GT without LR, 2 LR without GT.
  touch_range(fmt_dir("Patches") / "GT", 0, 10);
  touch_range(fmt_dir("Patches") / "LR_7frames", 0, 7);
  touch_range(fmt_dir("Patches") / "LR_7frames", 20, 22);
  // medium_169: no folder at all. large_720: folders without images.
  fs::create_directories(fmt_dir("Patches_Large") / "GT");
  fs::create_directories(fmt_dir("Patches_Large") / "LR_7frames");

  const std::string msg =
      scan_error("general", "7frames", {"small_540", "medium_169", "large_720"});
  EXPECT_THAT(msg, HasSubstr("4 problems"));
  EXPECT_THAT(msg, HasSubstr("3 GT files of 10 without a matching file in LR_7frames/, e.g. "
                             "0007.png, 0008.png, 0009.png"));
  EXPECT_THAT(msg, HasSubstr("2 LR files of 9 in LR_7frames/ without a matching file in GT/, "
                             "e.g. 0020.png, 0021.png"));
  EXPECT_THAT(msg, HasSubstr("missing folder: " + fmt_dir("Patches_Medium169").string() +
                             " (format medium_169"));
  EXPECT_THAT(msg, HasSubstr("it should contain GT/ and LR_5frames/ or LR_7frames/"));
  EXPECT_THAT(msg, HasSubstr("ls -R " + fmt_dir("Patches_Medium169").string()));
  EXPECT_THAT(msg, HasSubstr("empty format large_720"));
}

TEST_F(DatasetScanTest, ShowsOnlyTheFirstFewExamples) {
  touch_range(fmt_dir("Patches") / "GT", 0, 10);
  touch_range(fmt_dir("Patches") / "LR_5frames", 0, 2);
  const std::string msg = scan_error("general", "5frames", {"small_540"});
  EXPECT_THAT(msg, HasSubstr("1 problem\n"));
  EXPECT_THAT(msg, HasSubstr("8 GT files of 10 without a matching file in LR_5frames/, e.g. "
                             "0002.png, 0003.png, 0004.png, 0005.png, 0006.png and 3 more"));
  EXPECT_THAT(msg, Not(HasSubstr("0007.png")));
}

TEST_F(DatasetScanTest, MissingLrFolderSuggestsTheOtherVersion) {
  touch_range(fmt_dir("Patches") / "GT", 0, 2);
  touch_range(fmt_dir("Patches") / "LR_5frames", 0, 2);
  const std::string msg = scan_error("general", "7frames", {"small_540"});
  EXPECT_THAT(msg, HasSubstr("missing folder: " + (fmt_dir("Patches") / "LR_7frames").string()));
  EXPECT_THAT(msg, HasSubstr("found LR_5frames/ instead: set lr_version: 5frames"));
}

TEST_F(DatasetScanTest, MissingGtFolder) {
  touch_range(fmt_dir("Patches") / "LR_7frames", 0, 2);
  const std::string msg = scan_error("general", "7frames", {"small_540"});
  EXPECT_THAT(msg, HasSubstr("missing folder: " + (fmt_dir("Patches") / "GT").string()));
}

TEST_F(DatasetScanTest, DuplicateStemsAreReported) {
  touch(fmt_dir("Patches") / "GT/0001.png");
  touch(fmt_dir("Patches") / "GT/0001.jpg");
  touch(fmt_dir("Patches") / "LR_7frames/0001.png");
  const std::string msg = scan_error("general", "7frames", {"small_540"});
  EXPECT_THAT(msg, HasSubstr("1 stem with two files in GT/, e.g. 0001.jpg / 0001.png"));
}

TEST_F(DatasetScanTest, UnknownNamesComeTogether) {
  const std::string msg = scan_error("cartoon", "6frames", {"tiny", "small_540", "small_540"});
  EXPECT_THAT(msg, HasSubstr("unknown category 'cartoon'; known: general, space, toon"));
  EXPECT_THAT(msg, HasSubstr("unknown lr_version '6frames'; known: 5frames, 7frames"));
  EXPECT_THAT(msg, HasSubstr("unknown format 'tiny'; known: small_540, medium_169"));
  EXPECT_THAT(msg, HasSubstr("format 'small_540' is listed twice"));
  EXPECT_THAT(msg, HasSubstr("4 problems"));
}

TEST_F(DatasetScanTest, MissingCategoryAndDataRoot) {
  EXPECT_THAT(scan_error("space", "7frames", {"xlarge_1440"}),
              HasSubstr("missing folder: " + (root_ / "Space/SpaceModel/Learn").string() +
                        " (category space)"));
  const fs::path nowhere = root_ / "nowhere";
  try {
    scan_dataset(nowhere, "general", "7frames", {"small_540"});
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("data_root " + nowhere.string() + " does not exist"));
  }
}

TEST_F(DatasetScanTest, ListImagesSortedAndFiltered) {
  const fs::path val = root_ / "Val/GT";
  touch(val / "b.jpg");
  touch(val / "a.png");
  touch(val / "readme.md");
  fs::create_directories(val / "sub");
  const auto files = list_images(val);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], val / "a.png");
  EXPECT_EQ(files[1], val / "b.jpg");
  // Named like an image but a folder: an error naming it, not a file silently missing.
  fs::create_directories(val / "sub.png");
  try {
    list_images(val);
    FAIL() << "a folder named like an image was skipped";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr((val / "sub.png").string() + " is a folder, not an image"));
  }
  fs::remove(val / "sub.png");
  fs::create_directories(root_ / "empty");
  EXPECT_TRUE(list_images(root_ / "empty").empty());
  try {
    list_images(root_ / "missing");
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("missing folder: " + (root_ / "missing").string()));
  }
}

TEST(DatasetFormats, TableMatchesTheSpec) {
  const FormatInfo& small = format_info("small_540");
  EXPECT_EQ(small.width, 540);
  EXPECT_EQ(small.height, 540);
  EXPECT_EQ(small.folder, "Patches");
  EXPECT_TRUE(small.square());
  struct Row {
    const char* name;
    int w, h;
    const char* folder;
    int lr_w, lr_h;
  };
  for (const Row& r : {Row{"medium_169", 720, 405, "Patches_Medium169", 240, 135},
                       Row{"large_720", 720, 720, "Patches_Large", 240, 240},
                       Row{"xlarge_1440", 1440, 810, "Patches_XLarge169", 480, 270},
                       Row{"fullhd_1920", 1920, 1080, "Patches_FullHD", 640, 360}}) {
    const FormatInfo& f = format_info(r.name);
    EXPECT_EQ(f.width, r.w) << r.name;
    EXPECT_EQ(f.height, r.h) << r.name;
    EXPECT_EQ(f.folder, r.folder) << r.name;
    EXPECT_EQ(lr_width(f, 3), r.lr_w) << r.name;
    EXPECT_EQ(lr_height(f, 3), r.lr_h) << r.name;
  }
  EXPECT_EQ(all_formats().size(), 5u);
  EXPECT_EQ(find_format("tiny"), nullptr);
  EXPECT_THROW(lr_height(format_info("medium_169"), 2), DataError);
  try {
    format_info("tiny");
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("known formats: small_540, medium_169, large_720"));
  }
}

TEST(DatasetFormats, CategoriesVersionsAndPaths) {
  EXPECT_EQ(category_info("general").root, "Universal/Mastermodell/Learn");
  EXPECT_EQ(category_info("space").root, "Space/SpaceModel/Learn");
  EXPECT_EQ(category_info("toon").root, "Toon/ToonModel/Learn");
  EXPECT_EQ(lr_version_info("5frames").frames, 5);
  EXPECT_EQ(lr_version_info("7frames").folder, "LR_7frames");
  EXPECT_EQ(lr_version_for_frames(5).folder, "LR_5frames");
  EXPECT_THROW(lr_version_for_frames(6), DataError);

  const fs::path root = "/data";
  EXPECT_EQ(format_dir(root, "toon", "medium_169"), "/data/Toon/ToonModel/Learn/Patches_Medium169");
  EXPECT_EQ(gt_dir(format_dir(root, "general", "small_540")),
            "/data/Universal/Mastermodell/Learn/Patches/GT");
  EXPECT_EQ(lr_dir(format_dir(root, "space", "fullhd_1920"), 7),
            "/data/Space/SpaceModel/Learn/Patches_FullHD/LR_7frames");
  EXPECT_EQ(val_gt_dir(root, "space"), "/data/Space/SpaceModel/Learn/Val/GT");
}

TEST(DatasetFormats, ValidationShifts) {
  EXPECT_EQ(validation_shifts(5), (std::vector<double>{-1.0, -0.5, 0.0, 0.5, 1.0}));
  EXPECT_EQ(validation_shifts(7), (std::vector<double>{-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5}));
  EXPECT_THROW(validation_shifts(4), DataError);
}

}  // namespace
}  // namespace vsr
