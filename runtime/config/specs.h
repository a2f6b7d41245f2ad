// The spec compiler: every job's pipeline spec (training, check-data, upscaling, conversion) is
// built here from shared fragments: the dataset params, the data subgraph (sample -> decode ->
// split -> augment -> batch) and the forward-pass params. Each value is given once: the values
// several stages read (scale, frames, formats, device, threads, seed, total_steps,
// log_interval) go in the spec's "shared" object. For every stage param that came from a config
// key, the spec's meta.sources maps "stage.param" (or "shared.name") to that key, so a problem
// found in the spec names the key the user wrote. Example output (abridged):
//
//   {"version": 1, "name": "general_fresh_7frames", "max_in_flight": 4,
//    "shared": {"scale": 3, "frames": 7, "formats": ["small_540"], ...},
//    "stages": [{"name": "sample", "type": "sample", "max_in_flight": 4, "params": {...}},
//               {"name": "decode", "type": "decode", "concurrency": 4, "params": {}}, ...],
//    "edges": ["sample.out -> decode.in", ...],
//    "meta": {"config_text": "...", "sources": {"augment.crop": "DATA.augmentation.crop"}, ...}}
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "runtime/config/config.h"
#include "runtime/config/convert_config.h"

namespace vsr {

// A spec under construction: stages, edges, shared values and where each value came from.
class SpecBuilder {
 public:
  using json = nlohmann::json;

  // Adds a stage; `sources` maps its params to the config keys they came from.
  json& stage(const std::string& name, const std::string& type, json params = json::object(),
              const std::map<std::string, std::string>& sources = {});
  void edge(const std::string& from, const std::string& to);
  // A value every stage that declares the param shared gets (its config key: `source`).
  void share(const std::string& name, json value, const std::string& source = "");
  // The spec: version, name, max_in_flight, shared, stages, edges; meta gets "sources".
  json build(const std::string& name, int max_in_flight, json meta = json::object()) const;

 private:
  json stages_ = json::array();
  json edges_ = json::array();
  json shared_ = json::object();
  json sources_ = json::object();
};

// The training data subgraph of `config`: sample -> decode -> split -> augment -> batch, with
// the shared values it reads (scale, formats, seed, total_steps). Returns the name of the last
// stage ("batch", whose "out" carries MicroBatches).
std::string add_training_data(SpecBuilder& spec, const TrainConfig& config);

// The training pipeline spec of `config`; `config_text` (the YAML as written) is kept in
// meta and in the checkpoint stage's params for the run's records. Deterministic: the same
// config gives the same JSON, byte for byte.
nlohmann::json compile_train_spec(const TrainConfig& config, const std::string& config_text);

// The dataset check of `config` (`vsr_flow check-data`): scan -> check_pair (concurrency =
// DATA.num_workers) -> check_report over the DATA keys the training spec reads, plus the
// validation folder (TrainConfig::val_dir). report_path: the JSON report, "" for none.
nlohmann::json compile_check_data_spec(const TrainConfig& config, const std::string& report_path);

// The conversion job of `config` (`vsr_flow convert`, pipelines/convert.json): clip_source ->
// window -> patches -> make_lr -> stack -> dataset_writer, window's validation frames straight
// to dataset_writer; patches and make_lr run RUN.num_workers threads, and RUN.prefetch frames
// are in flight. `config_text` (the YAML as written) is kept in meta and written next to the
// dataset's manifest. Deterministic, as compile_train_spec.
nlohmann::json compile_convert_spec(const ConvertConfig& config, const std::string& config_text);

// An upscaling job (`vsr_flow upscale`, pipelines/infer.json): frames -> upscale ->
// frame_writer. `frames` must be the checkpoint's frame count (the command reads it from the
// checkpoint's arch).
struct UpscaleJob {
  std::string checkpoint;
  std::string input;   // a video file or a folder of LR frames (name order)
  std::string output;  // a video file (codec by extension) or a folder of <frame name>.png
  int frames = 7;
  std::string weights = "ema";
  std::string precision = "off";  // off, bf16 or fp16 (CUDA only)
  int tile = 0;
  int tile_overlap = 16;
  double cut_threshold = 30;  // scene cuts the windows do not cross; 0: off
  double fps = 0;             // of a video output; 0: the input's
  std::string device = "auto";
  int threads = 0;
  int max_in_flight = 4;  // windows between the source and the writer
};

// The spec of an upscaling job, not yet validated (parse_spec fills in the defaults). Its
// meta.sources maps each param to the command-line option that sets it ("--tile").
nlohmann::json make_infer_spec(const UpscaleJob& job);

}  // namespace vsr
