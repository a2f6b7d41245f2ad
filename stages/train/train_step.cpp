#include "stages/train/train_step.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>
#include <thread>
#include <utility>

#include "common/errors.h"
#include "graph/registry.h"
#include "runtime/data/pixels.h"
#include "runtime/dist/collective.h"
#include "runtime/model/compute_thread.h"
#include "runtime/model/device.h"
#include "runtime/model/model.h"
#include "runtime/model/optim.h"
#include "runtime/outputs/checkpoint.h"
#include "stages/data/messages.h"
#include "stages/params.h"
#include "stages/train/messages.h"

namespace vsr {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string minutes_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f min", seconds / 60);
  return text;
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
  std::string precision_name;             // as configured: off, auto, bf16 or fp16
  Precision precision = Precision::kOff;  // resolved on the device at open()
  std::string device_name;
  int threads = 0;
  std::string pause_data = "auto";
  bool exclusive = false;  // micro-batches run with decode waiting (pause_data)
  std::int64_t seed = 0;
  std::int64_t val_interval = 1;
  std::int64_t checkpoint_interval = 1;
  std::string optimizer_name;

  DistributedOptions dist;
  std::string dist_backend = "auto";
  std::string channels_last = "auto";
  std::string resume;  // checkpoint to continue from (--resume)
  StageContext ctx;    // for the stop flag

