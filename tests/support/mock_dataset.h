// A mock dataset (runtime/data/mock_data.h) that lives as long as a test, a suite or a
// benchmark run: written into its own folder when constructed, removed when destroyed.
//
//   const testing::MockDataset data("vsr_check", {{"small_540", "medium_169"}, {5, 7},
//                                                 /*count=*/3, /*val_count=*/2});
//   run("check-data --set DATA.data_root=" + data.root().string());
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace vsr::testing {

// What a MockDataset holds, in category general at scale 3: write_mock_dataset's options but
// the root. The defaults are the smallest dataset every check of a training spec accepts.
struct MockDatasetOptions {
  std::vector<std::string> formats = {"small_540"};
  std::vector<int> lr_versions = {7};  // frame counts
  int count = 1;                       // clips per format
  int val_count = 1;                   // Val/GT images, at the size of formats[0]
  std::uint64_t seed = 0;
};

class MockDataset {
 public:
  // Writes the dataset into <parent>/<name>_<pid>, replacing what an earlier run left there;
  // parent: ::testing::TempDir() when empty. The pid keeps tests that run at once apart.
  explicit MockDataset(const std::string& name, const MockDatasetOptions& options = {},
                       const std::filesystem::path& parent = {});
  ~MockDataset();  // removes the folder and everything a test wrote into it
  MockDataset(const MockDataset&) = delete;
  MockDataset& operator=(const MockDataset&) = delete;

  const std::filesystem::path& root() const { return root_; }
  // <root>/Universal/Mastermodell/Learn: the format folders and Val/GT.
  std::filesystem::path learn() const;

 private:
  std::filesystem::path root_;
};

// A test suite whose tests share one MockDataset, written before its first test and removed
// after its last; root_ is its folder. The suite names the folder and says what it holds:
//
//   class TrainRun : public testing::MockDatasetSuite<TrainRun> {
//    public:
//     static constexpr const char* kDatasetName = "vsr_e2e_train";
//     static testing::MockDatasetOptions dataset_options() { return {{"small_540"}, {7}, 4, 2}; }
//   };
template <class Suite>
class MockDatasetSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = std::make_unique<MockDataset>(Suite::kDatasetName, Suite::dataset_options());
    root_ = data_->root();
  }
  static void TearDownTestSuite() { data_.reset(); }

  static inline std::filesystem::path root_;

 private:
  static inline std::unique_ptr<MockDataset> data_;
};

}  // namespace vsr::testing
