// Device choice, intra-op threads, autocast, streams and device memory: the one place for
// device- and LibTorch-version-specific calls. CUDA-only calls (streams, events, the caching
// allocator's statistics) are compiled when LibTorch was built with CUDA (VSR_WITH_CUDA, set
// by CMake for this file only); without it they are the CPU's no-ops. LibTorch 1.13 (Debian) has a
// per-device autocast API (at::autocast::set_cpu_enabled, set_autocast_gpu_dtype, ...); 2.4 and
// later have a device-generic one (set_autocast_enabled(device_type, on)). device.cpp picks one
// with TORCH_VERSION_MAJOR/MINOR, so callers never see the difference. The same holds for the key
// of an optimizer's per-parameter state (optimizer_param_state).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace torch::optim {
class Optimizer;
class OptimizerParamState;
}  // namespace torch::optim

namespace vsr {

// The optimizer's state of `param`, or nullptr before its first step. (LibTorch 1.x keys the
// state map by a string made from the TensorImpl's address, 2.x by the TensorImpl pointer.)
torch::optim::OptimizerParamState* optimizer_param_state(torch::optim::Optimizer& optimizer,
                                                         const at::Tensor& param);

// Sets (replaces) the optimizer's state of `param`, e.g. from a checkpoint.
void set_optimizer_param_state(torch::optim::Optimizer& optimizer, const at::Tensor& param,
                               std::unique_ptr<torch::optim::OptimizerParamState> state);

// Mixed-precision mode from the config (`mixed_precision: off|bf16|fp16`; `auto` resolves to one
// of them on the device, resolve_precision).
enum class Precision { kOff, kBf16, kFp16 };

// "off" | "bf16" | "fp16" -> Precision; anything else throws ConfigError listing the choices.
Precision parse_precision(const std::string& name);
const char* precision_name(Precision p);

// The native bf16 instructions of this CPU that the OS has enabled (and, for AMX, lets this
// process use): "AVX512-BF16", "AMX-BF16", both ("AVX512-BF16, AMX-BF16") or "" (none, or not an
// x86 CPU).
std::string cpu_native_bf16();

// What `mixed_precision: auto` picks, and why in words.
struct PrecisionChoice {
  Precision precision = Precision::kOff;
  std::string why;  // e.g. "this CPU has AVX512-BF16, AMX-BF16"
};

// When ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA) holds oneDNN to an instruction set without AMX
// (e.g. AVX512_CORE_BF16): "ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16"; "" when unset, ALL, DEFAULT
// or an AMX set.
std::string onednn_amx_cap();

// auto on a device: bf16 where it pays, otherwise off. On a CPU that is where `cpu_bf16`
// (cpu_native_bf16()) has AMX-BF16: with AVX512-BF16 alone LibTorch's oneDNN ran the demo's step
// in bf16 at 0.77x its float32 speed, and without either it emulates bf16 (0.33x with AVX-512,
// no bf16 convolution at all with AVX2 in LibTorch 1.13; tests/bench/README.md). On CUDA it is
// compute capability 8.0 (Ampere) on. Never fp16: it needs loss scaling and can overflow, so it
// is only used when asked for. `cuda_major`/`cuda_minor`: the device's capability when is_cuda;
// `amx_cap` (onednn_amx_cap()) not empty: oneDNN may not use AMX, so it does not count.
PrecisionChoice auto_precision(bool is_cuda, int cuda_major, int cuda_minor,
                               const std::string& cpu_bf16,
                               const std::string& amx_cap = onednn_amx_cap());

// A precision name of the config resolved on `device`: "auto" through auto_precision (with its
// reason in `why`), anything else through parse_precision (`why` left empty).
Precision resolve_precision(const std::string& name, const c10::Device& device, std::string& why);

// resolve_precision for a stage opening on `device`, saying what it chose: "auto" prints
// "<stage>: <key> auto: bf16 (<why>)" on std::cout; bf16 named where auto would not pick it
// prints "<stage>: warning: <key> bf16 <slow_cpu_bf16>" on std::cerr when `warn` (false on the
// ranks whose console is muted, so it is said once).
Precision open_precision(const std::string& stage, const std::string& key, const std::string& name,
                         const c10::Device& device, bool warn = true);

// For bf16 asked for by name on a CPU where auto would not pick it: why it runs slowly there
// (or fails: LibTorch 1.13's oneDNN has no bf16 convolution without AVX-512), to follow
// "mixed_precision bf16" in a warning; "" elsewhere. `cpu_bf16`: cpu_native_bf16().
std::string slow_cpu_bf16(const c10::Device& device, Precision precision,
                          const std::string& cpu_bf16,
                          const std::string& amx_cap = onednn_amx_cap());

// "auto" (CUDA when available, else CPU) | "cpu" | "cuda" | "cuda:N". Throws ConfigError
// when CUDA is requested and unavailable, or for an unknown name.
c10::Device pick_device(const std::string& name);

// Whether this LibTorch build can run on a CUDA device right now.
bool cuda_available();

// Sets LibTorch's intra-op threads; n = 0 means all cores. Returns the number set.
// (LibTorch defaults to 1 thread on these machines; see DESIGN.md "Gotchas".)
int set_threads(int n);

// Waits for queued device work (CUDA); a no-op on CPU. Use before reading a timer.
void synchronize(const c10::Device& device);

// Whether this build was compiled with CUDA (VSR_WITH_CUDA), device or not.
bool built_with_cuda();

// cuDNN's autotuner (torch.backends.cudnn.benchmark): picks the fastest convolution algorithm
// per input shape, worth it when patch sizes repeat (each format's size is fixed).
void set_cudnn_benchmark(bool on);

// TensorFloat-32 in cuDNN convolutions and cuBLAS matrix products (Ampere and later: faster,
// about 1e-3 relative error). LibTorch's defaults: on for cuDNN, off for cuBLAS.
void allow_tf32(bool on);

// Empty host memory of `sizes` and `dtype`, page-locked (pinned) so that a copy to a CUDA
// device can run asynchronously. Needs a CUDA build with a device; LibTorch caches these
// blocks (its CachingHostAllocator), so taking one per micro-batch is cheap.
at::Tensor empty_pinned(at::IntArrayRef sizes, c10::ScalarType dtype);

// Tensors copied to `device` on a side stream (CUDA), so the copy overlaps the work already
// queued on the current stream; on the CPU, or for tensors already there, the tensors
// themselves. Start it one micro-batch ahead; wait() makes the current stream wait on the
// copy's event and hands the device tensors over.
//   DeviceUpload next({mb.lr, mb.gt}, device);   // ... compute the previous micro-batch ...
//   auto tensors = next.wait();
class DeviceUpload {
 public:
  DeviceUpload() = default;
  DeviceUpload(std::vector<at::Tensor> host, const c10::Device& device);
  ~DeviceUpload();
  DeviceUpload(DeviceUpload&&) noexcept;
  DeviceUpload& operator=(DeviceUpload&&) noexcept;
  std::vector<at::Tensor> wait();