  // Training state.
  std::optional<c10::Device> device;
  // On CUDA the micro-batch that arrived last waits here while its copy to the device runs
  // on a side stream, and the one before it computes: one ahead.
  struct Held {
    std::shared_ptr<const MicroBatch> batch;
    DeviceUpload upload;
  };
  std::optional<Held> held;
  VSRNet model{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<Ema> ema;
  std::unique_ptr<LossScaler> scaler;
  std::unique_ptr<Collective> collective;  // world_size > 1
  double allreduce_total_s = 0;
  double compute_total_s = 0;
  std::int64_t steps_done = 0;
  std::vector<torch::Tensor> flow_params;
  std::vector<torch::Tensor> all_params;
  bool flow_frozen = false;
  std::int64_t expected_seq = 0;
  int consecutive_skips = 0;
  std::int64_t start_step = 0;  // the first step this run trains (resume: the checkpoint's)
  // Training time: of the runs before a resume, and since this run's first micro-batch.
  double trained_before_s = 0;
  std::optional<Clock::time_point> first_batch;
  // After a stop request or a run-ending problem the rest of the input is dropped.
  bool stopped = false;
  std::string abort_message;  // thrown by close() once the last snapshot is saved

  // The step being accumulated.
  double step_loss = 0;
  int step_samples = 0;
  double step_compute_s = 0;
  double step_wait_s = 0;
  Clock::time_point last_done = Clock::now();
};

StageSchema TrainStepStage::schema() {
  ParamGroup model;
  model.required("base_channels", ParamType::kInt, "feature channels (MODEL.base_channels)")
      .range(8, 512)
      .required("num_blocks", ParamType::kInt, "residual blocks per branch")
      .range(1, 64)
      .optional("use_checkpointing", ParamType::kBool, false,
                "recompute activations in backward to save memory")
      .optional("channels_last", ParamType::kString, "auto",
                "NHWC weights and activations (faster convolutions on GPUs with tensor "
                "cores); auto: on for CUDA, off for the CPU")
      .choices({"auto", "on", "off"})
      .optional("flow_lr_mult", ParamType::kFloat, 0.25,
                "learning-rate multiplier of the flow network")
      .range(0, 10)
      .optional("flow_freeze_steps", ParamType::kInt, 0, "first steps with the flow network frozen")
      .at_least(0)
      .optional("pretrained", ParamType::kString, "",
                "state dict (.pth) to start from; empty: random init")
      .existing_file("pretrained weights file")
      .optional("resume", ParamType::kString, "",
                "vsr_flow checkpoint to continue (set by `run --resume`): weights, EMA, "
                "optimizer, loss scale; the run's first step is the one after it")
      .existing_file("checkpoint to resume");
  ParamGroup optim;
  optim.optional("optimizer", ParamType::kString, "adam", "adam or adamw")
      .choices({"adam", "adamw"})
      .optional("learning_rate", ParamType::kFloat, 1e-4, "peak learning rate")
      .in(Range::open_closed(0, 1))
      .optional("betas", ParamType::kFloatList, json::array({0.9, 0.99}), "Adam betas")
      .length(2)
      .in(Range::closed_open(0, 1))
      .optional("weight_decay", ParamType::kFloat, 0.0, "L2 (adam) or decoupled (adamw)")
      .range(0, 1)
      .optional("warmup_steps", ParamType::kInt, 0, "linear warm-up steps")
      .at_least(0)
      .optional("schedule", ParamType::kString, "cosine", "after warm-up: cosine or constant")
      .choices({"cosine", "constant"})
      .optional("min_lr_ratio", ParamType::kFloat, 0.001, "final / peak learning rate (cosine)")
      .range(0, 1)
      .optional("grad_clip", ParamType::kFloat, 0.0, "global gradient-norm clip; 0: off")
      .at_least(0)
      .optional("loss", ParamType::kString, "charbonnier", "charbonnier or l1")
      .choices({"charbonnier", "l1"})
      .optional("ema_decay", ParamType::kFloat, 0.0, "EMA decay of the weights; 0: off")
      .in(Range::closed_open(0, 1));
  ParamGroup dist;
  dist.optional("backend", ParamType::kString, "auto",
                "c10d backend of a multi-process job: gloo (CPU), nccl (CUDA); auto: by device")
      .choices({"auto", "gloo", "nccl"})
      .optional("timeout_s", ParamType::kFloat, 300.0,
                "a rendezvous or collective slower than this ends the job, naming the rank")
      .range(1, 86400)
      .optional("world_size", ParamType::kInt, 1, "ranks of the job (set from WORLD_SIZE)")
      .range(1, 65536)
      .optional("rank", ParamType::kInt, 0, "this process's rank (from RANK)")
      .at_least(0)
      .optional("local_rank", ParamType::kInt, 0, "its device index on the machine (LOCAL_RANK)")
      .at_least(0)
      .optional("local_world_size", ParamType::kInt, 1,
                "ranks on this machine (LOCAL_WORLD_SIZE); threads 0 shares the cores among them")
      .range(1, 65536)
      .optional("master_addr", ParamType::kString, "127.0.0.1",
                "rank 0's address for the rendezvous (MASTER_ADDR)")
      .optional("master_port", ParamType::kInt, 29500, "its TCP port (MASTER_PORT)")
      .range(1, 65535);
  StageSchema s("train_step");
  s.doc(
       "forward/backward per micro-batch, optimizer step per gradient_accumulation; emits "
       "a StepEvent per step and a ModelSnapshot on validation/checkpoint steps")
      .input<MicroBatch>("in", "micro-batches in order")
      .output<StepEvent>("out", "one per optimizer step")
      .output<ModelSnapshot>("snapshot", "weights and optimizer state on val/ckpt/last steps")
      .group("model", "the network (runtime/model/model.h) and where its weights start", model)
      .group("optim", "optimizer, schedule, loss and EMA", optim)
      .group("distributed", "data-parallel training over c10d (runtime/dist/collective.h)", dist);
  scale_param(s);
  frames_param(s);
  s.required("total_steps", ParamType::kInt, "optimizer steps in the run")
      .at_least(1)
      .shared()
      .optional("mixed_precision", ParamType::kString, "off",
                "off, bf16, fp16 (CUDA only) or auto (bf16 on a CPU with AMX-BF16 or CUDA from "
                "compute capability 8.0, else off)")
      .choices({"off", "auto", "bf16", "fp16"})
      .optional("seed", ParamType::kInt, 0, "weight initialisation seed")
      .shared()
      .optional("time_budget_minutes", ParamType::kFloat, 0.0,
                "minutes of training (wall clock, over resumes) after which the run ends as at "
                "total_steps, whichever comes first; the cosine schedule decays to fit it; 0: "
                "no limit")
      .at_least(0)
      .optional("pause_data", ParamType::kString, "auto",
                "on: decode waits while a micro-batch computes (runtime/model/compute_thread.h); "
                "auto: on for a CPU step whose threads take every core")
      .choices({"auto", "on", "off"})
      .optional("val_interval", ParamType::kInt, 500, "snapshot for validation every N steps")
      .at_least(1)
      .optional("checkpoint_interval", ParamType::kInt, 5000, "snapshot to save every N steps")
      .at_least(1)
      .check("warm-up fits in the run",
             [](const json& p, ParamProblems& out) {
               const auto warmup = p.at("optim").at("warmup_steps").get<std::int64_t>();
               const auto total = p.at("total_steps").get<std::int64_t>();
               if (warmup > total) {
                 out.add("optim.warmup_steps", "warmup_steps (" + std::to_string(warmup) +
                                                   ") must not exceed total_steps (" +
                                                   std::to_string(total) + ")");
               }
             })
      .check("fp16 runs on CUDA", [](const json& p, ParamProblems& out) {
        if (p.at("mixed_precision") == "fp16" && p.at("device") == "cpu") {
          out.add("mixed_precision", "mixed_precision fp16 needs a CUDA device; use bf16 on CPU");
        }
      });
  device_params(s).world_check(
      "fp16 has a CUDA device here", [](const json& p, ParamProblems& out) {
        if (p.at("mixed_precision") != "fp16" || p.at("device") == "cpu") return;
        try {
          if (!pick_device(p.at("device").get<std::string>()).is_cuda()) {
            out.add("mixed_precision", "mixed_precision fp16 needs a CUDA device, and device " +
                                           p.at("device").get<std::string>() +
                                           " is the CPU on this machine; use bf16 on CPU");
          }
        } catch (const std::exception&) {
          // The device check reports it.
        }
      });
  s.world_check("the c10d backend is in this build", [](const json& p, ParamProblems& out) {
    const json& d = p.at("distributed");
    if (d.at("world_size").get<int>() <= 1) return;
    std::string backend = d.at("backend").get<std::string>();
    if (backend == "auto") {
      try {
        backend = pick_device(p.at("device").get<std::string>()).is_cuda() ? "nccl" : "gloo";
      } catch (const std::exception&) {
        return;  // the device check reports it
      }
    }
    if (!backend_available(backend)) {
      out.add("distributed.backend",
              "a " + d.at("world_size").dump() + "-rank job needs c10d " + backend +
                  ", which this build of vsr_flow does not have (" +
                  (backend == "nccl" ? "NCCL needs a CUDA LibTorch 2.x and nccl.h at build time"
                                     : "pip's LibTorch ships no Gloo headers; build against "
                                       "Debian's LibTorch with libgloo-dev") +
                  ")");
    }
  });
  return s;
}

TrainStepStage::TrainStepStage(const StageContext& ctx) : s_(std::make_unique<State>()) {
  State& s = *s_;
  const json& m = ctx.params.at("model");
  s.model_options.base_channels(m.at("base_channels").get<int>())
      .num_blocks(m.at("num_blocks").get<int>())
      .scale(ctx.param<int>("scale"))
      .frames(ctx.param<int>("frames"))
      .use_checkpointing(m.at("use_checkpointing").get<bool>());
  s.flow_lr_mult = m.at("flow_lr_mult").get<double>();
  s.flow_freeze_steps = m.at("flow_freeze_steps").get<std::int64_t>();
  s.pretrained = m.at("pretrained").get<std::string>();
  s.channels_last = m.at("channels_last").get<std::string>();
  s.resume = m.at("resume").get<std::string>();
  s.ctx = ctx;

  const json& d = ctx.params.at("distributed");
  s.dist_backend = d.at("backend").get<std::string>();
  s.dist.timeout_s = d.at("timeout_s").get<double>();
  s.dist.world_size = d.at("world_size").get<int>();
  s.dist.rank = d.at("rank").get<int>();
  s.dist.local_rank = d.at("local_rank").get<int>();
  s.dist.local_world_size = d.at("local_world_size").get<int>();
  s.dist.master_addr = d.at("master_addr").get<std::string>();
  s.dist.master_port = d.at("master_port").get<int>();

  const json& o = ctx.params.at("optim");
  s.optimizer_name = o.at("optimizer").get<std::string>();
  s.optim.kind = parse_optimizer(s.optimizer_name);
  s.optim.lr = o.at("learning_rate").get<double>();
  s.optim.beta1 = o.at("betas").at(0).get<double>();
  s.optim.beta2 = o.at("betas").at(1).get<double>();
  s.optim.weight_decay = o.at("weight_decay").get<double>();
  s.optim.flow_lr_mult = s.flow_lr_mult;
  s.schedule.lr = s.optim.lr;
  s.schedule.warmup_steps = o.at("warmup_steps").get<std::int64_t>();
  s.schedule.kind = parse_schedule(o.at("schedule").get<std::string>());
  s.schedule.min_lr_ratio = o.at("min_lr_ratio").get<double>();
  s.grad_clip = o.at("grad_clip").get<double>();
  s.loss = parse_loss(o.at("loss").get<std::string>());
  s.ema_decay = o.at("ema_decay").get<double>();

  s.total_steps = ctx.param<std::int64_t>("total_steps");
  s.schedule.total_steps = s.total_steps;
  s.schedule.time_budget_s = 60 * ctx.param<double>("time_budget_minutes");  // 0: no limit
  s.precision_name = ctx.param<std::string>("mixed_precision");
  s.device_name = ctx.param<std::string>("device");
  s.threads = ctx.param<int>("threads");
  s.pause_data = ctx.param<std::string>("pause_data");
  s.seed = ctx.param<std::int64_t>("seed");
  s.val_interval = ctx.param<std::int64_t>("val_interval");
  s.checkpoint_interval = ctx.param<std::int64_t>("checkpoint_interval");
}

TrainStepStage::~TrainStepStage() = default;

void TrainStepStage::open() {
  // On the one thread that runs LibTorch work (runtime/model/compute_thread.h).
  ComputeThread::global().run([&] {
    State& s = *s_;
    s.device = pick_device(s.device_name);
    if (s.dist.world_size > 1 && s.device->is_cuda()) {
      s.device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(s.dist.local_rank));
    }
    s.precision = open_precision("train_step", "mixed_precision", s.precision_name, *s.device,
                                 /*warn=*/s.dist.rank == 0);
    if (s.precision == Precision::kFp16 && !s.device->is_cuda()) {
      // Only when CUDA went away since the spec was checked.
      throw RunError("mixed_precision fp16 needs a CUDA device; use bf16 on CPU");
    }
    int threads = s.threads;
    if (threads == 0 && s.dist.local_world_size > 1) {
      // All cores, shared among the ranks of this machine rather than each taking all of them.
      threads = std::max(
          1, static_cast<int>(std::thread::hardware_concurrency()) / s.dist.local_world_size);
    }
    threads = set_threads(threads);
    // A CPU step on every core: OpenMP's threads wait at each barrier for the slowest, so a
    // decode that preempts one stalls them all; decoding between micro-batches costs less.
    s.exclusive =
        s.pause_data == "on" || (s.pause_data == "auto" && s.device->is_cpu() &&
                                 threads >= static_cast<int>(std::thread::hardware_concurrency()));
    if (s.exclusive) {
      // Through std::cout, as the console log (train.log) and the muting of ranks > 0 are.
      std::cout << "train_step: decode waits while each micro-batch computes "
                << "(TRAINING.pause_data " << s.pause_data << ": " << s.device->str() << " on "
                << threads << " threads, " << std::thread::hardware_concurrency() << " cores)"
                << std::endl;
    }
    torch::manual_seed(static_cast<std::uint64_t>(s.seed));
    s.model = VSRNet(s.model_options);
    if (!s.pretrained.empty()) load_pretrained(s.model, s.pretrained, "MODEL.pretrained");
    s.model->to(*s.device);
    if (s.dist.world_size > 1) {
      const std::string backend = s.dist_backend != "auto" ? s.dist_backend
                                  : s.device->is_cuda()    ? "nccl"
                                                           : "gloo";
      s.collective = std::make_unique<Collective>(s.dist, backend, *s.device);
      // Every rank starts from rank 0's weights (and so the EMA too, made from them below).
      torch::NoGradGuard no_grad;
      std::vector<torch::Tensor> weights;
      for (const auto& p : s.model->parameters()) weights.push_back(p.detach());
      s.collective->broadcast_from_rank0(weights);
    }
    if (s.channels_last == "on" || (s.channels_last == "auto" && s.device->is_cuda())) {
      use_channels_last(*s.model);
    }
    s.model->train();
    // Each format's patch size is fixed, so cuDNN's autotuner pays off after the first steps.
    if (s.device->is_cuda()) set_cudnn_benchmark(true);
    reset_peak_memory(*s.device);
    s.flow_params = s.model->flow_parameters();
    s.all_params = s.model->parameters();
    s.optimizer = make_optimizer(s.optim, s.model->other_parameters(), s.flow_params);
    if (s.ema_decay > 0) s.ema = std::make_unique<Ema>(*s.model, s.ema_decay);
    LossScalerOptions scaler;
    scaler.enabled = s.precision == Precision::kFp16;
    s.scaler = std::make_unique<LossScaler>(scaler);
    if (!s.resume.empty()) {
      const CheckpointData c = load_checkpoint(s.resume);
      restore_training_state(c, *s.model, s.ema.get(), *s.optimizer, "--resume " + s.resume);
      if (scaler.enabled) s.scaler->load(c.loss_scale, c.loss_scale_growth);
      s.consecutive_skips = c.nonfinite_streak;
      s.start_step = c.step;
      s.trained_before_s = c.train_time_s;
      if (s.schedule.time_budget_s > 0 && s.trained_before_s >= s.schedule.time_budget_s) {
        throw RunError("--resume " + s.resume + ": the checkpoint has trained " +
                       minutes_text(s.trained_before_s) + " and the run's time budget is " +
                       minutes_text(s.schedule.time_budget_s) +
                       ": nothing left to train (raise TRAINING.time_budget_minutes to go on)");
      }
      if (s.start_step >= s.total_steps) {
        throw RunError("--resume " + s.resume + ": the checkpoint is of step " +
                       std::to_string(s.start_step) + " and the run has total_steps " +
                       std::to_string(s.total_steps) +
                       ": nothing left to train (raise TRAINING.total_steps to go on)");
      }
    }
    s.last_done = Clock::now();
  });
}

