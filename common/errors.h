// The one error hierarchy of vsr_flow, shared by graph/, runtime/ and stages/. Every error a
// user can see is one of these; each says what was expected, what was found and what to do,
// and names the file (and, for a stage failure, the stage) where that applies. The command
// line maps the kind of the error that ended a command to its exit code (exit_code below).
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace vsr {

enum class ErrorKind {
  kUsage,   // a command line that cannot be run
  kConfig,  // a YAML training config with problems (file:line:col)
  kSpec,    // a pipeline spec with problems (JSON path, or the config key it came from)
  kData,    // an input file or folder (dataset, frames, checkpoint) missing or malformed
  kOutput,  // a file or folder the run writes could not be written
  kRun,     // the run itself failed (diverged, an invariant broke)
};

// "usage", "config", "spec", "data", "output", "run".
const char* to_string(ErrorKind kind);

// The exit code of a command that ended with an error of `kind`: 2 for usage, config and spec
// problems (found before anything runs), 3 data, 4 output, 1 a failed run. (0 is success and
// 130 a stop by signal.)
int exit_code(ErrorKind kind);

// Base of every error vsr_flow reports to a user.
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message, std::string file = "")
      : std::runtime_error(message), kind_(kind), file_(std::move(file)) {}
  ErrorKind kind() const { return kind_; }
  // The file or folder involved, when there is one ("" otherwise).
  const std::string& file() const { return file_; }

 private:
  ErrorKind kind_;
  std::string file_;
};

class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(ErrorKind::kUsage, message) {}
};

// Every problem of a config at once, one `file:line:col: message` per line.
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& message, std::string file = "")
      : Error(ErrorKind::kConfig, message, std::move(file)) {}
};

// Every problem of a spec at once, one per line, each with its JSON path or config key.
class SpecError : public Error {
 public:
  explicit SpecError(const std::string& message, std::string file = "")
      : Error(ErrorKind::kSpec, message, std::move(file)) {}
};

// An input that is missing or malformed; `file` names it.
class DataError : public Error {
 public:
  explicit DataError(const std::string& message, std::string file = "")
      : Error(ErrorKind::kData, message, std::move(file)) {}
};

// A file or folder the run writes that could not be written; `file` names it.
class OutputError : public Error {
 public:
  explicit OutputError(const std::string& message, std::string file = "")
      : Error(ErrorKind::kOutput, message, std::move(file)) {}
};

// The run failed for a reason of its own (a diverging loss, a broken invariant).
class RunError : public Error {
 public:
  explicit RunError(const std::string& message) : Error(ErrorKind::kRun, message) {}
};

// A failure inside a running stage: names the stage and its type and keeps the kind and the
// file of its cause (a data error in a stage is still a data error).
class StageError : public Error {
 public:
  StageError(std::string stage, std::string type, ErrorKind cause_kind, const std::string& cause,
             std::string file = "")
      : Error(cause_kind, "stage '" + stage + "' (type " + type + ") failed: " + cause,
              std::move(file)),
        stage_(std::move(stage)),
        type_(std::move(type)),
        cause_(cause) {}
  const std::string& stage() const { return stage_; }
  const std::string& type() const { return type_; }
  // The cause's message, without the "stage ... failed: " prefix.
  const std::string& cause() const { return cause_; }

 private:
  std::string stage_;
  std::string type_;
  std::string cause_;
};

inline const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUsage:
      return "usage";
    case ErrorKind::kConfig:
      return "config";
    case ErrorKind::kSpec:
      return "spec";
    case ErrorKind::kData:
      return "data";
    case ErrorKind::kOutput:
      return "output";
    case ErrorKind::kRun:
      return "run";
  }
  return "run";
}

inline int exit_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUsage:
    case ErrorKind::kConfig:
    case ErrorKind::kSpec:
      return 2;
    case ErrorKind::kData:
      return 3;
    case ErrorKind::kOutput:
      return 4;
    case ErrorKind::kRun:
      return 1;
  }
  return 1;
}

}  // namespace vsr
