#include "stages/sinks/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

#include "graph/registry.h"

namespace vsr {

namespace {

constexpr auto kRedrawPeriod = std::chrono::milliseconds(200);
constexpr int kBarWidth = 20;

std::string format(const char* fmt, double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, value);
  return buf;
}

bool stream_is_terminal(const std::string& stream) {
  return ::isatty(stream == "stderr" ? STDERR_FILENO : STDOUT_FILENO) == 1;
}

bool pick_live(const StageContext& ctx) {
  const std::string live = ctx.param<std::string>("live");
  if (live == "auto") return stream_is_terminal(ctx.param<std::string>("stream"));
  return live == "always";
}

}  // namespace

StageSchema ProgressStage::schema() {
  return StageSchema("progress")
      .doc(
          "console progress: a line per log_interval (or a live bar on a terminal) and a line "
          "per validation")
      .input<StepEvent>("in", "one event per optimizer step")
      .input<ValResult>("val", "validation metrics")
      .optional("total_steps", ParamType::kInt, 0,
                "steps of the run; 0 takes the total from the step events")
      .at_least(0)
      .shared()
      .optional("log_interval", ParamType::kInt, 100, "steps between plain lines")
      .at_least(1)
      .shared()
      .optional("stream", ParamType::kString, "stdout", "where to print")
      .choices({"stdout", "stderr"})
      .optional("live", ParamType::kString, "auto",
                "single redrawn bar line: auto (when the stream is a terminal), always, never")
      .choices({"auto", "always", "never"});
}

ProgressStage::ProgressStage(const StageContext& ctx)
    : ProgressStage(ctx, ctx.param<std::string>("stream") == "stderr" ? std::cerr : std::cout,
                    pick_live(ctx)) {}

ProgressStage::ProgressStage(const StageContext& ctx, std::ostream& out, bool live)
    : out_(&out),
      live_(live),
      total_steps_(ctx.param<std::int64_t>("total_steps")),
      log_interval_(ctx.param<std::int64_t>("log_interval")) {}

std::string ProgressStage::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-:--:--";
  const auto s = static_cast<long long>(std::llround(seconds));
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  return buf;
}

void ProgressStage::process(std::size_t port, const Message& in, Emitter&) {
  if (port == 0) {
    on_step(*in.as<StepEvent>());
  } else {
    on_result(*in.as<ValResult>());
  }
}

std::string ProgressStage::status(std::int64_t step, std::int64_t total) const {
  std::string line = "step " + std::to_string(step) + "/" + std::to_string(total);
  if (loss_count_ > 0) {
    const double loss = loss_avg_ / (1 - std::pow(kLossBeta, static_cast<double>(loss_count_)));
    line += " | loss " + format("%.4f", loss);
    if (!live_) line += format(" (smoothed EMA %.2f)", kLossBeta);
  }
  line += " | lr " + format("%.2e", lr_);
  line += " | " + format("%.1f", samples_per_s_) + " samples/s";
  line += " | data wait " + format("%.0f", 100 * wait_fraction_) + "%";
  if (peak_memory_ > 0) {
    line += std::string(memory_on_device_ ? " | peak mem " : " | peak RSS ") +
            format("%.2f", static_cast<double>(peak_memory_) / (1 << 30)) + " GiB";
  }
  if (skipped_ > 0) line += " | skipped " + std::to_string(skipped_) + " (non-finite)";
  double eta = step_seconds_ > 0 ? static_cast<double>(total - step) * step_seconds_ : -1;
  if (time_left_ >= 0) eta = eta < 0 ? time_left_ : std::min(eta, time_left_);
  line += " | ETA " + format_duration(step >= total ? 0 : eta);
  return line;
}

void ProgressStage::on_step(const StepEvent& e) {
  if (e.skipped) ++skipped_;
  if (!e.skipped && std::isfinite(e.loss)) {
    loss_avg_ = kLossBeta * loss_avg_ + (1 - kLossBeta) * e.loss;
    ++loss_count_;
  }
  lr_ = e.lr;
  peak_memory_ = e.peak_memory_bytes;
  memory_on_device_ = e.memory_on_device;
  window_.add(e.samples, e.wait_s, e.compute_s);
  last_step_ = e.step;
  last_total_ = total_steps_ > 0 ? total_steps_ : e.total_steps;
  time_left_ = e.final ? 0 : e.time_left_s;

  const bool last = e.final || (last_total_ > 0 && e.step >= last_total_);
  const auto now = std::chrono::steady_clock::now();
  const bool due =
      live_ ? (last || now - last_draw_ >= kRedrawPeriod) : (last || e.step % log_interval_ == 0);
  if (!due) return;

  if (window_.has_time()) {
    samples_per_s_ = window_.samples_per_s();
    wait_fraction_ = window_.wait_fraction();
    step_seconds_ = window_.seconds_per_step();
  }
  window_.reset();
  last_draw_ = now;

  const std::string line = status(e.step, last_total_);
  if (live_) {
    const double frac = last_total_ > 0 ? std::min(1.0, double(e.step) / last_total_) : 0;
    const int filled = static_cast<int>(frac * kBarWidth);
    *out_ << "\r[" << std::string(filled, '#') << std::string(kBarWidth - filled, '-') << "] "
          << format("%3.0f", 100 * frac) << "% " << line << "\x1b[K" << std::flush;
    bar_shown_ = true;
  } else {
    *out_ << line << std::endl;
  }
}

void ProgressStage::clear_bar() {
  if (bar_shown_) *out_ << "\r\x1b[K";
  bar_shown_ = false;
}

void ProgressStage::on_result(const ValResult& r) {
  clear_bar();
  *out_ << "val step " << r.step << ": PSNR " << format("%.2f", r.psnr) << " dB (Y "
        << format("%.2f", r.psnr_y) << ") SSIM " << format("%.4f", r.ssim) << " | bicubic "
        << format("%.2f", r.bicubic_psnr) << " dB (Y " << format("%.2f", r.bicubic_psnr_y) << ") | "
        << format("%+.2f", r.psnr - r.bicubic_psnr) << " dB (Y "
        << format("%+.2f", r.psnr_y - r.bicubic_psnr_y) << ")" << std::endl;
  last_draw_ = {};  // redraw the bar at the next step
}

void ProgressStage::close(bool) {
  if (bar_shown_) *out_ << "\n" << std::flush;
  bar_shown_ = false;
}

VSR_REGISTER_STAGE(ProgressStage);

}  // namespace vsr