std::string out_of_memory_message(const OutOfMemoryContext& c) {
  const std::string bs = "TRAINING.batch_size." + c.format;
  const std::string ga = "TRAINING.gradient_accumulation." + c.format;
  std::string text = "out of memory on " + c.device + " at step " + std::to_string(c.step) +
                     ", format " + c.format + " (batch_size " + std::to_string(c.batch_size) +
                     ", gradient_accumulation " + std::to_string(c.accum) + "): " + c.error +
                     "\nTo fit it:";
  if (c.batch_size > 1) {
    const std::int64_t half = (c.batch_size + 1) / 2;
    text += "\n  - lower " + bs + " (now " + std::to_string(c.batch_size) + ", e.g. " +
            std::to_string(half) + ") and raise " + ga + " (now " + std::to_string(c.accum) +
            ", e.g. " + std::to_string(c.accum * 2) + ") to keep the effective batch;";
  } else {
    text += "\n  - " + bs +
            " is already 1: use smaller patches (DATA.augmentation.crop) or a "
            "smaller model (MODEL.base_channels, MODEL.num_blocks);";
  }
  if (!c.use_checkpointing) {
    text += "\n  - set MODEL.use_checkpointing: true (recomputes activations in backward);";
  }
  text += "\n  - mixed precision (TRAINING.mixed_precision: bf16) halves activation memory;";
  text += "\n  - if it happens while validating, lower VALIDATION.tile.";
  text += "\nCheckpoints written so far are intact.";
  return text;
}

