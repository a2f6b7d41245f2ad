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
      .shared();
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
      step_(start_step_) {}

void SampleStage::open() {
  index_ = std::make_shared<const DatasetIndex>(
      scan_dataset(ctx_.param<std::string>("data_root"), ctx_.param<std::string>("category"),
                   ctx_.param<std::string>("lr_version"), formats_));
  sampler_ =
      std::make_unique<StepSampler>(index_->sizes(), weights_, batch_size_, accum_,
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
  for (int slot = 0; slot < plan_.batch_size; ++slot) {
    auto r = std::make_shared<SampleRequest>();
    const SamplePick& pick = plan_.picks[micro_][slot];
    r->seq = seq_;
    r->step = step_;
    r->micro = micro_;
    r->slot = slot;
    r->batch_size = plan_.batch_size;
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
