#include "stages/data/decode.h"

#include <cstdio>
#include <iostream>

#include "common/errors.h"
#include "graph/registry.h"
#include "runtime/data/image.h"
#include "runtime/data/rng.h"
#include "runtime/model/compute_thread.h"
#include "stages/data/messages.h"

namespace vsr {

namespace {

// The pair of `r` read (and, when `check_sizes`, checked as split will check it, so that a
// pair of the wrong size can be replaced here); throws DataError naming the file.
std::shared_ptr<DecodedSample> read_pair(std::shared_ptr<const SampleRequest> r, bool check_sizes) {
  auto sample = std::make_shared<DecodedSample>();
  sample->gt = read_image_bgr(r->gt_path);
  sample->lr_stack = read_image_bgr(r->lr_path);
  if (check_sizes) {
    check_gt_size(sample->gt, r->gt_size, r->gt_path.string());
    const cv::Size lr_frame(r->gt_size.width / r->scale, r->gt_size.height / r->scale);
    split_stack(sample->lr_stack, r->frames, lr_frame, r->lr_path.string());
  }
  sample->request = std::move(r);
  return sample;
}

// Which of the pair's two files a problem is about (the message names it).
std::string bad_file(const SampleRequest& r, const std::string& problem) {
  return problem.find(r.lr_path.string()) != std::string::npos ? r.lr_path.string()
                                                               : r.gt_path.string();
}

}  // namespace

StageSchema DecodeStage::schema() {
  return StageSchema("decode")
      .doc(
          "reads GT and LR stack (PNG/JPEG, 8/16-bit, alpha dropped) as decoded: BGR, 8/16-bit, "
          "and checks their sizes; a bad pair fails the run or is replaced (on_bad_sample)")
      .input<SampleRequest>("in")
      .output<DecodedSample>("out")
      .concurrent()
      .optional("on_bad_sample", ParamType::kString, "fail",
                "a pair that cannot be read or has the wrong size: fail (end the run naming it) "
                "or skip (replace it with another pair of its format, the same in every run)")
      .choices({"fail", "skip"})
      .optional("max_bad_fraction", ParamType::kFloat, 0.01,
                "skip: end the run when more than this fraction of the samples seen are bad "
                "(counted over at least 100 samples)")
      .range(0, 1)
      .optional("cache_mb", ParamType::kInt, 0,
                "keep up to this many MiB of decoded pairs in memory: a pair read once is not "
                "read or decoded again; 0: off")
      .at_least(0);
}

struct DecodeStage::Pixels {
  cv::Mat gt, lr_stack;
};

DecodeStage::DecodeStage(const StageContext& ctx)
    : skip_(ctx.param<std::string>("on_bad_sample") == "skip"),
      max_bad_fraction_(ctx.param<double>("max_bad_fraction")),
      cache_budget_(static_cast<std::size_t>(ctx.param<std::int64_t>("cache_mb")) << 20) {}

void DecodeStage::pause_for_step() {
  // Not while a CPU training step computes on every core (TRAINING.pause_data); a pair from
  // the cache costs no CPU and goes at once.
  if (const double waited = ComputeThread::global().wait_while_exclusive(); waited > 0) {
    paused_ns_ += static_cast<std::int64_t>(waited * 1e9);
  }
}

std::shared_ptr<DecodedSample> DecodeStage::read(std::shared_ptr<const SampleRequest> r,
                                                 bool check_sizes) {
  if (cache_budget_ == 0) {
    pause_for_step();
    return read_pair(std::move(r), check_sizes);
  }
  const std::string key = r->gt_path.string() + '\n' + r->lr_path.string();
  {
    std::shared_lock<std::shared_mutex> lock(cache_mutex_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      auto sample = std::make_shared<DecodedSample>();
      sample->gt = it->second->gt;  // shared pixels: the stages after decode never write them
      sample->lr_stack = it->second->lr_stack;
      sample->request = std::move(r);
      ++cache_hits_;
      return sample;
    }
  }
  pause_for_step();
  auto sample = read_pair(std::move(r), check_sizes);
  const std::size_t bytes = sample->gt.total() * sample->gt.elemSize() +
                            sample->lr_stack.total() * sample->lr_stack.elemSize();
  std::lock_guard<std::shared_mutex> lock(cache_mutex_);
  if (cache_bytes_ + bytes <= cache_budget_ && !cache_.count(key)) {
    cache_.emplace(key, std::make_shared<const Pixels>(Pixels{sample->gt, sample->lr_stack}));
    cache_bytes_ += bytes;
  }
  return sample;
}

void DecodeStage::count_bad(const std::string& file, const std::string& problem) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++bad_;
  const bool first = bad_files_.emplace(file, problem).second;
  const double counted = static_cast<double>(std::max(seen_, kMinSamplesForFraction));
  if (static_cast<double>(bad_) > max_bad_fraction_ * counted) {
    throw DataError(std::to_string(bad_) + " of " + std::to_string(seen_) +
                        " samples seen were bad, more than DATA.max_bad_fraction (" +
                        number_text(max_bad_fraction_) + ") allows; the last: " + problem +
                        ". Check the dataset with vsr_flow check-data",
                    file);
  }
  if (first) {
    std::cerr << "decode: replacing a bad sample (DATA.on_bad_sample: skip; each file is named "
                 "once): "
              << problem << "\n";
  }
}

