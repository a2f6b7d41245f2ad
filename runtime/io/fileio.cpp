#include "runtime/io/fileio.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/errors.h"

namespace vsr {

namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw DataError(path.string() + ": " + what + ": " + std::strerror(errno));
}

}  // namespace

namespace {

template <class Buffer>
void read_whole_file(const std::filesystem::path& path, Buffer& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, "cannot open");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    fail(path, "cannot stat");
  }
  out.resize(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int saved = n < 0 ? errno : EIO;
      ::close(fd);
      errno = saved;
      fail(path, n < 0 ? "read failed" : "file shrank while being read");
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

}  // namespace

void read_file_into(const std::filesystem::path& path, std::vector<std::uint8_t>& out) {
  read_whole_file(path, out);
}

std::vector<char> read_file_bytes(const std::filesystem::path& path) {
  std::vector<char> out;
  read_whole_file(path, out);
  return out;
}

std::string read_text_file(const std::filesystem::path& path) {
  std::string out;
  read_whole_file(path, out);
  return out;
}

void write_file_atomic(const std::filesystem::path& path, const char* data, std::size_t size,
                       Durability durability) {
  const bool durable = durability == Durability::kDurable;
  namespace fs = std::filesystem;
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  // Unique per process and call, so concurrent writers of one name never share a temp file.
  static std::atomic<unsigned long> counter{0};
  const fs::path tmp = dir / ("." + path.filename().string() + ".tmp." + std::to_string(getpid()) +
                              "." + std::to_string(counter++));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(tmp, "cannot create");
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail(tmp, "write failed");
    }
    done += static_cast<std::size_t>(n);
  }
  if ((durable && ::fsync(fd) != 0) || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    fail(tmp, "fsync failed");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    fail(path, "rename failed");
  }
  if (!durable) return;
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void sync_filesystem(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, "cannot open to sync");
  const int rc = ::syncfs(fd);
  ::close(fd);
  if (rc != 0) fail(path, "syncfs failed");
}

}  // namespace vsr
