#include "runtime/model/device.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <ATen/ops/empty.h>
#include <torch/cuda.h>
#include <torch/optim/optimizer.h>
#include <torch/version.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <utility>

#include "common/errors.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if VSR_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

// 2.4 made autocast device-generic and deprecated the per-device calls.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define VSR_AUTOCAST_DEVICE_GENERIC 1
#else
#define VSR_AUTOCAST_DEVICE_GENERIC 0
#endif

namespace vsr {

torch::optim::OptimizerParamState* optimizer_param_state(torch::optim::Optimizer& optimizer,
                                                         const at::Tensor& param) {
  auto& states = optimizer.state();
#if TORCH_VERSION_MAJOR >= 2
  const auto it = states.find(param.unsafeGetTensorImpl());
#else
  const auto it = states.find(c10::guts::to_string(param.unsafeGetTensorImpl()));
#endif
  return it == states.end() ? nullptr : it->second.get();
}

void set_optimizer_param_state(torch::optim::Optimizer& optimizer, const at::Tensor& param,
                               std::unique_ptr<torch::optim::OptimizerParamState> state) {
#if TORCH_VERSION_MAJOR >= 2
  optimizer.state()[param.unsafeGetTensorImpl()] = std::move(state);
#else
  optimizer.state()[c10::guts::to_string(param.unsafeGetTensorImpl())] = std::move(state);
#endif
}
namespace {

void apply_autocast_state(const AutocastState& s) {
#if VSR_AUTOCAST_DEVICE_GENERIC
  at::autocast::set_autocast_enabled(at::kCPU, s.cpu_enabled);
  at::autocast::set_autocast_dtype(at::kCPU, s.cpu_dtype);
  at::autocast::set_autocast_enabled(at::kCUDA, s.cuda_enabled);
  at::autocast::set_autocast_dtype(at::kCUDA, s.cuda_dtype);
#else
  at::autocast::set_cpu_enabled(s.cpu_enabled);
  at::autocast::set_autocast_cpu_dtype(s.cpu_dtype);
  at::autocast::set_enabled(s.cuda_enabled);
  at::autocast::set_autocast_gpu_dtype(s.cuda_dtype);
#endif
}

}  // namespace

Precision parse_precision(const std::string& name) {
  if (name == "off") return Precision::kOff;
  if (name == "bf16") return Precision::kBf16;
  if (name == "fp16") return Precision::kFp16;
  throw ConfigError("mixed_precision: expected off, auto, bf16 or fp16, found '" + name + "'");
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kOff:
      return "off";
    case Precision::kBf16:
      return "bf16";
    case Precision::kFp16:
      return "fp16";
  }
  return "?";
}

#if defined(__x86_64__) || defined(__i386__)
// Linux (5.16 on) lets a process use the AMX tile data only after it asks with arch_prctl, which
// oneDNN does too; a sandbox may refuse it. Elsewhere XCR0 alone decides.
bool amx_permitted() {
#if defined(__linux__) && defined(__x86_64__)
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtileData = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtileData) == 0;
#else
  return true;
#endif
}
#endif

std::string cpu_native_bf16() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_max(0, nullptr) < 7) return "";
  __cpuid_count(1, 0, a, b, c, d);
  constexpr unsigned kOsxsave = 1u << 27;
  if ((c & kOsxsave) == 0) return "";
  // XCR0: which register states the OS saves and restores, so may be used.
  std::uint32_t xcr0_lo = 0, xcr0_hi = 0;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  const std::uint64_t xcr0 = (static_cast<std::uint64_t>(xcr0_hi) << 32) | xcr0_lo;
  constexpr std::uint64_t kAvx512State = 0xE6;       // SSE, AVX, opmask, ZMM0-15 high, ZMM16-31
  constexpr std::uint64_t kAmxState = 0x3ull << 17;  // TILECFG, TILEDATA
  __cpuid_count(7, 0, a, b, c, d);
  const unsigned max_subleaf = a;
  const bool amx_bf16 = (d & (1u << 22)) != 0;  // CPUID.(7,0):EDX[22]
  const bool avx512f = (b & (1u << 16)) != 0;   // CPUID.(7,0):EBX[16]
  bool avx512_bf16 = false;
  if (max_subleaf >= 1) {
    __cpuid_count(7, 1, a, b, c, d);
    avx512_bf16 = (a & (1u << 5)) != 0;  // CPUID.(7,1):EAX[5]
  }
  std::string found;
  if (avx512f && avx512_bf16 && (xcr0 & kAvx512State) == kAvx512State) found = "AVX512-BF16";
  if (amx_bf16 && (xcr0 & kAmxState) == kAmxState && amx_permitted()) {
    found += found.empty() ? "AMX-BF16" : ", AMX-BF16";
  }
  return found;
