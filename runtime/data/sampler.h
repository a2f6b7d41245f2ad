// The deterministic sampling plan of training: which format, files and augmentation seeds each
// optimizer step sees. It depends only on the seed and the step, never on workers or timing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vsr {

// One sample of a micro-batch: a file of the step's format and the seed of its augmentation.
struct SamplePick {
  std::size_t file = 0;    // index into that format's sorted pairs
  std::uint64_t seed = 0;  // drives augmentation; from (seed, step, micro, slot) only
};

// What one optimizer step sees: picks[micro][slot], accum x batch_size of them.
struct StepPlan {
  std::int64_t step = 0;
  int format = 0;  // index into the sampler's formats
  int batch_size = 0;
  int accum = 0;
  std::vector<std::vector<SamplePick>> picks;
};

// Formats are chosen per step by weight, independently for every step. Within a format the
// files are visited in a shuffled order without replacement: position p of that format's
// stream is permutation(seed, format, pass = p / n)[p % n], a fresh permutation each pass, so
// every file appears exactly once per pass. A step takes batch_size x accum consecutive
// positions (a batch may straddle two passes).
//
// Not thread-safe: plan() keeps a cursor so that sequential calls are O(1); calling it for an
// earlier step replays the format choices from step 0 (cheap: one hash per step).
class StepSampler {
 public:
  // Every vector has one entry per format. weights need not sum to 1 (they are normalised)
  // but must be finite, >= 0 and not all 0; sizes, batch sizes and accumulations must be > 0.
  // Throws DataError on an empty format and std::invalid_argument on inconsistent arguments.
  StepSampler(std::vector<std::size_t> format_sizes, std::vector<double> weights,
              std::vector<int> batch_size, std::vector<int> accum, std::uint64_t seed);

  StepPlan plan(std::int64_t step);

  // The format of a step, O(1).
  int format_of(std::int64_t step) const;
  std::size_t num_formats() const { return sizes_.size(); }
  const std::vector<double>& weights() const { return weights_; }

 private:
  void advance_to(std::int64_t step);
  std::size_t file_at(int format, std::uint64_t position);

  std::vector<std::size_t> sizes_;
  std::vector<double> weights_;     // normalised
  std::vector<double> cumulative_;  // running sum of weights_, last = 1
  std::vector<int> batch_size_;
  std::vector<int> accum_;
  std::uint64_t seed_;

  // Stream positions consumed by steps [0, cursor_step_).
  std::int64_t cursor_step_ = 0;
  std::vector<std::uint64_t> consumed_;
  // The permutation of the current pass of each format (pass -1: none yet).
  std::vector<std::vector<std::uint32_t>> perm_;
  std::vector<std::int64_t> perm_pass_;
};

// The permutation of [0, n) that pass `pass` of format `format` uses (Fisher-Yates on xoshiro).
std::vector<std::uint32_t> pass_permutation(std::uint64_t seed, int format, std::uint64_t pass,
                                            std::size_t n);

}  // namespace vsr
