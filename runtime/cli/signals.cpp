#include "runtime/cli/signals.h"

#include <unistd.h>
#include <csignal>

namespace vsr {

namespace {

std::atomic<std::atomic<bool>*> g_stop{nullptr};
std::atomic<int> g_signals{0};

extern "C" void on_stop_signal(int) {
  if (g_signals.fetch_add(1) > 0) _exit(130);
  static const char kMsg[] =
      "\nvsr_flow: stopping: finishing in-flight work (press Ctrl-C again to quit now)\n";
  ssize_t ignored = write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
  (void)ignored;
  if (std::atomic<bool>* stop = g_stop.load()) stop->store(true);
}

}  // namespace

void install_stop_signals(std::atomic<bool>* stop) {
  g_signals = 0;
  g_stop = stop;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace vsr