#else
  return "";
#endif
}

std::string onednn_amx_cap() {
  for (const char* name : {"ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"}) {  // oneDNN's order
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') continue;
    std::string isa(value);
    for (char& ch : isa) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (isa == "ALL" || isa == "DEFAULT" || isa.find("AMX") != std::string::npos) return "";
    return std::string(name) + "=" + value;
  }
  return "";
}

PrecisionChoice auto_precision(bool is_cuda, int cuda_major, int cuda_minor,
                               const std::string& cpu_bf16, const std::string& amx_cap) {
  PrecisionChoice c;
  if (is_cuda) {
    c.precision = cuda_major >= 8 ? Precision::kBf16 : Precision::kOff;
    c.why = "compute capability " + std::to_string(cuda_major) + "." + std::to_string(cuda_minor) +
            (cuda_major >= 8 ? ": bf16 is native" : ": bf16 is native from 8.0 (Ampere) on");
  } else if (cpu_bf16.find("AMX-BF16") != std::string::npos) {
    if (amx_cap.empty()) {
      c.precision = Precision::kBf16;
      c.why = "this CPU has " + cpu_bf16;
    } else {
      c.why = "this CPU has " + cpu_bf16 + ", but " + amx_cap +
              " keeps oneDNN off AMX, where bf16 runs slower than float32";
    }
  } else if (!cpu_bf16.empty()) {
    c.why = "this CPU has " + cpu_bf16 + " but not AMX-BF16, where bf16 runs slower than float32";
  } else {
    c.why = "this CPU has neither AVX512-BF16 nor AMX-BF16";
  }
  return c;
}

Precision resolve_precision(const std::string& name, const c10::Device& device, std::string& why) {
  why.clear();
  if (name != "auto") return parse_precision(name);
  int major = 0, minor = 0;
#if VSR_WITH_CUDA
  if (device.is_cuda()) {
    const int index = device.has_index() ? device.index() : c10::cuda::current_device();
    major = at::cuda::getDeviceProperties(index)->major;
    minor = at::cuda::getDeviceProperties(index)->minor;
  }
#endif
  PrecisionChoice c = auto_precision(device.is_cuda(), major, minor,
                                     device.is_cuda() ? "" : cpu_native_bf16(), onednn_amx_cap());
  why = std::move(c.why);
  return c.precision;
}

std::string slow_cpu_bf16(const c10::Device& device, Precision precision,
                          const std::string& cpu_bf16, const std::string& amx_cap) {
  if (!device.is_cpu() || precision != Precision::kBf16) return "";
  const PrecisionChoice c = auto_precision(false, 0, 0, cpu_bf16, amx_cap);
  if (c.precision == Precision::kBf16) return "";
  return "here (" + c.why +
         "): expect it slower than float32, or without AVX-512 a failing convolution; "
         "auto picks float32 here";
}

