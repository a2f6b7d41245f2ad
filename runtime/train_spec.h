// Compiles a training config into the JSON pipeline spec that `vsr_flow run` executes: the
// stage types and params of stages/README.md, every default filled in. Example output
// (abridged):
//
//   {"version": 1, "name": "general_fresh_7frames", "max_in_flight": 4,
//    "stages": [{"name": "sample", "type": "sample", "max_in_flight": 4, "params": {...}},
//               {"name": "decode", "type": "decode", "concurrency": 4, "params": {}}, ...],
//    "edges": ["sample.out -> decode.in", ...],
//    "meta": {"config_text": "...", "experiment_dir": "...", ...}}
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "runtime/config.h"

namespace vsr {

constexpr int kTrainSpecVersion = 1;

// The training pipeline spec of `config`; `config_text` (the YAML as written) is kept in
// meta and in the checkpoint stage's params for the run's records. Deterministic: the same
// config gives the same JSON, byte for byte.
nlohmann::json compile_train_spec(const TrainConfig& config, const std::string& config_text);

// The dataset check of `config` (`vsr_flow check-data`): scan -> check_pair (concurrency =
// DATA.num_workers) -> check_report over the DATA keys the training spec reads, plus the
// validation folder (TrainConfig::val_dir). report_path: the JSON report, "" for none.
nlohmann::json compile_check_data_spec(const TrainConfig& config, const std::string& report_path);

}  // namespace vsr
