#include "runtime/model/optim.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <type_traits>
#include <utility>

#include "common/errors.h"
#include "runtime/model/device.h"
#include "runtime/model/model.h"

namespace vsr {
namespace {

constexpr double kPi = 3.14159265358979323846;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}

template <typename Options>
std::unique_ptr<torch::optim::Optimizer> make_adam_like(const OptimizerConfig& config,
                                                        std::vector<torch::Tensor> params,
                                                        std::vector<torch::Tensor> flow_params) {
  using OptimizerT = std::conditional_t<std::is_same_v<Options, torch::optim::AdamOptions>,
                                        torch::optim::Adam, torch::optim::AdamW>;
  auto options = [&](double lr) {
    return std::make_unique<Options>(Options(lr)
                                         .betas(std::make_tuple(config.beta1, config.beta2))
                                         .weight_decay(config.weight_decay)
                                         .eps(config.eps));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::move(params), options(config.lr));
  if (!flow_params.empty()) {
    groups.emplace_back(std::move(flow_params), options(config.lr * config.flow_lr_mult));
  }
  return std::make_unique<OptimizerT>(std::move(groups), *options(config.lr));
}

}  // namespace

LossKind parse_loss(const std::string& name) {
  const std::string n = lower(name);
  if (n == "charbonnier") return LossKind::kCharbonnier;
  if (n == "l1") return LossKind::kL1;
  throw ConfigError("optim.loss: expected charbonnier or l1, found '" + name + "'");
}

torch::Tensor charbonnier_loss(const torch::Tensor& pred, const torch::Tensor& target, double eps) {
  torch::Tensor d = pred.to(torch::kFloat) - target.to(torch::kFloat);
  return torch::sqrt(d * d + eps * eps).mean();
}

torch::Tensor l1_loss(const torch::Tensor& pred, const torch::Tensor& target) {
  return (pred.to(torch::kFloat) - target.to(torch::kFloat)).abs().mean();
}

torch::Tensor compute_loss(LossKind kind, const torch::Tensor& pred, const torch::Tensor& target) {
  return kind == LossKind::kL1 ? vsr::l1_loss(pred, target) : vsr::charbonnier_loss(pred, target);
}

ScheduleKind parse_schedule(const std::string& name) {
  const std::string n = lower(name);
  if (n == "cosine") return ScheduleKind::kCosine;
  if (n == "constant") return ScheduleKind::kConstant;
  throw ConfigError("optim.schedule: expected cosine or constant, found '" + name + "'");
}

double learning_rate_at(const LrSchedule& s, int64_t step, double elapsed_s) {
  step = std::max<int64_t>(step, 0);
  if (step < s.warmup_steps) {
    return s.lr * static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps);
  }
  if (s.kind == ScheduleKind::kConstant) return s.lr;
  const double floor = s.min_lr_ratio * s.lr;
  const int64_t span = s.total_steps - s.warmup_steps;
  if (span <= 0) return floor;
  double p =
      std::clamp(static_cast<double>(step - s.warmup_steps) / static_cast<double>(span), 0.0, 1.0);
  if (s.time_budget_s > 0) p = std::max(p, std::clamp(elapsed_s / s.time_budget_s, 0.0, 1.0));
  return floor + (s.lr - floor) * 0.5 * (1.0 + std::cos(kPi * p));
}

OptimizerKind parse_optimizer(const std::string& name) {
  const std::string n = lower(name);
  if (n == "adam") return OptimizerKind::kAdam;
  if (n == "adamw") return OptimizerKind::kAdamW;
  throw ConfigError("optim.optimizer: expected adam or adamw, found '" + name + "'");
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerConfig& config,
                                                        std::vector<torch::Tensor> params,
                                                        std::vector<torch::Tensor> flow_params) {
  if (config.kind == OptimizerKind::kAdam) {
    return make_adam_like<torch::optim::AdamOptions>(config, std::move(params),
                                                     std::move(flow_params));
  }
  return make_adam_like<torch::optim::AdamWOptions>(config, std::move(params),
                                                    std::move(flow_params));
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr, double flow_lr_mult) {
  auto& groups = optimizer.param_groups();
  for (size_t i = 0; i < groups.size(); ++i) {
    groups[i].options().set_lr(i == 0 ? lr : lr * flow_lr_mult);
  }
}

double learning_rate(const torch::optim::Optimizer& optimizer, size_t group) {
  return optimizer.param_groups().at(group).options().get_lr();
}

void set_frozen(const std::vector<torch::Tensor>& params, bool frozen) {
  for (auto p : params) {
    p.requires_grad_(!frozen);
    if (frozen) p.mutable_grad() = torch::Tensor();
  }
}

