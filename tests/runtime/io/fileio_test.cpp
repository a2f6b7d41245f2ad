// Atomic writes: what a failed write says and leaves, and the clean-up of a killed writer's
// temporary files.
#include "runtime/io/fileio.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/errors.h"
#include "tests/support/temp_dir.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using testing::fresh_dir;

TEST(WriteFileAtomic, AFailedRenameNamesTheFileKeepsWhatWasThereAndLeavesNoTemporary) {
  const fs::path dir = fresh_dir("vsr_fileio_rename");
  fs::create_directories(dir / "taken.pth");  // a folder where the file goes
  try {
    write_file_atomic(dir / "taken.pth", std::string("bytes"));
    FAIL() << "expected OutputError";
  } catch (const OutputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot write " + (dir / "taken.pth").string() +
                                    ": renaming .taken.pth.tmp."));
    EXPECT_THAT(e.what(), HasSubstr("Is a directory"));
    EXPECT_THAT(e.what(),
                HasSubstr("the file under its final name, if there is one, is unchanged"));
    EXPECT_EQ(e.file(), (dir / "taken.pth").string());
  }
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 1u);  // only the folder: the temporary file is gone
}

TEST(WriteFileAtomic, AFileInThePlaceOfItsFolderIsAnOutputErrorNamingTheFile) {
  const fs::path dir = fresh_dir("vsr_fileio_folder");
  std::ofstream(dir / "checkpoints") << "not a folder";
  try {
    write_file_atomic(dir / "checkpoints/a.pth", std::string("bytes"));
    FAIL() << "expected OutputError";
  } catch (const OutputError& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("cannot write " + (dir / "checkpoints/a.pth").string() + ": creating"));
  }
}

TEST(RemoveStaleTempFiles, RemovesDeadWritersTemporariesOnly) {
  const fs::path dir = fresh_dir("vsr_fileio_stale");
  fs::create_directories(dir / "checkpoints");
  // pid 999999999 is above any pid_max (2^22 at most): a dead writer; our own pid: ours, removed
  // too (this process writes nothing at the time); pid 1 is alive.
  const fs::path dead = dir / "checkpoints/.checkpoint_step_000004.pth.tmp.999999999.3";
  const fs::path own = dir / (".best.json.tmp." + std::to_string(::getpid()) + ".0");
  const fs::path alive = dir / ".x.png.tmp.1.0";
  for (const auto& p : {dead, own, alive}) std::ofstream(p) << "partial";
  for (const char* keep : {"checkpoint_step_000004.pth", ".hidden", "a.tmp.txt", ".a.tmp.1"}) {
    std::ofstream(dir / "checkpoints" / keep) << "keep";
  }
  const auto removed = remove_stale_temp_files(dir);
  EXPECT_EQ(removed.size(), 2u);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_FALSE(fs::exists(own));
  EXPECT_TRUE(fs::exists(alive));
  for (const char* keep : {"checkpoint_step_000004.pth", ".hidden", "a.tmp.txt", ".a.tmp.1"}) {
    EXPECT_TRUE(fs::exists(dir / "checkpoints" / keep)) << keep;
  }
  EXPECT_TRUE(remove_stale_temp_files(dir / "missing").empty());
}

}  // namespace
}  // namespace vsr
