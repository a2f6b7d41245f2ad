#include "stages/train/train_step.h"

#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <optional>

#include "graph/registry.h"
#include "runtime/device.h"
#include "runtime/model.h"
#include "runtime/optim.h"
#include "stages/data/messages.h"
#include "stages/train/messages.h"

namespace vsr {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// A typed member of an object param, with the param path in the error.
template <class T>
T member(const json& obj, const std::string& key, const std::string& path) {
  if (!obj.contains(key)) throw std::invalid_argument(path + "." + key + " is missing");
  try {
    return obj.at(key).get<T>();
  } catch (const json::exception&) {
    throw std::invalid_argument(path + "." + key + " has the wrong type: " + obj.at(key).dump());
  }
}

// Loads a state dict (a checkpoint's "model" entry, or a plain name -> tensor dict) into
// `model`; every tensor of the model must be there, with its shape.
void load_pretrained(VSRNet& model, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("MODEL.pretrained: cannot open " + path);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  c10::IValue value = torch::jit::pickle_load(bytes);
  if (!value.isGenericDict()) {
    throw std::runtime_error("MODEL.pretrained: " + path + " does not hold a dict of tensors");
  }
  c10::Dict<c10::IValue, c10::IValue> dict = value.toGenericDict();
  if (dict.contains("model") && dict.at("model").isGenericDict()) {
    dict = dict.at("model").toGenericDict();
  }
  std::vector<std::pair<std::string, torch::Tensor>> weights;
  for (const auto& item : dict) {
    if (item.key().isString() && item.value().isTensor()) {
      weights.emplace_back(item.key().toStringRef(), item.value().toTensor());
    }
  }
  // Extra entries are fine: "pretrained may load any state dict" that covers the model.
  load_named_weights(*model, weights,
                     "MODEL.pretrained: " + path +
                         " does not fit the model (check base_channels, num_blocks and scale):",
                     /*allow_unknown=*/true);
}

NamedTensors cpu_copy(const torch::OrderedDict<std::string, torch::Tensor>& items) {
  NamedTensors out;
  out.reserve(items.size());
  for (const auto& item : items) {
    out.emplace_back(item.key(), item.value().detach().to(torch::kCPU, torch::kFloat).clone());
  }
  return out;
}

}  // namespace

struct TrainStepStage::State {
  // Settings.
  VSRNetOptions model_options;
  double flow_lr_mult = 1;
  std::int64_t flow_freeze_steps = 0;
  std::string pretrained;
  OptimizerConfig optim;
  LrSchedule schedule;
  LossKind loss = LossKind::kCharbonnier;
  double grad_clip = 0;
  double ema_decay = 0;
  std::int64_t total_steps = 1;
  Precision precision = Precision::kOff;
  std::string device_name;
  int threads = 0;
  std::int64_t seed = 0;
  std::int64_t val_interval = 1;
  std::int64_t checkpoint_interval = 1;
  std::string optimizer_name;