Precision open_precision(const std::string& stage, const std::string& key, const std::string& name,
                         const c10::Device& device, bool warn) {
  std::string why;
  const Precision precision = resolve_precision(name, device, why);
  if (name == "auto") {
    // Through std::cout, as the console log (train.log) and the muting of ranks > 0 are.
    std::cout << stage << ": " << key << " auto: " << precision_name(precision) << " (" << why
              << ")" << std::endl;
  } else if (warn) {
    const std::string slow = slow_cpu_bf16(device, precision, cpu_native_bf16());
    if (!slow.empty()) std::cerr << stage << ": warning: " << key << " bf16 " << slow << std::endl;
  }
  return precision;
}

bool cuda_available() { return torch::cuda::is_available(); }

c10::Device pick_device(const std::string& name) {
  if (name == "auto") return cuda_available() ? c10::Device(c10::kCUDA) : c10::Device(c10::kCPU);
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    if (!cuda_available()) {
      throw ConfigError("device: '" + name +
                        "' requested but this LibTorch build has no usable CUDA device; use "
                        "device: cpu or auto");
    }
    c10::Device device(name);
    if (device.has_index() && device.index() >= static_cast<int>(torch::cuda::device_count())) {
      throw ConfigError("device: '" + name + "' requested but only " +
                        std::to_string(torch::cuda::device_count()) + " CUDA device(s) exist");
    }
    return device;
  }
  throw ConfigError("device: expected auto, cpu, cuda or cuda:N, found '" + name + "'");
}

bool built_with_cuda() { return VSR_WITH_CUDA != 0; }

void set_cudnn_benchmark(bool on) { at::globalContext().setBenchmarkCuDNN(on); }

void allow_tf32(bool on) {
  at::globalContext().setAllowTF32CuDNN(on);
  at::globalContext().setAllowTF32CuBLAS(on);
}

at::Tensor empty_pinned(at::IntArrayRef sizes, c10::ScalarType dtype) {
  return at::empty(sizes, at::TensorOptions().dtype(dtype).pinned_memory(true));
}

#if VSR_WITH_CUDA
struct DeviceUpload::Pending {
  at::cuda::CUDAEvent copied;
};
#else
struct DeviceUpload::Pending {};
#endif

DeviceUpload::DeviceUpload(std::vector<at::Tensor> host, const c10::Device& device)
    : host_(std::move(host)) {
#if VSR_WITH_CUDA
  if (device.is_cuda()) {
    const c10::cuda::CUDAGuard on_device(device);
    const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, device.index());
    const c10::cuda::CUDAStreamGuard on_side(side);
    for (const auto& t : host_) device_.push_back(t.to(device, /*non_blocking=*/true));
    pending_ = std::make_unique<Pending>();
    pending_->copied.record(side);
    return;
  }
#endif
  for (const auto& t : host_) device_.push_back(t.to(device));
}

DeviceUpload::~DeviceUpload() = default;
DeviceUpload::DeviceUpload(DeviceUpload&&) noexcept = default;
DeviceUpload& DeviceUpload::operator=(DeviceUpload&&) noexcept = default;

std::vector<at::Tensor> DeviceUpload::wait() {
#if VSR_WITH_CUDA
  if (pending_) {
    const c10::cuda::CUDAStream current =
        c10::cuda::getCurrentCUDAStream(device_[0].device().index());
    pending_->copied.block(current);
    // The blocks were allocated on the side stream: tell the caching allocator the current
    // stream uses them too, so it does not hand them out again while its kernels still run.
    for (const auto& t : device_) {
      c10::cuda::CUDACachingAllocator::recordStream(t.storage().data_ptr(), current);
    }
    pending_.reset();
  }
#endif
  host_.clear();
  return std::move(device_);
}

namespace {

// A field of /proc/self/status in kB ("VmHWM:   123 kB"), as bytes; 0 when absent.
std::int64_t proc_status_bytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1)) * 1024;
  }
  return 0;
}

}  // namespace

std::int64_t peak_memory_bytes(const c10::Device& device) {
#if VSR_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(
        device.has_index() ? device.index() : c10::cuda::current_device());
    return stats.allocated_bytes[0].peak;  // StatType::AGGREGATE
  }
