#include "runtime/io/version.h"

namespace vsr {

const char* version_string() { return "0.1.0"; }

}  // namespace vsr
