// Running a command line from a test, as a user's shell would.
//
//   const CommandResult r = run_command(std::string(VSR_BINARY) + " validate x.json 2>&1");
//   EXPECT_EQ(r.code, 2);
#pragma once

#include <string>

namespace vsr::testing {

struct CommandResult {
  int code = -1;    // the exit status; -1 when the command did not exit normally
  std::string out;  // what it wrote to stdout (add 2>&1 to the line for stderr too)
};

// Runs `command_line` with /bin/sh and waits for it.
CommandResult run_command(const std::string& command_line);

}  // namespace vsr::testing
