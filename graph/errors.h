// Errors of the graph engine (runtime/errors.h has the config and data ones). Messages say what was
// expected, what was found and what to do; the cli prints what() and exits non-zero, never a stack
// trace.
#pragma once

#include <stdexcept>
#include <string>

namespace vsr {

// Base of every error vsr_flow reports to a user.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A pipeline spec (JSON) that cannot be run: every problem at once, each with its JSON path.
class SpecError : public Error {
 public:
  using Error::Error;
};

// An error raised while a stage ran: names the stage and its type, wraps the cause.
class StageError : public Error {
 public:
  StageError(std::string stage, std::string type, const std::string& cause)
      : Error("stage '" + stage + "' (type " + type + ") failed: " + cause),
        stage_(std::move(stage)),
        type_(std::move(type)) {}
  const std::string& stage() const { return stage_; }
  const std::string& type() const { return type_; }

 private:
  std::string stage_;
  std::string type_;
};

}  // namespace vsr