void TrainStepStage::process(std::size_t, const Message& in, Emitter& out) {
  State& s = *s_;
  s.step_wait_s += since(s.last_done);
  auto mb = in.as<MicroBatch>();
  if (mb->seq != s.expected_seq) {
    throw RunError("micro-batch " + std::to_string(mb->seq) + " arrived, expected " +
                   std::to_string(s.expected_seq) + " (batches must come in order)");
  }
  ++s.expected_seq;
  if (mb->seq == 0 && mb->step != s.start_step) {
    throw RunError("the first micro-batch is of step " + std::to_string(mb->step + 1) +
                   ", and train_step continues from step " + std::to_string(s.start_step) +
                   (s.resume.empty() ? "" : " (" + s.resume + ")") +
                   ": sample.start_step and train_step.model.resume must name the same step");
  }
  if (s.stopped) return;  // draining after a stop: the checkpoint is written
  DeviceUpload upload({mb->lr, mb->gt}, *s.device);
  if (!s.device->is_cuda()) return run(*mb, std::move(upload), out);  // one ahead on CUDA only
  std::optional<State::Held> previous = std::exchange(s.held, State::Held{mb, std::move(upload)});
  if (previous) run(*previous->batch, std::move(previous->upload), out);
  // Nothing follows the run's last micro-batch, nor (after a stop request) the last of a step:
  // compute it now, so that the step finishes and is saved.
  if ((mb->step + 1 >= s.total_steps || s.ctx.stop_requested()) && mb->micro + 1 >= mb->accum &&
      !s.stopped) {
    State::Held last = std::move(*s.held);
    s.held.reset();
    run(*last.batch, std::move(last.upload), out);
  }
}

