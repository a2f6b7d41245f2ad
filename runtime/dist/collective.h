// Data-parallel training across processes on PyTorch's c10d: a TCP store for the rendezvous
// (rank 0 hosts it at MASTER_ADDR:MASTER_PORT) and a process group: Gloo on the CPU (Debian's
// LibTorch 1.13 with Debian's gloo), NCCL on CUDA (a CUDA LibTorch 2.x with nccl.h; compiled,
// and not run here: no machine with two GPUs). What train_step needs of it: rank 0's weights
// broadcast at the start, the gradients averaged in buckets before every optimizer step, a few
// numbers (the loss, the stop flag) agreed on.
//
//   DistributedOptions o = distributed_options_from_env();   // RANK, WORLD_SIZE, ... (torchrun)
//   Collective c(o, "gloo", c10::Device(c10::kCPU));
//   c.broadcast_from_rank0(params);
//   c.average(grads);                                           // in place, sum / world_size
//
// A rank that dies or stops answering ends every collective of the others with a RunError
// naming it within `timeout_s`: each rank writes a heartbeat to the store every second, and a
// failed collective reads them.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vsr {

struct DistributedOptions {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;        // the device index on this machine
  int local_world_size = 1;  // ranks on this machine (threads are shared out among them)
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  double timeout_s = 300;  // a collective or the rendezvous that takes longer fails
};

// The job torchrun (or `vsr_flow run --nproc`, or a cluster launcher) describes in RANK,
// WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; world_size 1 when WORLD_SIZE is unset.
// Throws UsageError naming the variable when one is set to something else than expected.
DistributedOptions distributed_options_from_env();

// Whether this build has the backend ("gloo", "nccl").
bool backend_available(const std::string& backend);

class Collective {
 public:
  // Joins the job: connects to (rank 0: starts) the store and builds the process group;
  // `device` is where the tensors of its collectives live (the CPU for Gloo, the rank's GPU for
  // NCCL). Throws RunError when the rendezvous does not complete within timeout_s.
  Collective(const DistributedOptions& options, const std::string& backend, c10::Device device);
  ~Collective();
  Collective(const Collective&) = delete;
  Collective& operator=(const Collective&) = delete;

  int rank() const { return options_.rank; }
  int world_size() const { return options_.world_size; }
  const std::string& backend() const { return backend_; }

  // Rank 0's values into every rank's tensors, in place.
  void broadcast_from_rank0(const std::vector<at::Tensor>& tensors);
  // Every tensor becomes the mean over the ranks, in place. The tensors are flattened into
  // buckets of about `bucket_bytes` (one all-reduce each, all in flight at once) and copied
  // back. Returns the seconds spent.
  double average(const std::vector<at::Tensor>& tensors);
  // The ranks' sums of `values` (float64).
  std::vector<double> sum(const std::vector<double>& values);

  static constexpr std::int64_t kBucketBytes = 25 << 20;  // DDP's default bucket_cap_mb

 private:
  struct Impl;
  [[noreturn]] void fail(const std::string& what, const std::exception& e);

  DistributedOptions options_;
  std::string backend_;
  c10::Device device_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vsr
