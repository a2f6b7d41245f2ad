// What `vsr_flow run` adds to a training spec before and after it is checked: --resume (auto or
// a checkpoint path) turned into the stages' params, the free space a few checkpoints need, the
// run's params stored in every checkpoint, and the check that a resumed checkpoint fits the run.
//
//   std::vector<std::string> notes;
//   const ResumeInfo from = prepare_training_doc(doc, "auto", notes);  // before check_spec
//   finish_training_spec(spec, from, notes);                          // after it
//
// A doc without train_step and checkpoint stages (conversion, upscaling) is left alone.
#pragma once

#include <string>
#include <vector>

#include "graph/spec.h"
#include "runtime/outputs/checkpoint.h"

namespace vsr {

// The checkpoint a run resumes from; path "" for a fresh run.
struct ResumeInfo {
  std::string path;
  CheckpointData checkpoint;  // its step, architecture and run_params (weights dropped)
};

// `resume`: "" (fresh: a folder with checkpoints is then refused by the checkpoint stage),
// "auto" (the newest checkpoint of the run's folder that loads; fresh when there is none yet)
// or a checkpoint path. Sets sample.start_step, train_step.model.resume, checkpoint.resume and
// tensorboard.start_step, and checkpoint.min_free_bytes (three checkpoints of this model).
// Lines for the console go to `notes`. Throws ConfigError when --resume cannot be applied.
ResumeInfo prepare_training_doc(json& doc, const std::string& resume,
                                std::vector<std::string>& notes);

// Stores the resolved stage params in the checkpoint stage (checkpoint.run_params) and, for a
// resumed run, compares them with the checkpoint's: a different architecture, scale, frame
// count, category or format list throws ConfigError listing every difference; other changes
// (total_steps, val_interval, ...) are allowed and listed in `notes`.
void finish_training_spec(Spec& spec, const ResumeInfo& from, std::vector<std::string>& notes);

}  // namespace vsr