  // Training state.
  std::optional<c10::Device> device;
  VSRNet model{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<Ema> ema;
  std::unique_ptr<LossScaler> scaler;
  std::vector<torch::Tensor> flow_params;
  std::vector<torch::Tensor> all_params;
  bool flow_frozen = false;
  std::int64_t expected_seq = 0;
  int consecutive_skips = 0;

  // The step being accumulated.
  double step_loss = 0;
  int step_samples = 0;
  double step_compute_s = 0;
  double step_wait_s = 0;
  Clock::time_point last_done = Clock::now();
};

StageSchema TrainStepStage::schema() {
  return StageSchema("train_step")
      .doc(
          "forward/backward per micro-batch, optimizer step per gradient_accumulation; emits "
          "a StepEvent per step and a ModelSnapshot on validation/checkpoint steps")
      .input<MicroBatch>("in", "micro-batches in order")
      .output<StepEvent>("out", "one per optimizer step")
      .output<ModelSnapshot>("snapshot", "weights and optimizer state on val/ckpt/last steps")
      .required("model", ParamType::kObject,
                "base_channels, num_blocks, use_checkpointing, scale, frames, flow_lr_mult, "
                "flow_freeze_steps, pretrained")
      .required("optim", ParamType::kObject,
                "optimizer, learning_rate, betas, weight_decay, warmup_steps, schedule, "
                "min_lr_ratio, grad_clip, loss, ema_decay")
      .required("total_steps", ParamType::kInt, "optimizer steps in the run")
      .at_least(1)
      .optional("mixed_precision", ParamType::kString, "off", "off, bf16 or fp16 (CUDA only)")
      .choices({"off", "bf16", "fp16"})
      .optional("device", ParamType::kString, "auto", "auto, cpu, cuda or cuda:N")
      .optional("threads", ParamType::kInt, 0, "intra-op threads; 0 = all cores")
      .at_least(0)
      .optional("seed", ParamType::kInt, 0, "weight initialisation seed")
      .optional("val_interval", ParamType::kInt, 500, "snapshot for validation every N steps")
      .at_least(1)
      .optional("checkpoint_interval", ParamType::kInt, 5000, "snapshot to save every N steps")
      .at_least(1)
      .optional("formats", ParamType::kStringList, json::array(), "format names, by index")
      .optional("gradient_accumulation", ParamType::kIntList, json::array(),
                "micro-batches per step, per format (informational: batches carry it)");
}

TrainStepStage::TrainStepStage(const StageContext& ctx) : s_(std::make_unique<State>()) {
  State& s = *s_;
  const json& m = ctx.params.at("model");
  s.model_options.base_channels(member<int>(m, "base_channels", "params.model"))
      .num_blocks(member<int>(m, "num_blocks", "params.model"))
      .scale(member<int>(m, "scale", "params.model"))
      .frames(member<int>(m, "frames", "params.model"))
      .use_checkpointing(member<bool>(m, "use_checkpointing", "params.model"));
  s.flow_lr_mult = member<double>(m, "flow_lr_mult", "params.model");
  s.flow_freeze_steps = member<std::int64_t>(m, "flow_freeze_steps", "params.model");
  s.pretrained = member<std::string>(m, "pretrained", "params.model");

  const json& o = ctx.params.at("optim");
  s.optimizer_name = member<std::string>(o, "optimizer", "params.optim");
  s.optim.kind = parse_optimizer(s.optimizer_name);
  s.optim.lr = member<double>(o, "learning_rate", "params.optim");
  const auto betas = member<std::vector<double>>(o, "betas", "params.optim");
  if (betas.size() != 2) throw std::invalid_argument("params.optim.betas needs two numbers");
  s.optim.beta1 = betas[0];
  s.optim.beta2 = betas[1];
  s.optim.weight_decay = member<double>(o, "weight_decay", "params.optim");
  s.optim.flow_lr_mult = s.flow_lr_mult;
  s.schedule.lr = s.optim.lr;
  s.schedule.warmup_steps = member<std::int64_t>(o, "warmup_steps", "params.optim");
  s.schedule.kind = parse_schedule(member<std::string>(o, "schedule", "params.optim"));
  s.schedule.min_lr_ratio = member<double>(o, "min_lr_ratio", "params.optim");
  s.grad_clip = member<double>(o, "grad_clip", "params.optim");
  s.loss = parse_loss(member<std::string>(o, "loss", "params.optim"));
  s.ema_decay = member<double>(o, "ema_decay", "params.optim");

  s.total_steps = ctx.param<std::int64_t>("total_steps");
  s.schedule.total_steps = s.total_steps;
  s.precision = parse_precision(ctx.param<std::string>("mixed_precision"));
  s.device_name = ctx.param<std::string>("device");
  s.threads = ctx.param<int>("threads");
  s.seed = ctx.param<std::int64_t>("seed");
  s.val_interval = ctx.param<std::int64_t>("val_interval");
  s.checkpoint_interval = ctx.param<std::int64_t>("checkpoint_interval");
}

TrainStepStage::~TrainStepStage() = default;

void TrainStepStage::open() {
  State& s = *s_;
  s.device = pick_device(s.device_name);
  if (s.precision == Precision::kFp16 && !s.device->is_cuda()) {
    throw std::invalid_argument("mixed_precision fp16 needs a CUDA device; use bf16 on CPU");
  }
  set_threads(s.threads);
  torch::manual_seed(static_cast<std::uint64_t>(s.seed));
  s.model = VSRNet(s.model_options);
  if (!s.pretrained.empty()) load_pretrained(s.model, s.pretrained);
  s.model->to(*s.device);
  s.model->train();
  s.flow_params = s.model->flow_parameters();
  s.all_params = s.model->parameters();
  s.optimizer = make_optimizer(s.optim, s.model->other_parameters(), s.flow_params);
  if (s.ema_decay > 0) s.ema = std::make_unique<Ema>(*s.model, s.ema_decay);
  LossScalerOptions scaler;
  scaler.enabled = s.precision == Precision::kFp16;
  s.scaler = std::make_unique<LossScaler>(scaler);
  s.last_done = Clock::now();
}

void TrainStepStage::process(std::size_t, const Message& in, Emitter& out) {
  State& s = *s_;
  s.step_wait_s += since(s.last_done);
  const auto start = Clock::now();
  auto mb = in.as<MicroBatch>();
  if (mb->seq != s.expected_seq) {
    throw std::runtime_error("micro-batch " + std::to_string(mb->seq) + " arrived, expected " +
                             std::to_string(s.expected_seq) + " (batches must come in order)");
  }
  ++s.expected_seq;
  const std::int64_t step = mb->step;  // 0-based
  if (mb->micro == 0) {
    s.optimizer->zero_grad();
    s.step_loss = 0;
    s.step_samples = 0;
    const bool freeze = step < s.flow_freeze_steps;
    if (freeze != s.flow_frozen) {
      set_frozen(s.flow_params, freeze);
      s.flow_frozen = freeze;
    }
  }
  {
    const torch::Tensor lr = mb->lr.to(*s.device, /*non_blocking=*/true);
    const torch::Tensor gt = mb->gt.to(*s.device, /*non_blocking=*/true);
    torch::Tensor loss;
    {
      AutocastGuard autocast(*s.device, s.precision);
      const torch::Tensor pred = s.model->forward(lr);
      loss = compute_loss(s.loss, pred.to(torch::kFloat), gt);
    }
    s.scaler->scale(loss / mb->accum).backward();
    s.step_loss += loss.item<double>() / mb->accum;
    s.step_samples += static_cast<int>(mb->lr.size(0));
  }
  if (mb->micro + 1 < mb->accum) {
    s.step_compute_s += since(start);
    s.last_done = Clock::now();
    return;
  }

  // The optimizer step.
  const double lr = learning_rate_at(s.schedule, step);
  set_learning_rate(*s.optimizer, lr, s.flow_lr_mult);
  s.scaler->unscale(s.all_params);
  const double norm = clip_grad_norm(s.all_params, s.grad_clip > 0 ? s.grad_clip : 0);
  bool skipped = false;
  if (s.scaler->enabled()) {
    skipped = !s.scaler->step(*s.optimizer);
    s.scaler->update();
  } else if (!std::isfinite(norm) || !std::isfinite(s.step_loss)) {
    skipped = true;
  } else {
    s.optimizer->step();
  }
  s.consecutive_skips = skipped ? s.consecutive_skips + 1 : 0;
  if (s.consecutive_skips >= 10) {
    throw std::runtime_error("the loss or gradients were not finite for 10 steps in a row (step " +
                             std::to_string(step + 1) +
                             "); lower TRAINING.learning_rate or set TRAINING.grad_clip");
  }
  if (!skipped && s.ema) s.ema->update(*s.model);
  const double compute_s = s.step_compute_s + since(start);

  auto event = std::make_shared<StepEvent>();
  event->step = step + 1;
  event->total_steps = s.total_steps;
  event->format = mb->format;
  event->samples = s.step_samples;
  event->loss = s.step_loss;
  event->lr = lr;
  event->grad_norm = norm;
  event->compute_s = compute_s;
  event->wait_s = s.step_wait_s;
  event->skipped = skipped;
  event->loss_scale = s.scaler->current_scale();
  out.emit<StepEvent>(0, event);
  s.step_compute_s = 0;
  s.step_wait_s = 0;

  const std::int64_t done = step + 1;
  const bool last = done >= s.total_steps;
  const bool validate = last || done % s.val_interval == 0;
  const bool checkpoint = last || done % s.checkpoint_interval == 0;
  if (validate || checkpoint) {
    auto snap = std::make_shared<ModelSnapshot>();
    snap->step = done;
    snap->total_steps = s.total_steps;
    snap->validate = validate;
    snap->checkpoint = checkpoint;
    snap->final = last;
    snap->base_channels = static_cast<int>(s.model_options.base_channels());
    snap->num_blocks = static_cast<int>(s.model_options.num_blocks());
    snap->scale = static_cast<int>(s.model_options.scale());
    snap->frames = static_cast<int>(s.model_options.frames());
    snap->model = cpu_copy(s.model->named_parameters());
    if (s.ema) snap->ema = cpu_copy(s.ema->state());
    snap->optimizer_type = s.optimizer_name;
    snap->learning_rate = lr;
    snap->loss_scale = s.scaler->current_scale();
    const auto params = s.model->named_parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      const torch::Tensor& p = params[i].value();
      snap->param_names.push_back(params[i].key());
      auto& states = s.optimizer->state();
      auto it = states.find(c10::guts::to_string(p.unsafeGetTensorImpl()));
      if (it == states.end()) continue;
      const std::string prefix = "state." + std::to_string(i) + ".";
      auto add = [&](const char* name, const torch::Tensor& t) {
        snap->optimizer.emplace_back(prefix + name, t.detach().to(torch::kCPU).clone());
      };
      if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(it->second.get())) {
        add("exp_avg", adam->exp_avg());
        add("exp_avg_sq", adam->exp_avg_sq());
        add("step", torch::tensor(static_cast<double>(adam->step())));
      } else if (auto* adamw = dynamic_cast<torch::optim::AdamWParamState*>(it->second.get())) {
        add("exp_avg", adamw->exp_avg());
        add("exp_avg_sq", adamw->exp_avg_sq());
        add("step", torch::tensor(static_cast<double>(adamw->step())));
      }
    }
    out.emit<ModelSnapshot>(1, snap);
  }
  s.last_done = Clock::now();
}

VSR_REGISTER_STAGE(TrainStepStage);

}  // namespace vsr
