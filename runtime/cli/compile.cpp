#include "runtime/cli/compile.h"

#include "common/errors.h"
#include "graph/registry.h"
#include "runtime/config/config.h"

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

// Names a problem of a spec compiled from `config` by the config key its value came from
// (meta.sources) and where the config gives that key; problems of values no key set keep their
// JSON path.
ProblemLabel config_label(const TrainConfig& config, const json& spec) {
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

Spec check_compiled(const json& doc, const TrainConfig& config, const std::string& origin,
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
  const Compiled c = load_config_file(path, overrides);
  return to_json(check_compiled(compile_train_spec(c.config, c.text), c.config,
                                path + " (compiled)", warnings ? warnings : &ignored));
}

LoadedSpec load_spec_or_config(const std::string& path, const std::vector<std::string>& overrides,
                               const CheckOptions& options) {
  LoadedSpec out;
  if (is_config_path(path)) {
    out.from_config = true;
    const Compiled c = load_config_file(path, overrides);
    out.config_text = c.text;
    out.spec = check_compiled(compile_train_spec(c.config, c.text), c.config, path + " (compiled)",
                              options.world ? nullptr : &out.warnings);
    out.experiment_dir = c.config.experiment_dir();
    out.probabilities_line = format_probabilities_line(c.config);
    return out;
  }
  if (!overrides.empty()) {
    throw SpecError("--set applies to YAML training configs; " + path +
                    " is a JSON spec: edit its params instead");
  }
  out.spec =
      check_whole(read_json_file(path), path, nullptr, options.world ? nullptr : &out.warnings);
  return out;
}

Spec compile_check_data_file(const std::string& path, const std::vector<std::string>& overrides,
                             const std::string& report_path) {
  if (!is_config_path(path)) {
    throw ConfigError(path +
                      ": check-data reads a YAML training config (*.yaml), the one you "
                      "train with");
  }
  const Compiled c = load_config_file(path, overrides);
  return check_compiled(compile_check_data_spec(c.config, report_path), c.config,
                        path + " (check-data)", nullptr);
}

}  // namespace vsr
