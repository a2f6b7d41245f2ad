#include "runtime/dist/collective.h"

#include <ATen/ATen.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "common/errors.h"

#if VSR_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if VSR_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#if VSR_WITH_GLOO || VSR_WITH_NCCL
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace vsr {
namespace {

int env_int(const char* name, int fallback, int min, int max) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < min || n > max) {
    throw UsageError(std::string(name) + "=" + v + ": expected an integer in [" +
                     std::to_string(min) + ", " + std::to_string(max) +
                     "] (the distributed job's environment, as torchrun sets it)");
  }
  return static_cast<int>(n);
}

}  // namespace

DistributedOptions distributed_options_from_env() {
  DistributedOptions o;
  o.world_size = env_int("WORLD_SIZE", 1, 1, 65536);
  if (o.world_size == 1) return o;
  if (!std::getenv("RANK")) {
    throw UsageError("WORLD_SIZE=" + std::to_string(o.world_size) +
                     " is set but RANK is not: a distributed job needs RANK (0 .. WORLD_SIZE-1), "
                     "MASTER_ADDR and MASTER_PORT too (torchrun sets them all)");
  }
  o.rank = env_int("RANK", 0, 0, o.world_size - 1);
  o.local_rank = env_int("LOCAL_RANK", 0, 0, 65535);
  o.local_world_size = env_int("LOCAL_WORLD_SIZE", 1, 1, 65536);
  const char* addr = std::getenv("MASTER_ADDR");
  if (!addr || !*addr) {
    throw UsageError(
        "MASTER_ADDR is not set: the distributed job (WORLD_SIZE=" + std::to_string(o.world_size) +
        ") needs the address of rank 0's machine in MASTER_ADDR and a free port "
        "there in MASTER_PORT");
  }
  o.master_addr = addr;
  if (!std::getenv("MASTER_PORT")) {
    throw UsageError("MASTER_PORT is not set: the distributed job needs a free TCP port on " +
                     o.master_addr + " for its rendezvous");
  }
  o.master_port = env_int("MASTER_PORT", 29500, 1, 65535);
  return o;
}

bool backend_available(const std::string& backend) {
#if VSR_WITH_GLOO
  if (backend == "gloo") return true;
#endif
#if VSR_WITH_NCCL
  if (backend == "nccl") return true;
#endif
  (void)backend;
  return false;
}

#if VSR_WITH_GLOO || VSR_WITH_NCCL

// The build has one backend: Gloo with Debian's LibTorch 1.13, NCCL with a CUDA LibTorch 2.x.
#if VSR_WITH_GLOO
using Group = c10d::ProcessGroupGloo;
constexpr const char* kBuildBackend = "gloo";
#else
using Group = c10d::ProcessGroupNCCL;
constexpr const char* kBuildBackend = "nccl";
#endif

struct Collective::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<Group> group;
  // Heartbeats: a store connection of its own, bumped every second by a thread that shares
  // this state, so the destructor can let it go (detach) instead of waiting out a store call
  // that hangs.
  struct Beat {
    c10::intrusive_ptr<c10d::TCPStore> store;
    std::mutex mu;
    std::condition_variable cv;
    bool stopping = false;
    bool done = false;  // the thread has returned
  };
  std::shared_ptr<Beat> beat = std::make_shared<Beat>();
  std::thread beat_thread;
};

