// The vsr_flow command line: `vsr_flow <command> [args]`; see usage() in cli.cpp.
#pragma once

namespace vsr {

int cli_main(int argc, char** argv);

}  // namespace vsr