 private:
  struct Pending;
  std::vector<at::Tensor> host_;
  std::vector<at::Tensor> device_;
  std::unique_ptr<Pending> pending_;  // the CUDA event; null on the CPU
};

// Peak memory of `device` since the last reset_peak_memory: bytes held by tensors on a CUDA
// device (the caching allocator's peak, torch.cuda.max_memory_allocated), or for the CPU the
// process' peak resident set. 0 when unknown.
std::int64_t peak_memory_bytes(const c10::Device& device);
void reset_peak_memory(const c10::Device& device);

// Whether `e` is LibTorch's out-of-memory error: c10::OutOfMemoryError (CUDA's caching
// allocator; a failed host allocation in 2.x), or 1.x's c10::Error for a failed host one.
bool is_out_of_memory(const std::exception& e);

// The first line of e's message: for LibTorch's c10::Error its message without the C++
// backtrace LibTorch appends.
std::string error_first_line(const std::exception& e);

// The thread-local autocast flags and dtypes of CPU and CUDA, as a value. Gradient
// checkpointing captures it in forward and re-applies it when recomputing in backward.
struct AutocastState {
  bool cpu_enabled = false;
  bool cuda_enabled = false;
  c10::ScalarType cpu_dtype = c10::kBFloat16;
  c10::ScalarType cuda_dtype = c10::kHalf;
};
AutocastState current_autocast_state();

// RAII: applies an AutocastState for the scope and restores the previous one; the
// outermost autocast scope's exit clears autocast's cache of weight casts.
class ScopedAutocastState {
 public:
  explicit ScopedAutocastState(const AutocastState& state);
  ~ScopedAutocastState();
  ScopedAutocastState(const ScopedAutocastState&) = delete;
  ScopedAutocastState& operator=(const ScopedAutocastState&) = delete;

 private:
  AutocastState previous_;
};

// RAII: runs the scope under autocast for `device` in `mode` (kOff: no change), like
// Python's `with torch.autocast(device_type, dtype)`. Put only the forward pass and the
// loss inside; backward runs outside. fp16 is CUDA-only: on CPU it throws ConfigError.
//   { AutocastGuard ac(device, Precision::kBf16); loss = loss_fn(model(lr), gt); }
class AutocastGuard {
 public:
  AutocastGuard(const c10::Device& device, Precision mode);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  AutocastState previous_;
};

}  // namespace vsr