Collective::Collective(const DistributedOptions& options, const std::string& backend,
                       c10::Device device)
    : options_(options), backend_(backend), device_(device), impl_(std::make_unique<Impl>()) {
  if (backend != kBuildBackend) {
    throw RunError("DISTRIBUTED.backend " + backend + " is not in this build (it has " +
                   kBuildBackend + ")");
  }
  const auto timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(options.timeout_s * 1e3));
  const std::string where = options.master_addr + ":" + std::to_string(options.master_port);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(options.master_port);
    so.isServer = options.rank == 0;
    so.numWorkers = options.world_size;
    so.waitWorkers = true;
    so.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(options.master_addr, so);
    so.isServer = false;
    so.waitWorkers = false;
    so.numWorkers = c10::nullopt;
    impl_->beat->store = c10::make_intrusive<c10d::TCPStore>(options.master_addr, so);
  } catch (const std::exception& e) {
    throw RunError("rank " + std::to_string(options.rank) + " of " +
                   std::to_string(options.world_size) + ": the rendezvous at " + where +
                   " did not complete within " + std::to_string(options.timeout_s) +
                   " s (DISTRIBUTED.timeout_s): " + e.what() +
                   "; check that every rank was started with the same MASTER_ADDR, MASTER_PORT "
                   "and WORLD_SIZE, and that rank 0 can listen on that port");
  }
#if VSR_WITH_GLOO
  try {
    auto go = c10d::ProcessGroupGloo::Options::create(timeout);
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
      go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (options.master_addr == "127.0.0.1" || options.master_addr == "localhost") {
      go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    go->threads = 2;
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, options.rank,
                                                               options.world_size, go);
  } catch (const std::exception& e) {
    throw RunError("rank " + std::to_string(options.rank) + ": the Gloo process group (" + where +
                   ") could not be formed: " + e.what() +
                   "; on a machine with several network interfaces set GLOO_SOCKET_IFNAME to the "
                   "one the ranks reach each other on");
  }
#else
  try {
    auto no = c10d::ProcessGroupNCCL::Options::create();
    no->timeout = timeout;
    impl_->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, options.rank,
                                                               options.world_size, no);
  } catch (const std::exception& e) {
    throw RunError("rank " + std::to_string(options.rank) + ": the NCCL process group (" + where +
                   ") could not be formed: " + e.what());
  }
#endif
  impl_->beat_thread = std::thread([beat = impl_->beat, rank = options_.rank] {
    const std::string key = "vsr_flow/heartbeat/" + std::to_string(rank);
    auto finish = [&] {
      std::lock_guard<std::mutex> lock(beat->mu);
      beat->done = true;
      beat->cv.notify_all();
    };
    while (true) {
      try {
        beat->store->add(key, 1);  // not under the lock: it may take up to the store's timeout
      } catch (const std::exception&) {
        return finish();  // the store is gone (rank 0 ended); a collective reports it
      }
      std::unique_lock<std::mutex> lock(beat->mu);
      if (beat->cv.wait_for(lock, std::chrono::seconds(1), [&] { return beat->stopping; })) {
        beat->done = true;
        beat->cv.notify_all();
        return;
      }
    }
  });
}

Collective::~Collective() {
  std::unique_lock<std::mutex> lock(impl_->beat->mu);
  impl_->beat->stopping = true;
  impl_->beat->cv.notify_all();
  // The thread ends at once unless a store call hangs; then it is let go (it owns what it
  // uses) rather than waited for.
  const bool done =
      impl_->beat->cv.wait_for(lock, std::chrono::seconds(2), [&] { return impl_->beat->done; });
  lock.unlock();
  if (done) {
    impl_->beat_thread.join();
  } else {
    impl_->beat_thread.detach();
  }
}

