// SIGINT/SIGTERM handling for runs: the first signal asks the pipeline to stop (sources stop,
// in-flight work drains, sinks flush); a second one exits at once with status 130.
#pragma once

#include <atomic>

namespace vsr {

// Points the handlers at `stop` (nullptr detaches) and installs them.
void install_stop_signals(std::atomic<bool>* stop);

}  // namespace vsr
