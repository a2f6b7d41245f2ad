// Device choice, intra-op threads and autocast: the one place for device- and
// LibTorch-version-specific calls. LibTorch 1.13 (Debian) has a per-device autocast API
// (at::autocast::set_cpu_enabled, set_autocast_gpu_dtype, ...); 2.4 and later have a
// device-generic one (set_autocast_enabled(device_type, on)). device.cpp picks one with
// TORCH_VERSION_MAJOR/MINOR, so callers never see the difference. The same holds for the key
// of an optimizer's per-parameter state (optimizer_param_state).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace torch::optim {
class Optimizer;
class OptimizerParamState;
}  // namespace torch::optim

namespace vsr {

// The optimizer's state of `param`, or nullptr before its first step. (LibTorch 1.x keys the
// state map by a string made from the TensorImpl's address, 2.x by the TensorImpl pointer.)
torch::optim::OptimizerParamState* optimizer_param_state(torch::optim::Optimizer& optimizer,
                                                         const at::Tensor& param);

// Mixed-precision mode from the config (`mixed_precision: off|bf16|fp16`).
enum class Precision { kOff, kBf16, kFp16 };

// "off" | "bf16" | "fp16" -> Precision; anything else throws ConfigError listing the choices.
Precision parse_precision(const std::string& name);
const char* precision_name(Precision p);

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
