#include "runtime/cli/cli.h"

int main(int argc, char** argv) { return vsr::cli_main(argc, argv); }
