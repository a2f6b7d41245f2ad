// Optimisation pieces of the train step, free of any graph knowledge: losses, the learning
// rate schedule, the optimizer factory with a separate flow-estimator group, gradient
// clipping, an exponential moving average of the weights and dynamic loss scaling for fp16.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/outputs/checkpoint.h"

namespace vsr {

enum class LossKind { kCharbonnier, kL1 };

// "charbonnier" | "l1"; anything else throws ConfigError.
LossKind parse_loss(const std::string& name);

// mean(sqrt((pred - target)^2 + eps^2)), computed in float32.
torch::Tensor charbonnier_loss(const torch::Tensor& pred, const torch::Tensor& target,
                               double eps = 1e-3);
// mean(|pred - target|), computed in float32.
torch::Tensor l1_loss(const torch::Tensor& pred, const torch::Tensor& target);
torch::Tensor compute_loss(LossKind kind, const torch::Tensor& pred, const torch::Tensor& target);

enum class ScheduleKind { kCosine, kConstant };

// "cosine" | "constant"; anything else throws ConfigError.
ScheduleKind parse_schedule(const std::string& name);

struct LrSchedule {
  double lr = 2e-4;           // peak learning rate
  int64_t warmup_steps = 0;   // linear warmup length; 0 = none
  int64_t total_steps = 1;    // cosine reaches the floor here
  double min_lr_ratio = 0.0;  // floor = min_lr_ratio * lr
  ScheduleKind kind = ScheduleKind::kCosine;
  double time_budget_s = 0;  // > 0: the cosine also reaches the floor after this much training
};

// Learning rate of the optimizer update with 0-based index `step` (the update that makes
// step + 1 steps taken). Warmup (both kinds): lr * (step + 1) / warmup_steps while
// step < warmup_steps. Then cosine: floor + (lr - floor) * (1 + cos(pi * p)) / 2 with
// p = (step - warmup_steps) / (total_steps - warmup_steps) clamped to [0, 1], so it is lr
// right after warmup and the floor from total_steps on; constant: lr.
// Example: lr 1e-3, warmup 10, total 110, ratio 0.1: step 0 -> 1e-4, 9 -> 1e-3,
// 60 -> 5.5e-4, 110 -> 1e-4.
// With a time budget, p is the larger of that and elapsed_s / time_budget_s (the seconds
// trained so far), so the decay fits whichever limit the run reaches first.
double learning_rate_at(const LrSchedule& schedule, int64_t step, double elapsed_s = 0);

enum class OptimizerKind { kAdam, kAdamW };

// "adam" | "adamw" (case-insensitive); anything else throws ConfigError.
OptimizerKind parse_optimizer(const std::string& name);

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::kAdamW;
  double lr = 2e-4;
  double beta1 = 0.9;
  double beta2 = 0.99;
  double weight_decay = 0.0;  // Adam: L2 added to the gradient; AdamW: decoupled
  double eps = 1e-8;
  double flow_lr_mult = 1.0;  // flow group lr = lr * flow_lr_mult
};

// An Adam/AdamW optimizer with two parameter groups: group 0 = `params` (lr), group 1 =
// `flow_params` (lr * flow_lr_mult). Use with VSRNet's other_parameters() and
// flow_parameters().
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerConfig& config,
                                                        std::vector<torch::Tensor> params,
                                                        std::vector<torch::Tensor> flow_params);

// Sets group 0's lr to `lr` and every further group's to lr * flow_lr_mult.
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr, double flow_lr_mult);

// Learning rate of parameter group `group`.
double learning_rate(const torch::optim::Optimizer& optimizer, size_t group = 0);

// Freezes (requires_grad false, .grad dropped) or unfreezes parameters, e.g. the flow
// estimator during its first flow_freeze_steps. Adam skips parameters without a gradient,
// so frozen parameters keep their values and their optimizer state.
void set_frozen(const std::vector<torch::Tensor>& params, bool frozen);

// Global L2 norm of the gradients of `params` (those with one), before clipping. If
// max_norm > 0 and the norm is finite and above max_norm, scales the gradients down to
// max_norm. A non-finite norm is returned as is and nothing is scaled.
double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