void TrainStepStage::close(bool) {
  s_->held.reset();
  const State& s = *s_;
  if (s.collective && s.dist.rank == 0 && s.steps_done > 0) {
    char line[256];
    std::snprintf(line, sizeof line,
                  "train_step: %d ranks (%s): gradient all-reduce %.1f ms per step, %.1f%% of "
                  "the step's compute time\n",
                  s.dist.world_size, s.collective->backend().c_str(),
                  1e3 * s.allreduce_total_s / static_cast<double>(s.steps_done),
                  s.compute_total_s > 0 ? 100.0 * s.allreduce_total_s / s.compute_total_s : 0.0);
    std::fputs(line, stderr);
  }
  if (!s_->abort_message.empty()) throw RunError(s_->abort_message);
}

void TrainStepStage::run(const MicroBatch& mb, DeviceUpload upload, Emitter& out) {
  State& s = *s_;
  try {
    // Always on one thread: one OpenMP pool, never throttled (runtime/model/compute_thread.h).
    auto work = [&] { train_micro_batch(mb, std::move(upload), out); };
    if (s.exclusive) {
      ComputeThread::global().run_exclusive(work);
    } else {
      ComputeThread::global().run(work);
    }
  } catch (const std::exception& e) {
    if (!is_out_of_memory(e)) throw;
    throw RunError(out_of_memory_message({mb.step + 1, mb.format, mb.lr.size(0), mb.accum,
                                          s.model_options.use_checkpointing(), s.device->str(),
                                          error_first_line(e)}));
  }
}

