// Errors of the domain code. (graph/errors.h has the spec and stage ones; runtime may not
// include graph, so both derive from std::runtime_error and the cli catches that.)
#pragma once

#include <stdexcept>

namespace vsr {

// A YAML training config with problems: every problem at once, each with file:line:col.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A dataset file or folder that is missing or malformed; the message names the path.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace vsr
