// Running stages alone or in small specs, for the stage tests: a registry with every real
// stage plus collector sinks, an emitter that keeps what a stage emits, and the suites whose
// tests are spread over the files of the stages they test.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "graph/pipeline.h"
#include "graph/registry.h"
#include "runtime/config/config.h"
#include "stages/data/messages.h"
#include "stages/infer/messages.h"
#include "tests/support/mock_dataset.h"

namespace vsr::testing {

// Everything a collector sink received, by stage name, in arrival order.
std::vector<Message> collected(const std::string& stage);
void clear_collected();

// Registry::global() plus: collect_batches (MicroBatch), collect_requests (SampleRequest),
// collect_frames (FrameSample); each with param delay_ms (sleep per message).
const Registry& stage_test_registry();

// Keeps what a stage emits when it is driven by hand.
class CapturingEmitter : public Emitter {
 public:
  void emit(std::size_t port, Message m) override {
    std::lock_guard<std::mutex> lock(mutex_);
    messages.push_back({port, std::move(m)});
  }
  std::vector<std::pair<std::size_t, Message>> messages;

 private:
  std::mutex mutex_;
};

// Builds the stage `type` from `params` (defaults filled in) with the global registry; `stop`
// is its pipeline's stop flag (StageContext::stop), `finish` its finish flag (::finish), if the
// test plays them.
std::unique_ptr<Stage> make_stage(const std::string& type, const json& params = json::object(),
                                  std::atomic<bool>* stop = nullptr,
                                  std::atomic<bool>* finish = nullptr);

// The largest difference of two images at one pixel and channel; expects one size and type.
double max_abs_diff(const cv::Mat& a, const cv::Mat& b);

// The data stages' suite (sample, split, augment and the data pipeline): one mock dataset
// (small_540 and medium_169, 7 frames, 5 clips each) for all its tests, and the training data
// subgraph over it as the spec compiler builds it (add_training_data).
class DataStages : public MockDatasetSuite<DataStages> {
 public:
  static constexpr const char* kDatasetName = "vsr_data_stages";
  static MockDatasetOptions dataset_options() {
    return {{"small_540", "medium_169"}, {7}, /*count=*/5, /*val_count=*/1, /*seed=*/3};
  }

 protected:
  // The tests' training config on root_: both formats at weights 0.5 / 0.5, batch sizes 2 / 1,
  // accumulation 1 / 2, crop 90, seed 11; `sets` are further overrides ("DATA.formats=[..]").
  static TrainConfig data_config(int workers, int steps, int prefetch = 3,
                                 const std::vector<std::string>& sets = {});
  // sample -> decode -> split -> augment -> batch of `config`, then a collect_batches "sink".
  static json training_data_spec(const TrainConfig& config, double sink_delay_ms = 0);
  // Runs the spec; what reached "sink", in arrival order.
  static std::vector<std::shared_ptr<const MicroBatch>> run_batches(
      const json& doc, std::vector<StageStats>* stats = nullptr);
};

// The dataset check's suite (scan, check_pair, check_report): one mock dataset (small_540 and
// medium_169, 5 and 7 frames, 3 clips each, 2 validation images) for all its tests.
class CheckDataStages : public MockDatasetSuite<CheckDataStages> {
 public:
  static constexpr const char* kDatasetName = "vsr_check_stages";
  static MockDatasetOptions dataset_options() {
    return {{"small_540", "medium_169"}, {5, 7}, /*count=*/3, /*val_count=*/2, /*seed=*/5};
  }
};

// The upscaling stages' suite (frames, upscale, frame_writer): per test, a folder of five
// 40x32 LR frames (lr/0000.png ...) and tiny untrained checkpoints (an untrained VSRNet
// outputs exactly bicubic upscaling of the centre frame).
class InferStagesTest : public ::testing::Test {
 protected:
  static constexpr int kScale = 2;

  void SetUp() override;
  void TearDown() override;

  std::filesystem::path frame_path(int i) const;
  void write_frame(int i, cv::Size size);
  // A fresh tiny VSRNet of `frames` frames saved as a checkpoint; returns its path.
  std::filesystem::path write_checkpoint(int frames, bool with_ema);
  // Every window the frames source makes of the lr folder.
  std::vector<std::shared_ptr<const FrameWindow>> windows(int frames);
  // Upscales every window; returns the images in order.
  std::vector<cv::Mat> upscale_all(const json& params, int frames);

  std::filesystem::path root_;
};

}  // namespace vsr::testing
