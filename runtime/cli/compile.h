// YAML training config -> resolved pipeline spec, and loading either kind of file.
#pragma once

#include <string>
#include <vector>

#include "graph/spec.h"

namespace vsr {

// What a command got from SPEC-or-CONFIG.
struct LoadedSpec {
  Spec spec;
  bool from_config = false;        // a YAML training config compiled in memory
  std::string config_text;         // the YAML as written (from_config only)
  std::string experiment_dir;      // from_config only
  std::string probabilities_line;  // from_config only
};

// Compiles a YAML training config (with --set overrides) into a self-contained spec: every
// config default and every stage-param default filled in, the config text kept in meta.
json compile_config_file(const std::string& path, const std::vector<std::string>& overrides);

// A .yaml/.yml file is compiled; anything else is read as a JSON spec (--set is then an
// error, it applies to configs). Throws ConfigError or SpecError listing every problem.
LoadedSpec load_spec_or_config(const std::string& path, const std::vector<std::string>& overrides);

bool is_config_path(const std::string& path);

// The dataset check of a YAML training config (`vsr_flow check-data`, see
// compile_check_data_spec), validated like any spec. Throws ConfigError for a file that is
// not a YAML config or a config with problems.
Spec compile_check_data_file(const std::string& path, const std::vector<std::string>& overrides,
                             const std::string& report_path);

// An upscaling job (`vsr_flow upscale`, pipelines/infer.json): frames -> upscale ->
// frame_writer. `frames` must be the checkpoint's frame count (the command reads it from the
// checkpoint's arch).
struct UpscaleJob {
  std::string checkpoint;
  std::string input_dir;   // LR frames, name order
  std::string output_dir;  // <output_dir>/<frame stem>.png
  int frames = 7;
  std::string weights = "ema";
  int tile = 0;
  int tile_overlap = 16;
  std::string device = "auto";
  int threads = 0;
  int max_in_flight = 4;  // windows between the source and the writer
};

// The spec of an upscaling job, not yet validated (parse_spec fills in the defaults).
json make_infer_spec(const UpscaleJob& job);

}  // namespace vsr
