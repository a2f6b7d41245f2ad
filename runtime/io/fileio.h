// Reading a whole file in one go, and writing files so that a crash never leaves a partial file
// under the real name: the bytes go to a temporary name in the same folder, are fsynced, and the
// file is renamed over the real name (then the folder is fsynced, so the rename itself survives a
// power cut).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace vsr {

// Replaces `out` with the file's bytes (its capacity is kept, so a reused buffer stops
// allocating). Throws DataError naming the path when it cannot be opened or read.
void read_file_into(const std::filesystem::path& path, std::vector<std::uint8_t>& out);
// The whole file, as bytes or as text; throws DataError naming the path.
std::vector<char> read_file_bytes(const std::filesystem::path& path);
std::string read_text_file(const std::filesystem::path& path);

// How far write_file_atomic waits for the disk. kDurable fsyncs the file and its folder (a
// checkpoint survives a power cut). kRenameOnly skips both: the real name still never holds a
// partial file after a crash or kill of the process, but after a power cut it may hold an empty
// or short one, so readers check completeness (a dataset writer writing thousands of files
// calls sync_filesystem once at the end instead).
enum class Durability { kDurable, kRenameOnly };

// Throws DataError naming the path when any step fails; the temporary file is removed.
void write_file_atomic(const std::filesystem::path& path, const char* data, std::size_t size,
                       Durability durability = Durability::kDurable);
inline void write_file_atomic(const std::filesystem::path& path, const std::string& bytes,
                              Durability durability = Durability::kDurable) {
  write_file_atomic(path, bytes.data(), bytes.size(), durability);
}

// Removes, under `dir` (recursively), the temporary files write_file_atomic leaves behind when
// its process was killed mid-write, except those of a process that is still running. Returns
// what it removed.
std::vector<std::filesystem::path> remove_stale_temp_files(const std::filesystem::path& dir);

// Flushes every file written to the filesystem holding `path` (syncfs). Throws DataError
// naming the path when it fails.
void sync_filesystem(const std::filesystem::path& path);

}  // namespace vsr
