// Running a command line from a test, as a user's shell would.
//
//   const CommandResult r = run_command(std::string(VSR_BINARY) + " validate x.json 2>&1");
//   EXPECT_EQ(r.code, 2);
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

namespace vsr::testing {

struct CommandResult {
  int code = -1;    // the exit status; -1 when the command did not exit normally
  std::string out;  // what it wrote to stdout (add 2>&1 to the line for stderr too)
};

// Runs `command_line` with /bin/sh and waits for it.
CommandResult run_command(const std::string& command_line);

// A command line running in the background in its own process group (so signals reach only
// it), for tests that interrupt or kill a run:
//
//   Child run(std::string(VSR_BINARY) + " run x.yaml > log 2>&1");
//   run.signal(SIGINT);
//   const std::optional<int> code = run.wait(std::chrono::seconds(60));  // 130
//
// The destructor kills and reaps a child that is still running.
class Child {
 public:
  explicit Child(const std::string& command_line);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void signal(int sig) const;
  // The exit status once it exits within `timeout`; -(signal number) when a signal ended it;
  // nullopt when it is still running.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  bool running();

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

}  // namespace vsr::testing
