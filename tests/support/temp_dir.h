// An empty folder of a test's own under gtest's temporary folder (header-only, so every test
// executable can use it, also those that do not link vsr_test_support).
//
//   const std::filesystem::path dir = vsr::testing::fresh_dir("vsr_export");  // exists, empty
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace vsr::testing {

// TempDir()/name, emptied (what an earlier run left is removed) and created.
inline std::filesystem::path fresh_dir(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace vsr::testing
