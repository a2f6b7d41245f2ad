#include "runtime/cli/onnx_export.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/errors.h"

extern char** environ;

namespace vsr {
namespace {

namespace fs = std::filesystem;

// Run by the interpreter: a missing torch is said in one line, not a traceback.
constexpr const char* kLauncher = R"(import sys
try:
    import torch
except ImportError as e:
    sys.exit("export: " + sys.executable + " cannot import torch (" + str(e) + "); the ONNX "
             "export traces vsr_flow's Python model with torch.onnx: install torch into that "
             "Python, or set VSR_FLOW_PYTHON to a Python that has it")
from vsr_flow.export_onnx import main
sys.exit(main(sys.argv[1:]))
)";

bool holds_package(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "vsr_flow" / "__init__.py", ec);
}

}  // namespace

std::string python_package_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = exe.parent_path().parent_path() / "share" / "vsr_flow" / "python";
    if (holds_package(installed)) return installed.string();
  }
  const fs::path source = fs::path(VSR_SOURCE_DIR) / "python";
  return holds_package(source) ? source.string() : "";
}

void export_onnx(const std::string& checkpoint, const std::string& out, const std::string& weights,
                 int frames) {
  const std::string package = python_package_dir();
  if (package.empty()) {
    throw RunError(
        "export: the ONNX export needs vsr_flow's Python package (python/vsr_flow), "
        "found neither in " +
        std::string(VSR_SOURCE_DIR) + "/python nor in share/vsr_flow/python beside the binary");
  }
  const char* env_python = std::getenv("VSR_FLOW_PYTHON");
  const std::string python = env_python && *env_python ? env_python : "python3";
  const char* old_path = std::getenv("PYTHONPATH");
  const std::string python_path =
      package + (old_path && *old_path ? ":" + std::string(old_path) : std::string());
  ::setenv("PYTHONPATH", python_path.c_str(), /*overwrite=*/1);

  std::vector<std::string> args = {python,     "-c",       kLauncher,
                                   checkpoint, out,        "--weights",
                                   weights,    "--frames", std::to_string(frames)};
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, python.c_str(), nullptr, nullptr, argv.data(), environ);
  if (rc != 0) {
    throw RunError("export: --to " + out + " needs a Python 3 with torch, but '" + python +
                   "' could not be started (" + std::strerror(rc) +
                   "); set VSR_FLOW_PYTHON to such a Python");
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      throw RunError("export: waiting for " + python + ": " + std::strerror(errno));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  const std::string how = WIFEXITED(status)
                              ? "exited with " + std::to_string(WEXITSTATUS(status))
                              : "was killed by signal " + std::to_string(WTERMSIG(status));
  throw RunError("export: the ONNX export (" + python + " -m vsr_flow.export_onnx, package " +
                 package + ") " + how + "; its message is above; " + out + " was not written");
}

}  // namespace vsr
