#include "tests/support/mock_dataset.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "runtime/data/formats.h"
#include "runtime/data/mock_data.h"

namespace vsr::testing {

namespace fs = std::filesystem;

MockDataset::MockDataset(const std::string& name, const MockDatasetOptions& options,
                         const fs::path& parent)
    : root_((parent.empty() ? fs::path(::testing::TempDir()) : parent) /
            (name + "_" + std::to_string(getpid()))) {
  fs::remove_all(root_);
  MockDataOptions o;
  o.root = root_;
  o.formats = options.formats;
  o.lr_versions = options.lr_versions;
  o.count = options.count;
  o.val_count = options.val_count;
  o.seed = options.seed;
  write_mock_dataset(o);
}

MockDataset::~MockDataset() {
  std::error_code ec;
  fs::remove_all(root_, ec);
}

fs::path MockDataset::learn() const { return category_dir(root_, "general"); }

}  // namespace vsr::testing
