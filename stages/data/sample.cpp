#include "stages/data/sample.h"

#include "graph/registry.h"
#include "stages/data/dataset_params.h"
#include "stages/data/messages.h"

namespace vsr {

StageSchema SampleStage::schema() {
  StageSchema s("sample");
  s.doc(
       "training source: per step picks a format by weight and emits batch_size x "
       "gradient_accumulation SampleRequests, one micro-batch per credit")
      .output<SampleRequest>("out", "requests in step, micro-batch, slot order");
  dataset_params(s)
      .required("format_weights", ParamType::kFloatList, "sampling weight per format")
      .in(Range::above(0))
      .required("batch_size", ParamType::kIntList, "micro-batch size per format")
      .range(1, 256)
      .required("gradient_accumulation", ParamType::kIntList, "micro-batches per step, per format")
      .range(1, 256)
      .check("one weight, batch size and accumulation per format",
             [](const json& p, ParamProblems& out) {
               const std::size_t n = p.at("formats").size();
               for (const char* key : {"format_weights", "batch_size", "gradient_accumulation"}) {
                 if (p.at(key).size() == n) continue;
                 out.add(key, std::string(key) + " has " + std::to_string(p.at(key).size()) +
                                  " entries; it needs one per format (" + std::to_string(n) + ": " +
                                  p.at("formats").dump() + ")");
               }
             })
      .required("total_steps", ParamType::kInt, "optimizer steps to plan")
      .at_least(1)
      .shared()
      .optional("start_step", ParamType::kInt, 0, "first step to emit")
      .at_least(0)
      .optional("seed", ParamType::kInt, 0, "sampling and augmentation seed")
      .shared()
      .optional("world_size", ParamType::kInt, 1,
                "ranks of a data-parallel job (set by `vsr_flow run` from WORLD_SIZE): the "
                "plan is made for batch_size x world_size and each rank takes its share")
      .range(1, 65536)
      .optional("rank", ParamType::kInt, 0, "this process's rank (from RANK)")
      .at_least(0)
      .check("rank within the world", [](const json& p, ParamProblems& out) {
        if (p.at("rank").get<int>() >= p.at("world_size").get<int>()) {
          out.add("rank", "rank " + p.at("rank").dump() + " is not below world_size " +
                              p.at("world_size").dump());
        }
      });
  return dataset_folders_check(s);
}

SampleStage::SampleStage(const StageContext& ctx)
    : ctx_(ctx),
      formats_(ctx.param<std::vector<std::string>>("formats")),
      weights_(ctx.param<std::vector<double>>("format_weights")),
      batch_size_(ctx.param<std::vector<int>>("batch_size")),
      accum_(ctx.param<std::vector<int>>("gradient_accumulation")),
      total_steps_(ctx.param<std::int64_t>("total_steps")),
      start_step_(ctx.param<std::int64_t>("start_step")),
      scale_(ctx.param<int>("scale")),
      world_size_(ctx.param<int>("world_size")),
      rank_(ctx.param<int>("rank")),
      step_(start_step_) {}

void SampleStage::open() {
  index_ = std::make_shared<const DatasetIndex>(
      scan_dataset(ctx_.param<std::string>("data_root"), ctx_.param<std::string>("category"),
                   ctx_.param<std::string>("lr_version"), formats_));
  // One plan for the whole job: a micro-batch of batch_size x world_size picks, of which this
  // rank takes the slots [rank x batch_size, (rank + 1) x batch_size). So the job's samples (and
  // their augmentation seeds) are those a single process with batch_size x world_size gets.
  std::vector<int> job_batch = batch_size_;
  for (int& b : job_batch) b *= world_size_;
  sampler_ =
      std::make_unique<StepSampler>(index_->sizes(), weights_, job_batch, accum_,
                                    static_cast<std::uint64_t>(ctx_.param<std::int64_t>("seed")));
}

bool SampleStage::can_stop() {
  if (stop_after_ < 0) stop_after_ = step_;  // the step being emitted, or the next one
  return micro_ == 0 && step_ > stop_after_;
}

bool SampleStage::produce(Emitter& out) {
  if (step_ >= total_steps_) return false;
  if (micro_ == 0) plan_ = sampler_->plan(step_);
  const FormatIndex& fmt = index_->formats[plan_.format];
  const int batch_size = plan_.batch_size / world_size_;
  for (int slot = 0; slot < batch_size; ++slot) {
    auto r = std::make_shared<SampleRequest>();
    const SamplePick& pick = plan_.picks[micro_][rank_ * batch_size + slot];
    r->seq = seq_;
    r->step = step_;
    r->micro = micro_;
    r->slot = slot;
    r->batch_size = batch_size;
    r->accum = plan_.accum;
    r->format = fmt.format.name;
    r->format_index = plan_.format;
    r->gt_size = cv::Size(fmt.format.width, fmt.format.height);
    r->frames = index_->lr_version.frames;
    r->scale = scale_;
    r->gt_path = fmt.gt_path(pick.file);
    r->lr_path = fmt.lr_path(pick.file);
    r->seed = pick.seed;
    r->dataset = index_;
    r->file = pick.file;
    out.emit<SampleRequest>(0, std::move(r));
  }
  ++seq_;
  if (++micro_ == plan_.accum) {
    micro_ = 0;
    ++step_;
  }
  return true;
}

VSR_REGISTER_STAGE(SampleStage);

}  // namespace vsr
