#include "runtime/cli/compile.h"

#include "common/errors.h"
#include "graph/registry.h"
#include "runtime/cli/distributed.h"
#include "runtime/cli/resume.h"
#include "runtime/config/config.h"
#include "runtime/config/convert_config.h"

namespace vsr {

namespace {

// A config and the text it was read from.
struct Compiled {
  std::string text;
  TrainConfig config;
};

Compiled load_config_file(const std::string& path, const std::vector<std::string>& overrides) {
  Compiled c;
  c.text = read_config_text(path);
  c.config = load_config_text(c.text, path, overrides);
  return c;
}

// A config of either kind compiled into its job's spec, not yet checked.
struct CompiledJob {
  ConfigKind kind = ConfigKind::kTrain;
  std::string text;
  json spec;
  ConfigOrigin origin;  // where each key came from, for the spec's problems
  TrainConfig train;    // kTrain only
};

CompiledJob compile_job(const std::string& path, const std::vector<std::string>& overrides) {
  CompiledJob job;
  job.text = read_config_text(path);
  job.kind = config_kind(job.text, path);
  if (job.kind == ConfigKind::kConvert) {
    const ConvertConfig config = load_convert_config_text(job.text, path, overrides);
    job.spec = compile_convert_spec(config, job.text);
    job.origin = config;
  } else {
    job.train = load_config_text(job.text, path, overrides);
    job.spec = compile_train_spec(job.train, job.text);
    job.origin = job.train;
  }
  return job;
}

// Names a problem of a spec compiled from `config` by the config key its value came from
// (meta.sources) and where the config gives that key; problems of values no key set keep their
// JSON path.
ProblemLabel config_label(const ConfigOrigin& config, const json& spec) {
  const json sources = spec.at("meta").value("sources", json::object());
  return [config, sources](const SpecProblem& p) {
    if (p.stage.empty() || p.param.empty()) return p.path;
    // A value taken from the spec's shared values came from the key that set that value.
    const bool shared = p.path.rfind("$.shared.", 0) == 0;
    const std::string ref =
        shared ? "shared." + p.param.substr(0, p.param.find('.')) : p.stage + "." + p.param;
    if (!sources.contains(ref)) return p.path;
    const std::string key = sources.at(ref).get<std::string>();
    return config.where(key) + ": " + key;
  };
}

// Checks `doc` whole; problems of the world go to `warnings` (when given) instead of failing.
Spec check_whole(const json& doc, const std::string& origin, const ProblemLabel& label,
                 std::vector<std::string>* warnings) {
  Spec spec;
  std::vector<SpecProblem> problems = check_spec(doc, Registry::global(), &spec);
  std::vector<SpecProblem> world;
  for (auto it = problems.begin(); warnings && it != problems.end();) {
    if (it->world) {
      world.push_back(*it);
      it = problems.erase(it);
    } else {
      ++it;
    }
  }
  if (!problems.empty()) throw SpecError(format_spec_problems(origin, problems, label));
  for (const auto& p : world) warnings->push_back((label ? label(p) : p.path) + ": " + p.message);
  return spec;
}

Spec check_compiled(const json& doc, const ConfigOrigin& config, const std::string& origin,
                    std::vector<std::string>* warnings) {
  return check_whole(doc, origin, config_label(config, doc), warnings);
}

}  // namespace

bool is_config_path(const std::string& path) {
  auto ends = [&](const std::string& suffix) {
    return path.size() >= suffix.size() &&
           path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends(".yaml") || ends(".yml");
}

json compile_config_file(const std::string& path, const std::vector<std::string>& overrides,
                         std::vector<std::string>* warnings) {
  std::vector<std::string> ignored;
  const CompiledJob job = compile_job(path, overrides);
  return to_json(
      check_compiled(job.spec, job.origin, path + " (compiled)", warnings ? warnings : &ignored));
}

ConfigKind config_file_kind(const std::string& path) {
  if (!is_config_path(path)) {
    throw ConfigError(path + " is not a YAML config (*.yaml, *.yml)", path);
  }
  return config_kind(read_config_text(path), path);
}

LoadedSpec load_spec_or_config(const std::string& path, const std::vector<std::string>& overrides,
                               const CheckOptions& options, const RunOptions& run) {
  LoadedSpec out;
  if (is_config_path(path)) {
    out.from_config = true;
    CompiledJob job = compile_job(path, overrides);
    out.kind = job.kind;
    out.config_text = job.text;
    ResumeInfo from;
    if (run.prepare) {
      from = prepare_training_doc(job.spec, run.resume, out.notes);
      prepare_distributed_doc(job.spec, run.dist, out.notes);
    }
    out.spec = check_compiled(job.spec, job.origin, path + " (compiled)",
                              options.world ? nullptr : &out.warnings);
    if (run.prepare) finish_training_spec(out.spec, from, out.notes);
    if (run.dist.rank > 0) drop_rank0_stages(out.spec);
    out.resume_path = from.path;
    out.resume_step = from.checkpoint.step;
    out.resume_train_time_s = from.checkpoint.train_time_s;
    if (job.kind == ConfigKind::kTrain) {
      out.experiment_dir = job.train.experiment_dir();
      out.probabilities_line = format_probabilities_line(job.train);
    }
    return out;
  }
  if (!overrides.empty()) {
    throw SpecError("--set applies to YAML training configs; " + path +
                    " is a JSON spec: edit its params instead");
  }
  json doc = read_json_file(path);
  ResumeInfo from;
  if (run.prepare) {
    from = prepare_training_doc(doc, run.resume, out.notes);
    prepare_distributed_doc(doc, run.dist, out.notes);
  }
  out.spec = check_whole(doc, path, nullptr, options.world ? nullptr : &out.warnings);
  if (run.prepare) finish_training_spec(out.spec, from, out.notes);
  if (run.dist.rank > 0) drop_rank0_stages(out.spec);
  out.resume_path = from.path;
  out.resume_step = from.checkpoint.step;
  out.resume_train_time_s = from.checkpoint.train_time_s;
  return out;
}

Spec compile_check_data_file(const std::string& path, const std::vector<std::string>& overrides,
                             const std::string& report_path) {
  if (!is_config_path(path)) {
    throw ConfigError(path +
                      ": check-data reads a YAML training config (*.yaml), the one you "
                      "train with");
  }
  if (config_file_kind(path) == ConfigKind::kConvert) {
    throw ConfigError(path +
                          ": check-data reads a YAML training config; this is a conversion config "
                          "(vsr_flow convert): check the dataset it writes with a training config "
                          "whose DATA.data_root is its OUTPUT.output_root",
                      path);
  }
  const Compiled c = load_config_file(path, overrides);
  return check_compiled(compile_check_data_spec(c.config, report_path), c.config,
                        path + " (check-data)", nullptr);
}

}  // namespace vsr
