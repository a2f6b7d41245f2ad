// Graphviz DOT of a spec: one node per stage (name, type, concurrency, non-default params),
// edges labelled with their message types. `vsr_flow dot SPEC | dot -Tsvg > graph.svg`.
#pragma once

#include <string>

#include "graph/registry.h"
#include "graph/spec.h"

namespace vsr {

std::string to_dot(const Spec& spec, const Registry& registry = Registry::global());

}  // namespace vsr
