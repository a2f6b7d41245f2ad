// The progress sink: plain lines off a terminal, a redrawn bar on one.
#include "stages/sinks/progress.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "common/errors.h"
#include "graph/registry.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

StageContext progress_context(json params) {
  for (const auto& p : Registry::global().get("progress").schema.params()) {
    if (!params.contains(p.name)) params[p.name] = p.default_value;
  }
  StageContext ctx;
  ctx.name = "progress";
  ctx.type = "progress";
  ctx.params = std::move(params);
  return ctx;
}

StepEvent event(std::int64_t step, std::int64_t total, double loss) {
  StepEvent e;
  e.step = step;
  e.total_steps = total;
  e.samples = 4;
  e.loss = loss;
  e.lr = 1e-4;
  e.compute_s = 0.9;
  e.wait_s = 0.1;
  return e;
}

Message step_event(std::int64_t step, std::int64_t total, double loss) {
  return Message::make(event(step, total, loss));
}

Message val_result() {
  ValResult r;
  r.step = 500;
  r.psnr = 28.41;
  r.psnr_y = 29.80;
  r.ssim = 0.8123;
  r.bicubic_psnr = 27.10;
  r.bicubic_psnr_y = 28.35;
  return Message::make(r);
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(Progress, ShowsThePeakMemoryOfTheDeviceOrTheProcess) {
  for (const bool on_device : {true, false}) {
    std::ostringstream text;
    ProgressStage stage(progress_context({{"total_steps", 2}, {"log_interval", 2}}), text,
                        /*live=*/false);
    testing::CapturingEmitter out;
    for (int s = 1; s <= 2; ++s) {
      StepEvent e = event(s, 2, 0.5);
      e.peak_memory_bytes = std::int64_t{3} << 29;  // 1.5 GiB
      e.memory_on_device = on_device;
      stage.process(0, Message::make(e), out);
    }
    stage.close(true);
    EXPECT_THAT(text.str(), HasSubstr(on_device ? "| peak mem 1.50 GiB" : "| peak RSS 1.50 GiB"));
  }
}

TEST(Progress, PlainLinesPerIntervalAndValidation) {
  std::ostringstream text;
  ProgressStage stage(progress_context({{"total_steps", 10}, {"log_interval", 5}}), text,
                      /*live=*/false);
  testing::CapturingEmitter out;
  for (int s = 1; s <= 10; ++s) {
    stage.process(0, step_event(s, 10, 0.0312), out);
    if (s == 5) stage.process(1, val_result(), out);
  }
  stage.close(true);
  EXPECT_EQ(lines(text.str()),
            (std::vector<std::string>{
                "step 5/10 | loss 0.0312 (smoothed EMA 0.98) | lr 1.00e-04 | 4.0 samples/s | "
                "data wait 10% | ETA 0:00:05",
                "val step 500: PSNR 28.41 dB (Y 29.80) SSIM 0.8123 | bicubic 27.10 dB (Y 28.35) | "
                "+1.31 dB (Y +1.45)",
                "step 10/10 | loss 0.0312 (smoothed EMA 0.98) | lr 1.00e-04 | 4.0 samples/s | "
                "data wait 10% | ETA 0:00:00"}));
  EXPECT_TRUE(out.messages.empty());
}

TEST(Progress, SkippedNonFiniteStepsAreCounted) {
  std::ostringstream text;
  ProgressStage stage(progress_context({{"total_steps", 4}, {"log_interval", 2}}), text,
                      /*live=*/false);
  testing::CapturingEmitter out;
  for (int s = 1; s <= 4; ++s) {
    StepEvent e = event(s, 4, s == 2 || s == 3 ? std::nan("") : 0.02);
    e.skipped = s == 2 || s == 3;
    stage.process(0, Message::make(e), out);
  }
  const auto l = lines(text.str());
  ASSERT_EQ(l.size(), 2u);
  EXPECT_THAT(l[0], HasSubstr("| skipped 1 (non-finite)"));
  EXPECT_THAT(l[1], HasSubstr("| skipped 2 (non-finite)"));
}

TEST(Progress, LossIsABiasCorrectedMovingAverageAndTotalComesFromEvents) {
  std::ostringstream text;
  // total_steps 0: the events' total (4) is used.
  ProgressStage stage(progress_context({{"log_interval", 2}}), text, /*live=*/false);
  testing::CapturingEmitter out;
  stage.process(0, step_event(1, 4, 1.0), out);
  stage.process(0, step_event(2, 4, 0.0), out);
  // (0.02 * 1 * 0.98 + 0.02 * 0) / (1 - 0.98^2) = 0.4949...
  EXPECT_THAT(text.str(), StartsWith("step 2/4 | loss 0.4949 "));
  EXPECT_THAT(text.str(), HasSubstr("ETA 0:00:02"));
}

TEST(Progress, NegativeGainHasItsSign) {
  std::ostringstream text;
  ProgressStage stage(progress_context({}), text, /*live=*/false);
  testing::CapturingEmitter out;
  ValResult r;
  r.step = 7;
  r.psnr = 26.0;
  r.psnr_y = 27.0;
  r.ssim = 0.5;
  r.bicubic_psnr = 26.5;
  r.bicubic_psnr_y = 26.75;
  stage.process(1, Message::make(r), out);
  EXPECT_THAT(text.str(), EndsWith("| bicubic 26.50 dB (Y 26.75) | -0.50 dB (Y +0.25)\n"));
}

TEST(Progress, LiveBarRedrawsOneLineAndValidationGetsItsOwn) {
  std::ostringstream text;
  ProgressStage stage(progress_context({{"total_steps", 4}}), text, /*live=*/true);
  testing::CapturingEmitter out;
  stage.process(0, step_event(1, 4, 0.5), out);  // first step draws
  stage.process(1, val_result(), out);
  for (int s = 2; s <= 4; ++s) stage.process(0, step_event(s, 4, 0.5), out);  // last step draws
  stage.close(true);
  const std::string s = text.str();
  EXPECT_THAT(s, StartsWith("\r[#####---------------]  25% step 1/4 | loss 0.5000 | lr"));
  EXPECT_THAT(s, HasSubstr("\r\x1b[Kval step 500: PSNR 28.41 dB"));
  EXPECT_THAT(s, HasSubstr("\r[####################] 100% step 4/4 | loss 0.5000 |"));
  EXPECT_THAT(s, Not(HasSubstr("smoothed")));
  EXPECT_THAT(s, EndsWith("ETA 0:00:00\x1b[K\n"));
}

TEST(Progress, DurationFormat) {
  EXPECT_EQ(ProgressStage::format_duration(754), "0:12:34");
  EXPECT_EQ(ProgressStage::format_duration(36000.4), "10:00:00");
  EXPECT_EQ(ProgressStage::format_duration(-1), "-:--:--");
}

TEST(Progress, StreamParamIsChecked) {
  EXPECT_NO_THROW(testing::make_stage("progress", {{"stream", "stderr"}, {"live", "never"}}));
  try {
    testing::make_stage("progress", {{"stream", "file"}});
    FAIL() << "expected SpecError";
  } catch (const SpecError& e) {
    EXPECT_THAT(e.what(), HasSubstr("stream"));
  }
}

}  // namespace
}  // namespace vsr