void Collective::fail(const std::string& what, const std::exception& e) {
  // Which ranks stopped beating: two readings of every counter, 2.5 s apart.
  std::string who;
  try {
    std::vector<std::int64_t> first(options_.world_size);
    for (int r = 0; r < options_.world_size; ++r) {
      first[r] = impl_->beat->store->add("vsr_flow/heartbeat/" + std::to_string(r), 0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    for (int r = 0; r < options_.world_size; ++r) {
      if (r == options_.rank) continue;
      if (impl_->beat->store->add("vsr_flow/heartbeat/" + std::to_string(r), 0) == first[r]) {
        who += (who.empty() ? "" : ", ") + std::to_string(r);
      }
    }
    who = who.empty()                          ? "every other rank is alive and one is slower than "
                                                 "DISTRIBUTED.timeout_s allows (raise it)"
          : who.find(',') == std::string::npos ? "rank " + who + " died or hangs"
                                               : "ranks " + who + " died or hang";
  } catch (const std::exception&) {
    who = "rank 0, which holds the rendezvous store, is gone";
  }
  throw RunError("rank " + std::to_string(options_.rank) + " of " +
                 std::to_string(options_.world_size) + ": " + what + " failed: " + who + " (" +
                 e.what() +
                 "); the job stops; checkpoints written before are intact, continue "
                 "with --resume auto");
}

void Collective::broadcast_from_rank0(const std::vector<at::Tensor>& tensors) {
  try {
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    std::vector<std::vector<at::Tensor>> holders;
    holders.reserve(tensors.size());
    for (const auto& t : tensors) {
      holders.push_back({t});
      c10d::BroadcastOptions bo;
      bo.rootRank = 0;
      works.push_back(impl_->group->broadcast(holders.back(), bo));
    }
    for (auto& w : works) w->wait();
  } catch (const std::exception& e) {
    fail("broadcasting rank 0's weights", e);
  }
}

double Collective::average(const std::vector<at::Tensor>& tensors) {
  const auto start = std::chrono::steady_clock::now();
  try {
    // Consecutive tensors of one dtype, up to kBucketBytes, flattened into one buffer each.
    struct Bucket {
      std::vector<at::Tensor> parts;
      std::vector<at::Tensor> flat;
      c10::intrusive_ptr<c10d::Work> work;
    };
    std::vector<Bucket> buckets;
    std::int64_t bytes = 0;
    for (const auto& t : tensors) {
      const std::int64_t b = t.numel() * static_cast<std::int64_t>(t.element_size());
      if (buckets.empty() || bytes + b > kBucketBytes ||
          buckets.back().parts.front().scalar_type() != t.scalar_type()) {
        buckets.emplace_back();
        bytes = 0;
      }
      buckets.back().parts.push_back(t);
      bytes += b;
    }
    for (auto& bucket : buckets) {
      std::vector<at::Tensor> flat;
      for (const auto& p : bucket.parts) flat.push_back(p.reshape(-1));
      bucket.flat = {at::cat(flat)};
      bucket.work = impl_->group->allreduce(bucket.flat);  // sum
    }
    for (auto& bucket : buckets) {
      bucket.work->wait();
      at::Tensor& flat = bucket.flat[0];
      flat.div_(options_.world_size);
      std::int64_t offset = 0;
      for (auto& p : bucket.parts) {
        p.copy_(flat.narrow(0, offset, p.numel()).view_as(p));
        offset += p.numel();
      }
    }
  } catch (const std::exception& e) {
    fail("averaging the gradients", e);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<double> Collective::sum(const std::vector<double>& values) {
  std::vector<at::Tensor> t = {at::tensor(values, at::TensorOptions().dtype(at::kDouble)).clone()};
  try {
    impl_->group->allreduce(t)->wait();
  } catch (const std::exception& e) {
    fail("agreeing on the step's loss and stop flag", e);
  }
  const at::Tensor& r = t[0];
  return std::vector<double>(r.data_ptr<double>(), r.data_ptr<double>() + r.numel());
}

#else  // no c10d backend in this build

struct Collective::Impl {};

Collective::Collective(const DistributedOptions& options, const std::string& backend,
                       c10::Device device)
    : options_(options), backend_(backend), device_(device) {
  throw RunError("this build of vsr_flow has no c10d backend (" + backend +
                 " asked for): multi-process training needs the build against Debian's LibTorch "
                 "(Gloo, with libgloo-dev) or a CUDA LibTorch 2.x with nccl.h (NCCL)");
}
Collective::~Collective() = default;
void Collective::fail(const std::string& what, const std::exception& e) {
  throw RunError(what + ": " + e.what());
}
void Collective::broadcast_from_rank0(const std::vector<at::Tensor>&) {}
double Collective::average(const std::vector<at::Tensor>&) { return 0; }
std::vector<double> Collective::sum(const std::vector<double>& values) { return values; }

#endif

}  // namespace vsr
