#include "tests/support/command.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>

namespace vsr::testing {

CommandResult run_command(const std::string& command_line) {
  CommandResult r;
  FILE* pipe = popen(command_line.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace vsr::testing
