#include "stages/data/check_report.h"

#include <algorithm>
#include <iostream>
#include <sstream>

#include "common/errors.h"
#include "graph/registry.h"
#include "runtime/io/fileio.h"

namespace vsr {

namespace {

// Problem kinds of check_pair, in the order the report lists them, with their headings.
const std::vector<std::pair<std::string, std::string>>& kind_titles() {
  static const std::vector<std::pair<std::string, std::string>> titles = {
      {"unreadable", "unreadable files"},
      {"bit_depth", "unsupported bit depth"},
      {"lr_stack", "wrong LR stack size"},
      {"gt_size", "wrong GT size"},
      {"val_size", "validation images too small"}};
  return titles;
}

std::string plural(std::int64_t n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// "8-bit", "16-bit" or "8-bit (3) and 16-bit (2)".
std::string bits_text(const std::map<int, std::int64_t>& bits) {
  std::string out;
  for (const auto& [b, n] : bits) {
    if (!out.empty()) out += " and ";
    out += std::to_string(b) + "-bit";
    if (bits.size() > 1) out += " (" + std::to_string(n) + ")";
  }
  return out;
}

constexpr std::size_t kMaxNotesPrinted = 10;

}  // namespace

StageSchema CheckReportStage::schema() {
  return StageSchema("check_report")
      .doc(
          "collects PairChecks; at the end prints a summary per format and fails the run listing "
          "every problem, grouped by kind (or prints 'dataset OK')")
      .input<PairCheck>("in")
      .optional("report", ParamType::kString, "", "JSON report to write; empty: none")
      .optional("progress_s", ParamType::kFloat, 10.0,
                "seconds between progress lines on stderr; 0: none")
      .at_least(0);
}

CheckReportStage::CheckReportStage(const StageContext& ctx)
    : ctx_(ctx),
      report_path_(ctx.param<std::string>("report")),
      progress_s_(ctx.param<double>("progress_s")),
      last_progress_(std::chrono::steady_clock::now()) {}

void CheckReportStage::process(std::size_t, const Message& in, Emitter&) {
  auto check = in.as<PairCheck>();
  const SampleRequest& r = *check->request;
  FormatTally& t = formats_[r.format_index];
  t.name = r.format;
  t.val = r.lr_path.empty();
  ++t.checked;
  ++checked_;
  for (int b : {check->gt_bits, check->lr_bits}) {
    if (b) ++t.bits[b];
  }
  if (!check->ok()) {
    ++t.with_problems;
    problem_count_ += static_cast<std::int64_t>(check->problems.size());
  }
  if (!check->ok() || !check->notes.empty()) found_.push_back(check);
  const auto now = std::chrono::steady_clock::now();
  if (progress_s_ > 0 &&
      std::chrono::duration<double>(now - last_progress_).count() >= progress_s_) {
    last_progress_ = now;
    std::cerr << ctx_.name << ": " << checked_ << " checked, " << plural(problem_count_, "problem")
              << " so far\n";
  }
}

void CheckReportStage::close(bool completed) {
  if (!completed) return;
  const bool stopped = ctx_.stop_requested();
  std::sort(found_.begin(), found_.end(),
            [](const auto& a, const auto& b) { return a->request->seq < b->request->seq; });

  std::int64_t pairs = 0, val_images = 0, pair_formats = 0;
  for (const auto& [index, t] : formats_) {
    (t.val ? val_images : pairs) += t.checked;
    pair_formats += t.val ? 0 : 1;
    std::cout << "checked " << (t.val ? "validation images" : t.name) << ": "
              << plural(t.checked, t.val ? "image" : "pair");
    if (!t.bits.empty()) std::cout << ", " << bits_text(t.bits);
    std::cout << ", "
              << (t.with_problems ? std::to_string(t.with_problems) + " with problems" : "ok")
              << "\n";
  }
  std::size_t notes = 0;
  for (const auto& c : found_) {
    for (const auto& n : c->notes) {
      if (notes++ < kMaxNotesPrinted) std::cout << "note: " << n << "\n";
    }
  }
  if (notes > kMaxNotesPrinted) {
    std::cout << "note: and " << notes - kMaxNotesPrinted << " more"
              << (report_path_.empty() ? "" : " (see the report)") << "\n";
  }

  std::string scope = plural(pairs, "pair") + " in " + plural(pair_formats, "format");
  if (val_images) scope += ", " + plural(val_images, "validation image");

  std::ostringstream listing;
  std::vector<std::pair<std::string, std::string>> titles = kind_titles();
  for (const auto& c : found_) {
    for (const auto& p : c->problems) {
      const bool known = std::any_of(titles.begin(), titles.end(),
                                     [&](const auto& t) { return t.first == p.kind; });
      if (!known) titles.push_back({p.kind, p.kind});
    }
  }
  for (const auto& [kind, title] : titles) {
    std::vector<const PairProblem*> of_kind;
    for (const auto& c : found_) {
      for (const auto& p : c->problems) {
        if (p.kind == kind) of_kind.push_back(&p);
      }
    }
    if (of_kind.empty()) continue;
    listing << "\n" << title << " (" << of_kind.size() << "):";
    for (const auto* p : of_kind) listing << "\n  - " << p->message;
  }

  if (!report_path_.empty()) {
    json doc = {{"ok", problem_count_ == 0 && !stopped},
                {"complete", !stopped},
                {"pairs", pairs},
                {"val_images", val_images},
                {"problem_count", problem_count_}};
    json formats = json::array();
    for (const auto& [index, t] : formats_) {
      json bits = json::object();
      for (const auto& [b, n] : t.bits) bits[std::to_string(b)] = n;
      formats.push_back({{"format", t.name},
                         {t.val ? "images" : "pairs", t.checked},
                         {"with_problems", t.with_problems},
                         {"bits", bits}});
    }
    doc["formats"] = formats;
    json problems = json::array(), notes_json = json::array();
    for (const auto& c : found_) {
      const SampleRequest& r = *c->request;
      json where = {{"format", r.format}, {"seq", r.seq}, {"gt", r.gt_path.string()}};
      if (!r.lr_path.empty()) where["lr"] = r.lr_path.string();
      for (const auto& p : c->problems) {
        json j = where;
        j["kind"] = p.kind;
        j["message"] = p.message;
        problems.push_back(std::move(j));
      }
      for (const auto& n : c->notes) {
        json j = where;
        j["message"] = n;
        notes_json.push_back(std::move(j));
      }
    }
    doc["problems"] = problems;
    doc["notes"] = notes_json;
    write_file_atomic(report_path_, doc.dump(2) + "\n");
    std::cout << "report: " << report_path_ << "\n";
  }

  if (stopped) {
    std::cout << "stopped after " << scope << "; " << plural(problem_count_, "problem") << " so far"
              << listing.str() << "\n";
    return;
  }
  if (problem_count_ == 0) {
    std::cout << "dataset OK: " << scope << "\n";
    return;
  }
  throw DataError(plural(problem_count_, "problem") + " in " + scope + ":" + listing.str());
}

VSR_REGISTER_STAGE(CheckReportStage);

}  // namespace vsr