void DecodeStage::process(std::size_t, const Message& in, Emitter& out) {
  auto request = in.as<SampleRequest>();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++seen_;
  }
  if (!skip_) {
    out.emit<DecodedSample>(0, read(std::move(request), /*check_sizes=*/false));
    return;
  }
  std::shared_ptr<const SampleRequest> current = request;
  for (int attempt = 0;; ++attempt) {
    try {
      out.emit<DecodedSample>(0, read(current, /*check_sizes=*/true));
      return;
    } catch (const DataError& e) {
      count_bad(bad_file(*current, e.what()), e.what());
      const FormatIndex* format =
          request->dataset ? &request->dataset->formats.at(request->format_index) : nullptr;
      if (!format || format->size() < 2 || attempt + 1 >= kMaxReplacementTries) {
        throw DataError(std::string(e.what()) + " (DATA.on_bad_sample: skip found no good " +
                            "replacement in " + std::to_string(attempt + 1) + " tries)",
                        bad_file(*current, e.what()));
      }
      // Another pair of the format, from the request's seed only: the same in every run.
      auto replacement = std::make_shared<SampleRequest>(*request);
      replacement->file =
          static_cast<std::size_t>(hash_values(request->seed, 0xBADu, attempt) % format->size());
      if (replacement->file == request->file) {
        replacement->file = (replacement->file + 1) % format->size();
      }
      replacement->gt_path = format->gt_path(replacement->file);
      replacement->lr_path = format->lr_path(replacement->file);
      current = std::move(replacement);
    }
  }
}

void DecodeStage::close(bool) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (cache_budget_ > 0) {
    std::lock_guard<std::shared_mutex> cache(cache_mutex_);
    char line[160];
    std::snprintf(line, sizeof line,
                  "decode: cache %zu pairs, %.1f MiB of cache_mb %zu; %lld of %lld samples came "
                  "from it\n",
                  cache_.size(), static_cast<double>(cache_bytes_) / (1 << 20), cache_budget_ >> 20,
                  static_cast<long long>(cache_hits_.load()), static_cast<long long>(seen_));
    std::cout << line;  // information, not a problem: muted with the rest on ranks > 0
  }
  if (paused_ns_ > 0) {
    char line[200];
    std::snprintf(line, sizeof line,
                  "decode: %.1f s of its time (busy s) was waiting while micro-batches computed "
                  "(TRAINING.pause_data)\n",
                  static_cast<double>(paused_ns_.load()) * 1e-9);
    std::cout << line;
  }
  if (bad_files_.empty()) return;
  std::cerr << "decode: " << bad_ << " of " << seen_ << " samples were bad and replaced ("
            << bad_files_.size() << (bad_files_.size() == 1 ? " file" : " files") << "):\n";
  for (const auto& [file, problem] : bad_files_) std::cerr << "  " << problem << "\n";
}

VSR_REGISTER_STAGE(DecodeStage);

}  // namespace vsr
