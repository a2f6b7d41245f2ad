// The split stage: an LR stack of the wrong frame count is named with the file and both sizes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/errors.h"
#include "tests/stages/harness.h"
#include "tests/support/mock_dataset.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using testing::DataStages;
using ::testing::HasSubstr;

TEST_F(DataStages, WrongFrameCountNamesTheFileAndSizes) {
  const testing::MockDataset data("vsr_bad_stack",
                                  {{"small_540"}, {5, 7}, /*count=*/1, /*val_count=*/0});
  const fs::path bad = data.root();
  const fs::path patches = bad / "Universal/Mastermodell/Learn/Patches";
  // Put the 5-frame stack where the 7-frame one belongs.
  fs::copy_file(patches / "LR_5frames/0000.png", patches / "LR_7frames/0000.png",
                fs::copy_options::overwrite_existing);
  json doc = training_data_spec(data_config(
      1, 1, 3,
      {"DATA.data_root=" + bad.string(), "DATA.formats=[small_540]",
       "TRAINING.batch_size.small_540=1", "TRAINING.gradient_accumulation.small_540=1"}));
  try {
    run_batches(doc);
    FAIL() << "expected a stage error";
  } catch (const StageError& e) {
    EXPECT_EQ(e.stage(), "split");
    EXPECT_THAT(e.what(), HasSubstr((patches / "LR_7frames/0000.png").string()));
    EXPECT_THAT(e.what(), HasSubstr("180x1260"));
    EXPECT_THAT(e.what(), HasSubstr("180x900"));
  }
}

}  // namespace
}  // namespace vsr
