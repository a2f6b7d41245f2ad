#include "runtime/data/sampler.h"

#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

#include "common/errors.h"
#include "runtime/data/rng.h"

namespace vsr {
namespace {

// Salts keep the independent streams (format choice, permutations, augmentation) apart.
constexpr std::uint64_t kFormatSalt = 0x666F726D6174ULL;  // "format"
constexpr std::uint64_t kPermSalt = 0x7065726DULL;        // "perm"
constexpr std::uint64_t kAugSalt = 0x617567ULL;           // "aug"

}  // namespace

std::vector<std::uint32_t> pass_permutation(std::uint64_t seed, int format, std::uint64_t pass,
                                            std::size_t n) {
  std::vector<std::uint32_t> perm(n);
  std::iota(perm.begin(), perm.end(), std::uint32_t{0});
  Rng rng(hash_values(seed, kPermSalt, static_cast<std::uint64_t>(format), pass));
  for (std::size_t i = n; i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(rng.below(i));
    std::swap(perm[i - 1], perm[j]);
  }
  return perm;
}

StepSampler::StepSampler(std::vector<std::size_t> format_sizes, std::vector<double> weights,
                         std::vector<int> batch_size, std::vector<int> accum, std::uint64_t seed)
    : sizes_(std::move(format_sizes)),
      weights_(std::move(weights)),
      batch_size_(std::move(batch_size)),
      accum_(std::move(accum)),
      seed_(seed) {
  const std::size_t n = sizes_.size();
  if (n == 0) throw std::invalid_argument("StepSampler: no formats");
  if (weights_.size() != n || batch_size_.size() != n || accum_.size() != n) {
    throw std::invalid_argument(
        "StepSampler: sizes, weights, batch_size and accum need one entry per format (" +
        std::to_string(n) + "), got " + std::to_string(weights_.size()) + ", " +
        std::to_string(batch_size_.size()) + ", " + std::to_string(accum_.size()));
  }
  double total = 0;
  for (std::size_t f = 0; f < n; ++f) {
    const std::string which = "format #" + std::to_string(f);
    if (!std::isfinite(weights_[f]) || weights_[f] < 0) {
      throw std::invalid_argument("StepSampler: weight of " + which +
                                  " must be finite and >= 0, got " + std::to_string(weights_[f]));
    }
    if (batch_size_[f] <= 0 || accum_[f] <= 0) {
      throw std::invalid_argument("StepSampler: batch_size and accum of " + which +
                                  " must be > 0, got " + std::to_string(batch_size_[f]) + " and " +
                                  std::to_string(accum_[f]));
    }
    if (sizes_[f] == 0) throw DataError("StepSampler: " + which + " has no files to sample");
    if (sizes_[f] > std::numeric_limits<std::uint32_t>::max()) {
      throw std::invalid_argument("StepSampler: " + which + " has more than 2^32 files");
    }
    total += weights_[f];
  }
  if (!(total > 0)) throw std::invalid_argument("StepSampler: all format weights are 0");
  double running = 0;
  for (auto& w : weights_) {
    w /= total;
    running += w;
    cumulative_.push_back(running);
  }
  // The last format with weight > 0 takes whatever rounding left over.
  for (std::size_t f = n; f-- > 0;) {
    if (weights_[f] > 0) {
      for (std::size_t g = f; g < n; ++g) cumulative_[g] = 1.0;
      break;
    }
  }
  consumed_.assign(n, 0);
  perm_.resize(n);
  perm_pass_.assign(n, -1);
}

int StepSampler::format_of(std::int64_t step) const {
  const double u = to_unit(hash_values(seed_, kFormatSalt, static_cast<std::uint64_t>(step)));
  for (std::size_t f = 0; f < cumulative_.size(); ++f) {
    if (u < cumulative_[f] && weights_[f] > 0) return static_cast<int>(f);
  }
  return static_cast<int>(cumulative_.size() - 1);  // unreachable: the last cumulative is 1
}

void StepSampler::advance_to(std::int64_t step) {
  if (step < cursor_step_) {
    cursor_step_ = 0;
    consumed_.assign(consumed_.size(), 0);
  }
  for (; cursor_step_ < step; ++cursor_step_) {
    const int f = format_of(cursor_step_);
    consumed_[f] += static_cast<std::uint64_t>(batch_size_[f]) * accum_[f];
  }
}

std::size_t StepSampler::file_at(int format, std::uint64_t position) {
  const std::uint64_t n = sizes_[format];
  const auto pass = static_cast<std::int64_t>(position / n);
  if (perm_pass_[format] != pass) {
    perm_[format] = pass_permutation(seed_, format, static_cast<std::uint64_t>(pass), n);
    perm_pass_[format] = pass;
  }
  return perm_[format][position % n];
}

StepPlan StepSampler::plan(std::int64_t step) {
  if (step < 0) throw std::invalid_argument("StepSampler: negative step " + std::to_string(step));
  advance_to(step);
  StepPlan plan;
  plan.step = step;
  plan.format = format_of(step);
  plan.batch_size = batch_size_[plan.format];
  plan.accum = accum_[plan.format];
  std::uint64_t position = consumed_[plan.format];
  plan.picks.resize(plan.accum);
  for (int m = 0; m < plan.accum; ++m) {
    plan.picks[m].resize(plan.batch_size);
    for (int s = 0; s < plan.batch_size; ++s) {
      SamplePick& pick = plan.picks[m][s];
      pick.file = file_at(plan.format, position++);
      pick.seed = hash_values(seed_, kAugSalt, static_cast<std::uint64_t>(step),
                              static_cast<std::uint64_t>(m), static_cast<std::uint64_t>(s));
    }
  }
  consumed_[plan.format] = position;
  cursor_step_ = step + 1;
  return plan;
}

}  // namespace vsr
