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

// Throws DataError naming the path when any step fails; the temporary file is removed.
void write_file_atomic(const std::filesystem::path& path, const char* data, std::size_t size);
inline void write_file_atomic(const std::filesystem::path& path, const std::string& bytes) {
  write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace vsr
