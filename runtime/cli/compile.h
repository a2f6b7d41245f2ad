// YAML config (training or conversion) -> resolved pipeline spec, and loading either a spec or a
// config. A spec is checked whole before anything runs (graph/spec.h: params, checks across
// params, checks of the world); a problem in a spec compiled from a config names the config key it
// came from and where the config gives it (file:line:col, or the --set that set it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graph/spec.h"
#include "runtime/config/convert_config.h"
#include "runtime/config/specs.h"
#include "runtime/dist/collective.h"

namespace vsr {

// What a command got from SPEC-or-CONFIG.
struct LoadedSpec {
  Spec spec;
  bool from_config = false;              // a YAML config compiled in memory
  ConfigKind kind = ConfigKind::kTrain;  // from_config only: which job it is
  std::string config_text;               // the YAML as written (from_config only)
  std::string experiment_dir;            // training configs only
  std::string probabilities_line;        // training configs only
  std::vector<std::string> warnings;     // world problems when loaded with world = false
  std::vector<std::string> notes;        // from RunOptions: what --resume did, for the console
  std::string resume_path;               // the checkpoint --resume picked ("": fresh)
  std::int64_t resume_step = 0;          // its step
  double resume_train_time_s = 0;        // its seconds trained (the time budget's)
};

// For specs that are about to run (`run`, `validate`): training specs get what
// prepare_training_doc/finish_training_spec add (runtime/cli/resume.h).
struct RunOptions {
  bool prepare = false;
  std::string resume;  // "", "auto" or a checkpoint path
  // The data-parallel job this process is a rank of (runtime/cli/distributed.h); world_size 1:
  // none.
  DistributedOptions dist;
};

// Compiles a YAML config (with --set overrides) into its job's self-contained spec, training or
// conversion by the config's sections (config_kind): every config default and every
// stage-param default filled in, the config text kept in meta. Problems of the world (a missing
// dataset, pretrained file or footage) do not stop it, since a spec is often compiled for
// another machine: they are returned in `warnings`, one line each.
json compile_config_file(const std::string& path, const std::vector<std::string>& overrides,
                         std::vector<std::string>* warnings = nullptr);

// A .yaml/.yml file is compiled; anything else is read as a JSON spec (--set is then an
// error, it applies to configs). Throws ConfigError or SpecError listing every problem, the
// world's included unless `options.world` is false.
LoadedSpec load_spec_or_config(const std::string& path, const std::vector<std::string>& overrides,
                               const CheckOptions& options = {}, const RunOptions& run = {});

bool is_config_path(const std::string& path);

// The kind of the YAML config at `path`; throws ConfigError when it is not a YAML config or
// cannot be read or parsed.
ConfigKind config_file_kind(const std::string& path);

// The dataset check of a YAML training config (`vsr_flow check-data`, see
// compile_check_data_spec), validated like any spec. Throws ConfigError for a file that is
// not a YAML config or a config with problems.
Spec compile_check_data_file(const std::string& path, const std::vector<std::string>& overrides,
                             const std::string& report_path);

}  // namespace vsr