double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  std::vector<torch::Tensor> grads, norms;
  for (const auto& p : params) {
    if (!p.grad().defined()) continue;
    grads.push_back(p.grad());
    norms.push_back(p.grad().detach().to(torch::kFloat).norm(2));
  }
  if (norms.empty()) return 0.0;
  const double total = torch::stack(norms).norm(2).item<double>();
  if (max_norm > 0.0 && std::isfinite(total) && total > max_norm) {
    torch::NoGradGuard no_grad;
    const double coef = max_norm / (total + 1e-6);
    for (auto& g : grads) g.mul_(coef);
  }
  return total;
}

Ema::Ema(const torch::nn::Module& module, double decay) : decay_(decay) {
  if (!(decay >= 0.0 && decay < 1.0)) {
    throw ConfigError("optim.ema_decay: expected a value in [0, 1), found " +
                      std::to_string(decay));
  }
  torch::NoGradGuard no_grad;
  for (const auto& item : module.named_parameters()) {
    shadow_.insert(item.key(), item.value().detach().clone());
  }
  for (const auto& item : module.named_buffers()) {
    shadow_.insert(item.key(), item.value().detach().clone());
  }
}

void Ema::update(const torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  auto blend = [&](const std::string& name, const torch::Tensor& current) {
    torch::Tensor& s = shadow_[name];
    if (s.is_floating_point()) {
      s.mul_(decay_).add_(current.detach(), 1.0 - decay_);
    } else {
      s.copy_(current);
    }
  };
  for (const auto& item : module.named_parameters()) blend(item.key(), item.value());
  for (const auto& item : module.named_buffers()) blend(item.key(), item.value());
  ++num_updates_;
}

void Ema::copy_to(torch::nn::Module& module) const {
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters()) item.value().copy_(shadow_[item.key()]);
  for (auto& item : module.named_buffers()) item.value().copy_(shadow_[item.key()]);
}

void Ema::load(const torch::OrderedDict<std::string, torch::Tensor>& state) {
  torch::NoGradGuard no_grad;
  if (state.size() != shadow_.size()) {
    throw std::invalid_argument("EMA state: expected " + std::to_string(shadow_.size()) +
                                " tensors, found " + std::to_string(state.size()));
  }
  for (auto& item : shadow_) {
    const torch::Tensor* src = state.find(item.key());
    if (src == nullptr) throw std::invalid_argument("EMA state: missing '" + item.key() + "'");
    if (!src->sizes().equals(item.value().sizes())) {
      throw std::invalid_argument("EMA state: '" + item.key() + "' has shape " +
                                  c10::str(src->sizes()) + ", expected " +
                                  c10::str(item.value().sizes()));
    }
    item.value().copy_(*src);
  }
}

LossScaler::LossScaler(const LossScalerOptions& options)
    : options_(options), scale_(options.enabled ? options.init_scale : 1.0) {}

torch::Tensor LossScaler::scale(const torch::Tensor& loss) const {
  return options_.enabled ? loss * scale_ : loss;
}

bool LossScaler::unscale(const std::vector<torch::Tensor>& params) {
  if (!options_.enabled || unscaled_) return !found_inf_;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> bad;
  const double inv = 1.0 / scale_;
  for (const auto& p : params) {
    if (!p.grad().defined()) continue;
    torch::Tensor g = p.grad();
    g.mul_(inv);
    bad.push_back(torch::logical_not(torch::isfinite(g)).any());
  }
  found_inf_ = !bad.empty() && torch::stack(bad).any().item<bool>();
  unscaled_ = true;
  return !found_inf_;
}

bool LossScaler::step(torch::optim::Optimizer& optimizer) {
  if (!options_.enabled) {
    optimizer.step();
    return true;
  }
  if (!unscaled_) {
    std::vector<torch::Tensor> params;
    for (const auto& group : optimizer.param_groups()) {
      params.insert(params.end(), group.params().begin(), group.params().end());
    }
    unscale(params);
  }
  if (found_inf_) return false;
  optimizer.step();
  return true;
}

void LossScaler::update() {
  if (!options_.enabled) return;
  if (found_inf_) {
    scale_ *= options_.backoff_factor;
    growth_tracker_ = 0;
  } else if (++growth_tracker_ >= options_.growth_interval) {
    scale_ *= options_.growth_factor;
    growth_tracker_ = 0;
  }
  unscaled_ = false;
  found_inf_ = false;
}

void LossScaler::load(double scale, int64_t growth_tracker) {
  scale_ = scale;
  growth_tracker_ = growth_tracker;
  unscaled_ = false;
  found_inf_ = false;
}

