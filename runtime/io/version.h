// Build identity, printed by `vsr_flow --version` and kept in checkpoints.
#pragma once

namespace vsr {

const char* version_string();

}  // namespace vsr