// Exponential moving average of a module's parameters and floating buffers:
// shadow = decay * shadow + (1 - decay) * current, after each optimizer step. Other buffers
// are copied. The shadow has the module's devices and dtypes (float32 master weights).
class Ema {
 public:
  // Starts the shadow at the module's current weights. decay in [0, 1).
  Ema(const torch::nn::Module& module, double decay);

  void update(const torch::nn::Module& module);
  // Writes the shadow weights into `module` (same architecture), e.g. before validation or
  // into a copy that is checkpointed.
  void copy_to(torch::nn::Module& module) const;
  // Name -> shadow tensor, in the module's named_parameters() then named_buffers() order.
  const torch::OrderedDict<std::string, torch::Tensor>& state() const { return shadow_; }
  // Replaces the shadow (e.g. from a checkpoint); names and shapes must match.
  void load(const torch::OrderedDict<std::string, torch::Tensor>& state);
  double decay() const { return decay_; }
  int64_t num_updates() const { return num_updates_; }

 private:
  double decay_;
  int64_t num_updates_ = 0;
  torch::OrderedDict<std::string, torch::Tensor> shadow_;
};

struct LossScalerOptions {
  bool enabled = true;
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
};

// Dynamic loss scaling for fp16 (Python's GradScaler): multiply the loss by scale() before
// backward, then per optimizer step
//   scaler.unscale(params);                      // once, after all micro-batches
//   clip_grad_norm(params, max_norm);             // on true gradients
//   bool stepped = scaler.step(optimizer);        // skipped if any gradient is inf/nan
//   scaler.update();                              // backoff on inf, growth after interval
// Disabled (bf16 / fp32): scale 1, never skips, update does nothing.
class LossScaler {
 public:
  explicit LossScaler(const LossScalerOptions& options = {});

  torch::Tensor scale(const torch::Tensor& loss) const;
  // Divides the gradients of `params` by the scale in place and records whether any is
  // non-finite. Returns true when all are finite. Idempotent until update().
  bool unscale(const std::vector<torch::Tensor>& params);
  // Steps the optimizer unless unscale found a non-finite gradient (unscales the
  // optimizer's parameters first if unscale was not called). Returns whether it stepped.
  bool step(torch::optim::Optimizer& optimizer);
  // Adjusts the scale after a step: backoff if it was skipped, growth after
  // growth_interval clean steps in a row.
  void update();

  double current_scale() const { return scale_; }
  bool enabled() const { return options_.enabled; }
  // Whether the last unscale found a non-finite gradient; cleared by update().
  bool found_inf() const { return found_inf_; }
  int64_t growth_tracker() const { return growth_tracker_; }
  // Checkpoint state: the scale and the clean-step counter.
  void load(double scale, int64_t growth_tracker);

 private:
  LossScalerOptions options_;
  double scale_;
  int64_t growth_tracker_ = 0;
  bool unscaled_ = false;
  bool found_inf_ = false;
};

// The training state to snapshot or checkpoint: CPU float copies of `model`'s parameters and
// of the EMA shadow (when `ema` is given), and `optimizer`'s Adam/AdamW state by parameter index
// ("state.<i>.exp_avg", "state.<i>.exp_avg_sq", "state.<i>.step"). Fills the weights and the
// optimizer fields of CheckpointData; step, architecture and config are the caller's.
CheckpointData capture_training_state(torch::nn::Module& model, const Ema* ema,
                                      torch::optim::Optimizer& optimizer);

// The inverse of capture_training_state, for --resume: copies `c`'s weights into `model`, its
// EMA weights into `ema` (when given) and its Adam/AdamW state into `optimizer`, whose
// parameters must be `model`'s in the same order. Every name and shape must match; throws
// DataError starting with `what` (e.g. "--resume checkpoints/x.pth") otherwise.
void restore_training_state(const CheckpointData& c, torch::nn::Module& model, Ema* ema,
                            torch::optim::Optimizer& optimizer, const std::string& what);

}  // namespace vsr
