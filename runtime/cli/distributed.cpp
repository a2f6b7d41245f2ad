#include "runtime/cli/distributed.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/errors.h"

namespace vsr {
namespace {

// The stages that only rank 0 runs.
const std::set<std::string> kRank0Types = {"validate", "image_writer", "checkpoint", "tensorboard",
                                           "progress"};

std::atomic<int> g_forward_signal{0};

void remember_signal(int sig) { g_forward_signal.store(sig); }

// A TCP port nobody listens on now (the kernel's pick), for the rendezvous.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    throw RunError(std::string("--nproc: no socket for a free port: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    throw RunError("--nproc: could not find a free TCP port on 127.0.0.1: " + why);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return "was killed by signal " + std::to_string(sig) + " (" + ::strsignal(sig) + ")";
  }
  return "ended";
}

}  // namespace

void prepare_distributed_doc(json& doc, const DistributedOptions& dist,
                             std::vector<std::string>& notes) {
  if (dist.world_size <= 1) return;
  json* sample = nullptr;
  json* train = nullptr;
  if (doc.contains("stages") && doc["stages"].is_array()) {
    for (auto& s : doc["stages"]) {
      if (!s.is_object()) continue;
      const std::string type = s.value("type", "");
      if (type == "sample") sample = &s;
      if (type == "train_step") train = &s;
    }
  }
  if (!sample || !train) {
    throw UsageError("WORLD_SIZE=" + std::to_string(dist.world_size) +
                     ": only training runs (a spec with sample and train_step stages) run as "
                     "a distributed job; unset WORLD_SIZE (and RANK) for this one");
  }
  auto params = [](json& stage) -> json& {
    if (!stage.contains("params") || !stage["params"].is_object()) stage["params"] = json::object();
    return stage["params"];
  };
  params(*sample)["rank"] = dist.rank;
  params(*sample)["world_size"] = dist.world_size;
  json& d = params(*train)["distributed"];
  if (!d.is_object()) d = json::object();
  d["rank"] = dist.rank;
  d["world_size"] = dist.world_size;
  d["local_rank"] = dist.local_rank;
  d["local_world_size"] = dist.local_world_size;
  d["master_addr"] = dist.master_addr;
  d["master_port"] = dist.master_port;
  notes.push_back("rank " + std::to_string(dist.rank) + " of " + std::to_string(dist.world_size) +
                  " (rendezvous " + dist.master_addr + ":" + std::to_string(dist.master_port) +
                  "); the effective batch is batch_size x gradient_accumulation x " +
                  std::to_string(dist.world_size));
}

void drop_rank0_stages(Spec& spec) {
  std::set<std::string> dropped;
  for (const auto& s : spec.stages) {
    if (kRank0Types.count(s.type)) dropped.insert(s.name);
  }
  spec.stages.erase(std::remove_if(spec.stages.begin(), spec.stages.end(),
                                   [&](const StageDecl& s) { return dropped.count(s.name) > 0; }),
                    spec.stages.end());
  spec.edges.erase(std::remove_if(spec.edges.begin(), spec.edges.end(),
                                  [&](const EdgeDecl& e) {
                                    return dropped.count(e.from.stage) || dropped.count(e.to.stage);
                                  }),
                   spec.edges.end());
}

int launch_local_ranks(int nproc, const std::vector<std::string>& args) {
  const int port = free_port();
  std::vector<pid_t> pids(nproc, -1);
  // The ranks get their own process group, so a Ctrl-C on the terminal reaches the launcher
  // only, which passes each signal on once (a second one to a rank means "exit at once").
  struct sigaction sa {};
  sa.sa_handler = remember_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {
  }, old_term{};
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);
  pid_t group = 0;
  for (int r = 0; r < nproc; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) throw RunError(std::string("--nproc: fork failed: ") + std::strerror(errno));
    if (pid == 0) {
      ::setpgid(0, group);
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a launcher killed with -9 takes its ranks along
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      std::fprintf(stderr, "vsr_flow: --nproc: could not start rank %d: %s\n", r,
                   std::strerror(errno));
      ::_exit(127);
    }
    if (group == 0) group = pid;
    ::setpgid(pid, group);
    pids[r] = pid;
  }
  std::string list;
  for (int r = 0; r < nproc; ++r) list += (r ? ", " : "") + std::to_string(pids[r]);
  std::cerr << "vsr_flow: --nproc " << nproc << ": ranks 0-" << nproc - 1
            << " on 127.0.0.1:" << port << " (pids " << list << ")\n";

  int result = 0;
  std::string failure;
  int running = nproc;
  auto deadline = std::chrono::steady_clock::time_point::max();
  bool terminated = false;
  bool stop_forwarded = false;
  while (running > 0) {
    if (const int sig = g_forward_signal.exchange(0)) {
      stop_forwarded = true;
      for (const pid_t pid : pids) {
        if (pid > 0) ::kill(pid, sig);
      }
    }
    int status = 0;
    const pid_t pid = ::waitpid(-group, &status, WNOHANG);
    if (pid > 0) {
      const int r = static_cast<int>(std::find(pids.begin(), pids.end(), pid) - pids.begin());
      if (r < nproc) pids[r] = -1;
      --running;
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      // After a Ctrl-C the ranks stop after the same step and exit 130: the job's status.
      if (stop_forwarded && WIFEXITED(status) && WEXITSTATUS(status) == 130) {
        if (result == 0) result = 130;
        continue;
      }
      if (!ok && failure.empty()) {
        failure =
            "rank " + std::to_string(r) + " (pid " + std::to_string(pid) + ") " + describe(status);
        result = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
        // The others notice in their next collective; give them that long to end by themselves.
        deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() > deadline) {
      for (const pid_t p : pids) {
        if (p > 0) ::kill(p, terminated ? SIGKILL : SIGTERM);
      }
      deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      terminated = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  if (!failure.empty()) {
    std::cerr << "vsr_flow: --nproc: " << failure
              << "; the job is stopped (every checkpoint written before is intact)\n";
  }
  return result;
}

}  // namespace vsr
