// The pipeline-spec format version: what the compiler (runtime/specs) writes and the checker
// (graph/spec) reads.
#pragma once

namespace vsr {

constexpr int kSpecVersion = 1;

}  // namespace vsr
