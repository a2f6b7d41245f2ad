#include "runtime/io/fileio.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "common/errors.h"

namespace vsr {

namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw DataError(path.string() + ": " + what + ": " + std::strerror(errno));
}

// A failed step of write_file_atomic: names the file being written, the step and the reason.
[[noreturn]] void fail_write(const std::filesystem::path& path, const std::filesystem::path& tmp,
                             const std::string& what) {
  const std::string reason = std::strerror(errno);
  ::unlink(tmp.c_str());
  throw OutputError("cannot write " + path.string() + ": " + what + " " + tmp.filename().string() +
                        " failed: " + reason +
                        "; the file under its final name, if there is one, is unchanged",
                    path.string());
}

// ".<name>.tmp.<pid>.<counter>", write_file_atomic's temporary name; the pid, or 0.
long temp_file_pid(const std::string& name) {
  if (name.size() < 2 || name[0] != '.') return 0;
  const auto tmp = name.rfind(".tmp.");
  if (tmp == std::string::npos || tmp == 0) return 0;
  const std::string rest = name.substr(tmp + 5);  // "<pid>.<counter>"
  const auto dot = rest.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == rest.size() ||
      rest.find_first_not_of("0123456789.") != std::string::npos ||
      rest.find('.', dot + 1) != std::string::npos || dot > 9) {
    return 0;
  }
  return std::stol(rest.substr(0, dot));
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
  if (fd < 0) fail_write(path, tmp, "creating");
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      errno = saved;
      fail_write(path, tmp, "writing");
    }
    done += static_cast<std::size_t>(n);
  }
  if (durable && ::fsync(fd) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    fail_write(path, tmp, "syncing");
  }
  if (::close(fd) != 0) fail_write(path, tmp, "closing");
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail_write(path, tmp, "renaming");
  if (!durable) return;
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::vector<std::filesystem::path> remove_stale_temp_files(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::vector<fs::path> removed;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return removed;
  const auto options = fs::directory_options::skip_permission_denied;  // never follows links
  for (auto it = fs::recursive_directory_iterator(dir, options, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const long pid = temp_file_pid(it->path().filename().string());
    if (pid <= 0) continue;
    if (pid != static_cast<long>(::getpid()) && ::kill(static_cast<pid_t>(pid), 0) == 0) {
      continue;  // its writer is alive
    }
    std::error_code rm;
    if (fs::remove(it->path(), rm)) removed.push_back(it->path());
  }
  return removed;
}

void sync_filesystem(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, "cannot open to sync");
  const int rc = ::syncfs(fd);
  ::close(fd);
  if (rc != 0) fail(path, "syncfs failed");
}

}  // namespace vsr
