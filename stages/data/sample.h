// sample: the training source. Scans the dataset when the run opens, then per optimizer step
// picks a format by format_weights and emits its batch_size x gradient_accumulation
// SampleRequests, one micro-batch per credit (so max_in_flight = micro-batches prefetched).
// Which files, formats and augmentation seeds a step gets depends only on seed and step. In a
// data-parallel job (world_size > 1) every rank plans the same steps for batch_size x world_size
// and emits its own batch_size of each micro-batch: the ranks' batches are disjoint, and their
// union is what one process with batch_size x world_size would train on.
//
//   {"name": "sample", "type": "sample", "max_in_flight": 4,
//    "params": {"data_root": "/data", "category": "general", "lr_version": "7frames",
//               "scale": 3, "formats": ["small_540", "medium_169"],
//               "format_weights": [0.6, 0.4], "batch_size": [4, 2],
//               "gradient_accumulation": [1, 2], "total_steps": 100000, "seed": 0}}
#pragma once

#include <memory>

#include "graph/stage.h"
#include "runtime/data/dataset.h"
#include "runtime/data/sampler.h"

namespace vsr {

class SampleStage : public Stage {
 public:
  static StageSchema schema();
  explicit SampleStage(const StageContext& ctx);
  void open() override;
  bool produce(Emitter& out) override;
  // A stop ends the source between optimizer steps, never inside one, and after one more
  // whole step: so train_step finishes a step after the stop whatever was in flight, and
  // saves it.
  bool can_stop() override;

 private:
  StageContext ctx_;
  std::vector<std::string> formats_;
  std::vector<double> weights_;
  std::vector<int> batch_size_;
  std::vector<int> accum_;
  std::int64_t total_steps_;
  std::int64_t start_step_;
  int scale_;
  int world_size_;
  int rank_;
  std::shared_ptr<const DatasetIndex> index_;
  std::unique_ptr<StepSampler> sampler_;
  StepPlan plan_;
  std::int64_t step_;
  int micro_ = 0;
  std::int64_t stop_after_ = -1;  // the step that ends the source once a stop is requested
  std::int64_t seq_ = 0;
};

}  // namespace vsr
