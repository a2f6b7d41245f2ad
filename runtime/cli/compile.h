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

}  // namespace vsr