#endif
  return device.is_cpu() ? proc_status_bytes("VmHWM") : 0;
}

void reset_peak_memory(const c10::Device& device) {
#if VSR_WITH_CUDA
  if (device.is_cuda()) {
    c10::cuda::CUDACachingAllocator::resetPeakStats(
        device.has_index() ? device.index() : c10::cuda::current_device());
    return;
  }
#endif
  // Linux: "5" resets the peak resident set (VmHWM) to the current one.
  if (device.is_cpu()) std::ofstream("/proc/self/clear_refs") << "5";
}

bool is_out_of_memory(const std::exception& e) {
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr) return true;
  // LibTorch 1.x reports a failed host allocation as a plain c10::Error ("DefaultCPUAllocator:
  // can't allocate memory" or "... not enough memory").
  const auto* error = dynamic_cast<const c10::Error*>(&e);
  return error != nullptr && error->msg().find("DefaultCPUAllocator: ") != std::string::npos;
}

std::string error_first_line(const std::exception& e) {
  const auto* error = dynamic_cast<const c10::Error*>(&e);
  const std::string text = error ? error->msg() : e.what();
  return text.substr(0, text.find('\n'));
}

int set_threads(int n) {
  if (n < 0)
    throw ConfigError("threads: expected 0 (all cores) or more, found " + std::to_string(n));
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  at::set_num_threads(n);
  return n;
}

void synchronize(const c10::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.has_index() ? device.index() : -1);
}

AutocastState current_autocast_state() {
  AutocastState s;
#if VSR_AUTOCAST_DEVICE_GENERIC
  s.cpu_enabled = at::autocast::is_autocast_enabled(at::kCPU);
  s.cpu_dtype = at::autocast::get_autocast_dtype(at::kCPU);
  s.cuda_enabled = at::autocast::is_autocast_enabled(at::kCUDA);
  s.cuda_dtype = at::autocast::get_autocast_dtype(at::kCUDA);
#else
  s.cpu_enabled = at::autocast::is_cpu_enabled();
  s.cpu_dtype = at::autocast::get_autocast_cpu_dtype();
  s.cuda_enabled = at::autocast::is_enabled();
  s.cuda_dtype = at::autocast::get_autocast_gpu_dtype();
#endif
  return s;
}

// Nested like AutocastGuard: weight casts cached inside (e.g. by a checkpoint recompute in
// backward) are dropped on the outermost exit, before the optimizer changes the weights.
ScopedAutocastState::ScopedAutocastState(const AutocastState& state)
    : previous_(current_autocast_state()) {
  apply_autocast_state(state);
  at::autocast::increment_nesting();
}

ScopedAutocastState::~ScopedAutocastState() {
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  apply_autocast_state(previous_);
}

AutocastGuard::AutocastGuard(const c10::Device& device, Precision mode) {
  if (mode == Precision::kOff) return;
  if (!device.is_cpu() && !device.is_cuda()) {
    throw ConfigError("mixed_precision: autocast supports cpu and cuda devices, found '" +
                      device.str() + "'");
  }
  if (mode == Precision::kFp16 && !device.is_cuda()) {
    throw ConfigError("mixed_precision: fp16 needs a CUDA device, found device '" + device.str() +
                      "'; use mixed_precision: bf16 on CPU (or off)");
  }
  previous_ = current_autocast_state();
  AutocastState next = previous_;
  const c10::ScalarType dtype = mode == Precision::kFp16 ? c10::kHalf : c10::kBFloat16;
  if (device.is_cpu()) {
    next.cpu_enabled = true;
    next.cpu_dtype = dtype;
  } else {
    next.cuda_enabled = true;
    next.cuda_dtype = dtype;
  }
  apply_autocast_state(next);
  at::autocast::increment_nesting();
  active_ = true;
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  // As Python's autocast.__exit__: the outermost exit drops the cached weight casts.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  apply_autocast_state(previous_);
}

}  // namespace vsr
