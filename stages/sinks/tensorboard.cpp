#include "stages/sinks/tensorboard.h"

#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "common/errors.h"
#include "graph/registry.h"

namespace vsr {

namespace {

// RGB CV_32FC3 in [0, 1] -> PNG bytes.
std::string encode_png(const cv::Mat& rgb) {
  cv::Mat u8, bgr;
  rgb.convertTo(u8, CV_8U, 255.0);  // saturating, rounds to nearest
  if (u8.channels() == 3) {
    cv::cvtColor(u8, bgr, cv::COLOR_RGB2BGR);
  } else {
    bgr = u8;
  }
  std::vector<uchar> bytes;
  if (!cv::imencode(".png", bgr, bytes)) throw DataError("cannot encode a PNG for TensorBoard");
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

StageSchema TensorBoardStage::schema() {
  return StageSchema("tensorboard")
      .doc(
          "TensorBoard event file: train scalars every log_interval steps, validation metrics "
          "and a few predicted images per validation")
      .input<StepEvent>("in", "one event per optimizer step")
      .input<ValResult>("val", "validation metrics")
      .input<ValImages>("images", "validation images; the first max_images pred_* are logged")
      .required("dir", ParamType::kString, "folder of the event file (created)")
      .non_empty()
      .creatable_dir()
      .optional("log_interval", ParamType::kInt, 100, "steps between train scalar writes")
      .at_least(1)
      .shared()
      .optional("max_images", ParamType::kInt, 3, "pred_* images logged per validation")
      .at_least(0)
      .optional("start_step", ParamType::kInt, 0,
                "steps done before this run (resumed runs): TensorBoard hides what an earlier "
                "file logged after it (a SessionLog START at start_step + 1)")
      .at_least(0);
}

TensorBoardStage::TensorBoardStage(const StageContext& ctx)
    : dir_(ctx.param<std::string>("dir")),
      log_interval_(ctx.param<std::int64_t>("log_interval")),
      max_images_(ctx.param<int>("max_images")),
      start_step_(ctx.param<std::int64_t>("start_step")) {}

void TensorBoardStage::open() {
  writer_ = std::make_unique<TensorBoardWriter>(dir_);
  if (start_step_ > 0) writer_->add_session_start(start_step_ + 1);
}

void TensorBoardStage::process(std::size_t port, const Message& in, Emitter&) {
  switch (port) {
    case 0:
      on_step(*in.as<StepEvent>());
      break;
    case 1:
      on_result(*in.as<ValResult>());
      break;
    default:
      on_images(*in.as<ValImages>());
      break;
  }
}

void TensorBoardStage::on_step(const StepEvent& e) {
  last_step_ = e.step;
  ++steps_;
  if (!e.skipped && std::isfinite(e.loss)) {
    loss_ += e.loss;
    ++loss_steps_;
  }
  if (e.skipped) ++skipped_total_;
  effective_batch_[e.format] = e.samples;
  lr_ = e.lr;
  peak_memory_ = e.peak_memory_bytes;
  memory_on_device_ = e.memory_on_device;
  grad_norm_ += e.grad_norm;
  throughput_.add(e.samples, e.wait_s, e.compute_s);
  if (e.step % log_interval_ == 0 || (e.total_steps > 0 && e.step >= e.total_steps)) {
    write_interval();
  }
}

void TensorBoardStage::write_interval() {
  if (steps_ == 0) return;
  if (loss_steps_ > 0) writer_->add_scalar("train/loss", loss_ / loss_steps_, last_step_);
  writer_->add_scalar("train/lr", static_cast<float>(lr_), last_step_);
  if (throughput_.has_time()) {
    writer_->add_scalar("train/samples_per_s", throughput_.samples_per_s(), last_step_);
    writer_->add_scalar("train/data_wait_fraction", throughput_.wait_fraction(), last_step_);
  }
  writer_->add_scalar("train/grad_norm", grad_norm_ / steps_, last_step_);
  // Samples per optimizer step (batch_size x gradient_accumulation) of the formats trained in
  // the interval.
  for (const auto& [format, samples] : effective_batch_) {
    writer_->add_scalar("train/effective_batch/" + format, static_cast<float>(samples), last_step_);
  }
  effective_batch_.clear();
  // Steps skipped for a non-finite loss or gradient (or an fp16 overflow), since the start.
  if (skipped_total_ > 0) {
    writer_->add_scalar("train/skipped_steps", static_cast<float>(skipped_total_), last_step_);
  }
  if (peak_memory_ > 0) {
    writer_->add_scalar(memory_on_device_ ? "train/peak_device_memory_gib" : "train/peak_rss_gib",
                        static_cast<double>(peak_memory_) / (1 << 30), last_step_);
  }
  steps_ = loss_steps_ = 0;
  loss_ = grad_norm_ = 0;
  throughput_.reset();
}

void TensorBoardStage::on_result(const ValResult& r) {
  writer_->add_scalar("val/psnr", r.psnr, r.step);
  writer_->add_scalar("val/psnr_y", r.psnr_y, r.step);
  writer_->add_scalar("val/ssim", r.ssim, r.step);
  writer_->add_scalar("val/bicubic_psnr", r.bicubic_psnr, r.step);
  writer_->add_scalar("val/bicubic_psnr_y", r.bicubic_psnr_y, r.step);
  writer_->add_scalar("val/psnr_gain_over_bicubic", r.psnr - r.bicubic_psnr, r.step);
  writer_->flush();
}

void TensorBoardStage::on_images(const ValImages& images) {
  auto find = [&](const std::string& name) -> const cv::Mat* {
    for (const auto& [n, image] : images.images) {
      if (n == name && !image.empty()) return &image;
    }
    return nullptr;
  };
  int written = 0;
  for (const auto& [name, image] : images.images) {
    if (written >= max_images_) break;
    if (name.rfind("pred_", 0) != 0 || image.empty()) continue;
    const std::string index = name.substr(5);
    const cv::Mat* bicubic = find("bicubic_" + index);
    const cv::Mat* gt = find("gt_" + index);
    if (bicubic && gt && bicubic->size() == image.size() && gt->size() == image.size() &&
        bicubic->type() == image.type() && gt->type() == image.type()) {
      // pred | bicubic | GT side by side, as BasicSR and traiNNer users compare them.
      cv::Mat strip;
      cv::hconcat(std::vector<cv::Mat>{image, *bicubic, *gt}, strip);
      writer_->add_image("val_images/pred_bicubic_gt_" + index, encode_png(strip), strip.rows,
                         strip.cols, images.step);
    } else {
      writer_->add_image("val_images/" + name, encode_png(image), image.rows, image.cols,
                         images.step);
    }
    ++written;
  }
  if (written > 0) writer_->flush();
}

void TensorBoardStage::close(bool) {
  if (!writer_) return;
  write_interval();  // a partial interval at the end of a stopped run
  writer_->flush();
  writer_.reset();
}

VSR_REGISTER_STAGE(TensorBoardStage);

}  // namespace vsr
