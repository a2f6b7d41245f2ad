#include "runtime/cli/compile.h"

#include <fstream>
#include <sstream>

#include "graph/errors.h"
#include "graph/registry.h"
#include "runtime/config.h"
#include "runtime/errors.h"
#include "runtime/train_spec.h"

namespace vsr {

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open the file; check the path");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

bool is_config_path(const std::string& path) {
  auto ends = [&](const std::string& suffix) {
    return path.size() >= suffix.size() &&
           path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends(".yaml") || ends(".yml");
}

json compile_config_file(const std::string& path, const std::vector<std::string>& overrides) {
  const std::string text = read_text(path);
  const TrainConfig config = load_config_text(text, path, overrides);
  // Through the graph's validation, so that stage-level defaults are filled in as well.
  return to_json(
      parse_spec(compile_train_spec(config, text), Registry::global(), path + " (compiled)"));
}

LoadedSpec load_spec_or_config(const std::string& path, const std::vector<std::string>& overrides) {
  LoadedSpec out;
  if (is_config_path(path)) {
    out.from_config = true;
    out.config_text = read_text(path);
    const TrainConfig config = load_config_text(out.config_text, path, overrides);
    out.spec = parse_spec(compile_train_spec(config, out.config_text), Registry::global(),
                          path + " (compiled)");
    out.experiment_dir = config.experiment_dir();
    out.probabilities_line = format_probabilities_line(config);
    return out;
  }
  if (!overrides.empty()) {
    throw SpecError("--set applies to YAML training configs; " + path +
                    " is a JSON spec: edit its params instead");
  }
  out.spec = parse_spec(read_json_file(path), Registry::global(), path);
  return out;
}

Spec compile_check_data_file(const std::string& path, const std::vector<std::string>& overrides,
                             const std::string& report_path) {
  if (!is_config_path(path)) {
    throw ConfigError(path +
                      ": check-data reads a YAML training config (*.yaml), the one you "
                      "train with");
  }
  const TrainConfig config = load_config_text(read_text(path), path, overrides);
  return parse_spec(compile_check_data_spec(config, report_path), Registry::global(),
                    path + " (check-data)");
}

json make_infer_spec(const UpscaleJob& job) {
  auto stage = [](const char* name, json params) {
    return json{{"name", name}, {"type", name}, {"params", std::move(params)}};
  };
  json frames = stage("frames", {{"dir", job.input_dir}, {"frames", job.frames}});
  frames["max_in_flight"] = job.max_in_flight;
  return json{{"version", kSpecVersion},
              {"name", "upscale"},
              {"max_in_flight", job.max_in_flight},
              {"stages",
               {frames,
                stage("upscale", {{"checkpoint", job.checkpoint},
                                  {"weights", job.weights},
                                  {"frames", job.frames},
                                  {"tile", job.tile},
                                  {"tile_overlap", job.tile_overlap},
                                  {"device", job.device},
                                  {"threads", job.threads}}),
                stage("frame_writer", {{"dir", job.output_dir}})}},
              {"edges", {"frames.out -> upscale.in", "upscale.out -> frame_writer.in"}},
              {"meta",
               {{"usage",
                 "vsr_flow upscale CHECKPOINT --input DIR --output DIR [--tile N] runs this job "
                 "with the checkpoint's frame count; to run this file instead, set the paths "
                 "(frames.dir, upscale.checkpoint, frame_writer.dir) and the checkpoint's frames "
                 "in both frames and upscale, then: vsr_flow run pipelines/infer.json"}}}};
}

}  // namespace vsr