namespace {

CheckpointData::Named cpu_copy(const torch::OrderedDict<std::string, torch::Tensor>& items) {
  CheckpointData::Named out;
  out.reserve(items.size());
  for (const auto& item : items) {
    out.emplace_back(
        item.key(),
        item.value().detach().to(torch::kCPU, torch::kFloat).clone(at::MemoryFormat::Contiguous));
  }
  return out;
}

}  // namespace

CheckpointData capture_training_state(torch::nn::Module& model, const Ema* ema,
                                      torch::optim::Optimizer& optimizer) {
  CheckpointData c;
  const auto params = model.named_parameters();
  c.model = cpu_copy(params);
  if (ema) c.ema = cpu_copy(ema->state());
  for (std::size_t i = 0; i < params.size(); ++i) {
    const torch::Tensor& p = params[i].value();
    c.param_names.push_back(params[i].key());
    torch::optim::OptimizerParamState* state = optimizer_param_state(optimizer, p);
    if (!state) continue;
    const std::string prefix = "state." + std::to_string(i) + ".";
    auto add = [&](const char* name, const torch::Tensor& t) {
      c.optimizer_state.emplace_back(
          prefix + name, t.detach().to(torch::kCPU).clone(at::MemoryFormat::Contiguous));
    };
    if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(state)) {
      add("exp_avg", adam->exp_avg());
      add("exp_avg_sq", adam->exp_avg_sq());
      add("step", torch::tensor(static_cast<double>(adam->step())));
    } else if (auto* adamw = dynamic_cast<torch::optim::AdamWParamState*>(state)) {
      add("exp_avg", adamw->exp_avg());
      add("exp_avg_sq", adamw->exp_avg_sq());
      add("step", torch::tensor(static_cast<double>(adamw->step())));
    }
  }
  return c;
}

void restore_training_state(const CheckpointData& c, torch::nn::Module& model, Ema* ema,
                            torch::optim::Optimizer& optimizer, const std::string& what) {
  load_named_weights(model, c.model, what + ": model weights:");
  if (ema) {
    if (c.ema.empty()) {
      throw DataError(what +
                      " has no EMA weights, and this run has TRAINING.ema_decay > 0; "
                      "resume with the EMA off or from a checkpoint of a run with it on");
    }
    torch::OrderedDict<std::string, torch::Tensor> state;
    for (const auto& [name, t] : c.ema) state.insert(name, t);
    try {
      ema->load(state);
    } catch (const std::invalid_argument& e) {
      throw DataError(what + ": " + e.what());
    }
  }
  std::map<std::string, const torch::Tensor*> saved;
  for (const auto& [name, t] : c.optimizer_state) saved[name] = &t;
  const auto params = model.named_parameters();
  if (c.param_names.size() != params.size()) {
    throw DataError(what + ": the optimizer state is for " + std::to_string(c.param_names.size()) +
                    " parameters, this model has " + std::to_string(params.size()));
  }
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const torch::Tensor& p = params[i].value();
    if (c.param_names[i] != params[i].key()) {
      throw DataError(what + ": optimizer parameter " + std::to_string(i) + " is " +
                      c.param_names[i] + " in the checkpoint and " + params[i].key() + " here");
    }
    const std::string prefix = "state." + std::to_string(i) + ".";
    const auto avg = saved.find(prefix + "exp_avg");
    const auto avg_sq = saved.find(prefix + "exp_avg_sq");
    const auto step = saved.find(prefix + "step");
    if (avg == saved.end() && avg_sq == saved.end() && step == saved.end()) continue;  // no step
    if (avg == saved.end() || avg_sq == saved.end() || step == saved.end() ||
        !avg->second->sizes().equals(p.sizes()) || !avg_sq->second->sizes().equals(p.sizes())) {
      throw DataError(what + ": the optimizer state of " + params[i].key() +
                      " is incomplete or has the wrong shape");
    }
    // Same device and memory format (channels_last) as the parameter.
    torch::Tensor m = torch::empty_like(p).copy_(*avg->second);
    torch::Tensor v = torch::empty_like(p).copy_(*avg_sq->second);
    const auto n = static_cast<std::int64_t>(std::llround(step->second->item<double>()));
    std::unique_ptr<torch::optim::OptimizerParamState> state;
    if (dynamic_cast<torch::optim::AdamW*>(&optimizer)) {
      auto s = std::make_unique<torch::optim::AdamWParamState>();
      s->exp_avg(m).exp_avg_sq(v).step(n);
      state = std::move(s);
    } else {
      auto s = std::make_unique<torch::optim::AdamParamState>();
      s->exp_avg(m).exp_avg_sq(v).step(n);
      state = std::move(s);
    }
    set_optimizer_param_state(optimizer, p, std::move(state));
  }
}

}  // namespace vsr
