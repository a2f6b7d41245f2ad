// Checkpoint files: a torch::pickle_save of one dict that Python's torch.load reads as plain
// dicts, lists, numbers and tensors:
//
//   {"format_version": 1,
//    "step": 5000,
//    "config": "<the YAML config text>",
//    "arch": {"base_channels": 64, "num_blocks": 10, "scale": 3, "frames": 7},
//    "model": {"feat.conv.weight": Tensor, ...},   # model.load_state_dict(ckpt["model"])
//    "ema": {name: Tensor, ...},                  # same names; {} when EMA is off
//    "optimizer": {"type": "adamw", "lr": 1e-4,
//                  "param_names": ["feat.conv.weight", ...],  # parameter index -> name
//                  "state": {"state.0.exp_avg": Tensor, ...}},
//    "loss_scale": 1.0,
//    "resume": {"loss_scale_growth": 0,    # fp16 scaler's steps since the last change
//               "nonfinite_streak": 0,     # non-finite steps in a row before `step`
//               "train_time_s": 612.5,     # seconds trained up to `step` (the time budget's)
//               "best_step": 500, "best_psnr": 31.2,  # best validation so far (0: none)
//               "run": "<JSON: the run's stage params, for --resume's compatibility check>"}}
//
// A file is written to a temporary name (runtime/io/fileio.h), fsynced, renamed over <path>,
// and the folder fsynced: a crash leaves the old file or the new one, never half of one.
//
//   save_checkpoint("checkpoints/checkpoint_step_005000.pth", data);
//   CheckpointData c = load_checkpoint("checkpoints/checkpoint_step_005000.pth");
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace vsr {

inline constexpr int kCheckpointFormatVersion = 1;

struct CheckpointData {
  using Named = std::vector<std::pair<std::string, at::Tensor>>;

  int format_version = kCheckpointFormatVersion;
  std::int64_t step = 0;
  std::string config;  // config text the run was started with
  // Architecture, so a loader can rebuild the network; 0 = unknown.
  int base_channels = 0;
  int num_blocks = 0;
  int scale = 0;
  int frames = 0;
  Named model;                 // state dict, stable names (runtime/model/model.h)
  Named ema;                   // EMA weights with the model's names; empty when EMA is off
  std::string optimizer_type;  // "adam", "adamw"
  double learning_rate = 0;    // of the main parameter group, at `step`
  std::vector<std::string> param_names;  // optimizer parameter index -> name
  Named optimizer_state;                 // "state.<param index>.<exp_avg|exp_avg_sq|step>"
  double loss_scale = 1;                 // fp16 dynamic loss scale
  // What --resume needs besides the weights (absent in older files: zeros and "").
  std::int64_t loss_scale_growth = 0;
  int nonfinite_streak = 0;
  double train_time_s = 0;     // wall-clock seconds trained up to `step`, over resumes
  std::int64_t best_step = 0;  // 0: no validation yet
  double best_psnr = 0;
  std::string run_params;  // JSON object text: {"stages": {name: params}, "shared": {...}}
};

// "checkpoint_step_005000.pth": the file name of step 5000's checkpoint.
std::string checkpoint_file_name(std::int64_t step);

// The checkpoint_step_NNNNNN.pth files of `dir` (step, path), oldest first; none when `dir`
// does not exist.
std::vector<std::pair<std::int64_t, std::filesystem::path>> list_step_checkpoints(
    const std::filesystem::path& dir);

// Writes {key: {name: tensor}} as a .pth of plain types (torch.load(weights_only=True) and
// spandrel read it), atomically: save_state_dicts("x.pth", {{"params_ema", &ema}, {"params",
// &model}}) is BasicSR's layout. Throws DataError/OutputError naming the file.
void save_state_dicts(
    const std::filesystem::path& path,
    const std::vector<std::pair<std::string, const CheckpointData::Named*>>& parts);

// Writes `data` atomically to `path`, creating its folder. Throws DataError naming the file.
void save_checkpoint(const std::filesystem::path& path, const CheckpointData& data);

// Reads a file written by save_checkpoint (or by Python's torch.save in the same structure;
// OrderedDicts are fine: the file is read by runtime/outputs/pth_reader.h). Throws
// DataError naming the file when it is missing, unreadable, not a checkpoint dict or of
// another format_version.
CheckpointData load_checkpoint(const std::filesystem::path& path);

// The tensors of a state dict file, as Python and spandrel lay them out: a name -> tensor dict
// (plain or OrderedDict), or one under the first of "model_state_dict", "state_dict",
// "params_ema", "params-ema", "params", ("ema" in a vsr_flow checkpoint), "model", "net" that is
// a non-empty dict; a "module." (DDP) or "netG." prefix common to all names is removed and
// float16/bfloat16/float64 tensors become float32. `*source`, when given, says where the weights
// came from ("\"params_ema\", prefix \"module.\" removed"). Throws DataError starting with `key`
// (the setting that named the file, e.g. "MODEL.pretrained"), naming the file and, for a dict
// that is none of these, its top-level keys and its first entries that are not tensors.
CheckpointData::Named read_state_dict(const std::filesystem::path& path, const std::string& key,
                                      std::string* source = nullptr);

}  // namespace vsr
