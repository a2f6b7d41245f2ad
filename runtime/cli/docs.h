// Reference documents generated from the code: the Markdown reference of every registered
// stage type (`vsr_flow stages --markdown`, checked in as stages/README.md). The JSON Schema
// of the training config is config_json_schema() in runtime/config/config.h.
#pragma once

#include <string>

#include "graph/registry.h"

namespace vsr {

// Every stage type of `registry`, in name order: doc, kind, ports, params (group members as
// `model.base_channels`) and checks, after a fixed intro. Example entry:
//
//   ## `augment`
//   random crop, flips, ...
//   | param | type | default | meaning |
//   | `crop` | int >= 0 | `0` | GT crop size in pixels ... |
std::string stages_markdown(const Registry& registry);

}  // namespace vsr