void TrainStepStage::train_micro_batch(const MicroBatch& mb, DeviceUpload upload, Emitter& out) {
  State& s = *s_;
  const auto start = Clock::now();
  const std::int64_t step = mb.step;  // 0-based
  if (!s.first_batch) s.first_batch = start;
  if (mb.micro == 0) {
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
    const std::vector<torch::Tensor> on_device = upload.wait();
    // Raw 8/16-bit pixels become float RGB here, on the device.
    const torch::Tensor lr = raw_to_float_rgb(on_device[0]);
    const torch::Tensor gt = raw_to_float_rgb(on_device[1]);
    torch::Tensor loss;
    {
      AutocastGuard autocast(*s.device, s.precision);
      const torch::Tensor pred = s.model->forward(lr);
      loss = compute_loss(s.loss, pred.to(torch::kFloat), gt);
    }
    s.scaler->scale(loss / mb.accum).backward();
    s.step_loss += loss.item<double>() / mb.accum;
    s.step_samples += static_cast<int>(mb.lr.size(0));
  }
  if (mb.micro + 1 < mb.accum) {
    s.step_compute_s += since(start);
    s.last_done = Clock::now();
    return;
  }

  // The optimizer step. In a data-parallel job the gradients are averaged over the ranks first,
  // so the non-finite check and the clipping below see the same numbers on every rank, and the
  // ranks agree on the loss they log and on stopping after this step.
  double allreduce_s = 0;
  bool stop_requested = s.ctx.stop_requested();
  double trained_s = s.trained_before_s + since(*s.first_batch);
  if (s.collective) {
    std::vector<torch::Tensor> grads;
    for (const auto& p : s.all_params) {
      if (p.grad().defined()) grads.push_back(p.grad());
    }
    allreduce_s = s.collective->average(grads);
    const std::vector<double> agreed = s.collective->sum(
        {s.step_loss, stop_requested ? 1.0 : 0.0, static_cast<double>(s.step_samples), trained_s});
    s.step_loss = agreed[0] / s.dist.world_size;
    stop_requested = agreed[1] > 0;
    s.step_samples = static_cast<int>(agreed[2]);
    trained_s = agreed[3] / s.dist.world_size;  // one clock for the schedule and the end
  }
  const double lr = learning_rate_at(s.schedule, step, trained_s);
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
  const std::int64_t done = step + 1;
  bool stop_now = false;
  if (s.consecutive_skips >= kMaxNonfiniteSteps) {
    // The weights are those of the last good step (skipped steps change nothing): save them
    // and end the run once the checkpoint is written (close() throws this).
    s.abort_message = "the loss or gradients were not finite for " +
                      std::to_string(kMaxNonfiniteSteps) + " steps in a row (steps " +
                      std::to_string(done - kMaxNonfiniteSteps + 1) + "-" + std::to_string(done) +
                      "); the last good state is saved as " + checkpoint_file_name(done) +
                      ". Lower TRAINING.learning_rate, set TRAINING.grad_clip (e.g. 1.0) or check "
                      "the data (vsr_flow check-data), then continue with --resume";
    s.consecutive_skips = 0;  // a resumed run starts a new count
    stop_now = true;
  } else if (stop_requested) {
    stop_now = true;  // Ctrl-C / SIGTERM (on any rank): this step is finished, save it
  }
  if (!skipped && s.ema) s.ema->update(*s.model);
  const double budget_s = s.schedule.time_budget_s;  // 0: no limit
  const bool out_of_time = budget_s > 0 && trained_s >= budget_s;
  const bool last = done >= s.total_steps || (out_of_time && !stop_now);
  const double compute_s = s.step_compute_s + since(start);

  auto event = std::make_shared<StepEvent>();
  event->step = step + 1;
  event->total_steps = s.total_steps;
  event->format = mb.format;
  event->samples = s.step_samples;
  event->loss = s.step_loss;
  event->lr = lr;
  event->grad_norm = norm;
  event->compute_s = compute_s;
  event->wait_s = s.step_wait_s;
  event->skipped = skipped;
  event->loss_scale = s.scaler->current_scale();
  event->peak_memory_bytes = peak_memory_bytes(*s.device);
  event->memory_on_device = !s.device->is_cpu();
  event->world_size = s.dist.world_size;
  event->allreduce_s = allreduce_s;
  event->time_left_s = budget_s > 0 ? std::max(0.0, budget_s - trained_s) : -1;
  event->final = last;
  s.allreduce_total_s += allreduce_s;
  s.compute_total_s += compute_s;
  ++s.steps_done;
  out.emit<StepEvent>(0, event);
  s.step_compute_s = 0;
  s.step_wait_s = 0;

  const bool validate = !stop_now && (last || done % s.val_interval == 0);
  const bool checkpoint = stop_now || last || done % s.checkpoint_interval == 0;
  if (stop_now) {
    s.stopped = true;
    s.ctx.request_stop();
  } else if (last && done < s.total_steps) {
    // The time budget is spent: this is the run's last step, saved and validated as such;
    // the micro-batches already made for later steps are dropped.
    s.stopped = true;
    s.ctx.request_finish();
  }
  // Rank 0 alone validates and saves (the other ranks' pipelines have no such stages).
  if ((validate || checkpoint) && s.dist.rank == 0) {
    auto snap = std::make_shared<ModelSnapshot>();
    static_cast<CheckpointData&>(*snap) =
        capture_training_state(*s.model, s.ema.get(), *s.optimizer);
    snap->step = done;
    snap->total_steps = s.total_steps;
    snap->validate = validate;
    snap->checkpoint = checkpoint;
    snap->final = last;
    snap->base_channels = static_cast<int>(s.model_options.base_channels());
    snap->num_blocks = static_cast<int>(s.model_options.num_blocks());
    snap->scale = static_cast<int>(s.model_options.scale());
    snap->frames = static_cast<int>(s.model_options.frames());
    snap->optimizer_type = s.optimizer_name;
    snap->learning_rate = lr;
    snap->loss_scale = s.scaler->current_scale();
    snap->loss_scale_growth = s.scaler->growth_tracker();
    snap->nonfinite_streak = s.consecutive_skips;
    snap->train_time_s = trained_s;
    out.emit<ModelSnapshot>(1, snap);
  }
  s.last_done = Clock::now();
}

VSR_REGISTER_STAGE(TrainStepStage);

}  // namespace vsr
