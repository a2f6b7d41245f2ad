// `vsr_flow selftest`: the spec's quick validation test of an installation. In a temporary
// folder it makes mock data, compiles and validates every preset against it, builds the 5-
// and 7-frame models, and trains a few steps with validation and a checkpoint; it prints a
// checklist and returns non-zero if anything failed.
#pragma once

#include <string>

namespace vsr {

// `keep_dir` non-empty: work there and keep the files; otherwise a temporary folder that is
// removed afterwards.
int run_selftest(const std::string& keep_dir);

}  // namespace vsr
