#include "runtime/cli/resume.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <utility>

#include "common/errors.h"
#include "runtime/model/model.h"

namespace vsr {

namespace {

// The first stage of `type` in a spec document, or nullptr.
json* doc_stage(json& doc, const std::string& type) {
  if (!doc.is_object() || !doc.contains("stages") || !doc["stages"].is_array()) return nullptr;
  for (auto& s : doc["stages"]) {
    if (s.is_object() && s.value("type", "") == type) return &s;
  }
  return nullptr;
}

json& params_of(json& stage) {
  if (!stage.contains("params") || !stage["params"].is_object()) stage["params"] = json::object();
  return stage["params"];
}

// The member `key` of `obj`, in place; null when `obj` is no object or has no such member.
const json* member(const json* obj, const std::string& key) {
  if (!obj || !obj->is_object()) return nullptr;
  const auto it = obj->find(key);
  return it == obj->end() ? nullptr : &*it;
}

// A param of a stage before the spec is checked: its own value, else the spec's shared one.
// (Pointers into `doc` itself: json::value() would return copies that die on return.)
const json* unchecked_param(const json& doc, const json& stage, const std::string& group,
                            const std::string& name) {
  const json* params = member(&stage, "params");
  const json* scope = group.empty() ? params : member(params, group);
  if (const json* own = member(scope, name)) return own;
  return group.empty() ? member(member(&doc, "shared"), name) : nullptr;
}

// Bytes of one checkpoint of the model train_step builds: weights, EMA and Adam's two moments
// in float32, plus a little for names and the config; 0 when the params are not usable yet
// (the spec check reports them).
std::int64_t checkpoint_bytes(const json& doc, const json& train_step) {
  try {
    auto number = [&](const std::string& group, const std::string& name) -> std::int64_t {
      const json* v = unchecked_param(doc, train_step, group, name);
      if (!v || !v->is_number_integer()) throw std::invalid_argument(name);
      return v->get<std::int64_t>();
    };
    VSRNetOptions options;
    options.base_channels(number("model", "base_channels"))
        .num_blocks(number("model", "num_blocks"))
        .scale(number("", "scale"))
        .frames(number("", "frames"));
    if (options.base_channels() < 1 || options.base_channels() > 4096 || options.num_blocks() < 1 ||
        options.num_blocks() > 1024) {
      return 0;
    }
    const std::int64_t count = parameter_count(options);
    const json* ema = unchecked_param(doc, train_step, "optim", "ema_decay");
    const bool with_ema = ema && ema->is_number() && ema->get<double>() > 0;
    return count * 4 * (with_ema ? 4 : 3) + (1 << 20);
  } catch (const std::exception&) {
    return 0;
  }
}

// Stage params flattened to "stage.param.sub" -> value.
void flatten(const json& value, const std::string& prefix, std::map<std::string, json>& out) {
  if (value.is_object()) {
    for (const auto& [k, v] : value.items()) flatten(v, prefix + "." + k, out);
  } else {
    out[prefix] = value;
  }
}

json run_params(const Spec& spec) {
  json stages = json::object();
  for (const auto& s : spec.stages) {
    if (s.type == "checkpoint") continue;
    stages[s.name] = {{"type", s.type}, {"params", s.params}};
  }
  return {{"stages", stages}};
}

// Settings a resumed run may not change (by stage type and param path): the network's shape
// and what it is trained to do.
bool must_match(const std::string& type, const std::string& param) {
  static const std::set<std::pair<std::string, std::string>> kFixed = {
      {"train_step", "model.base_channels"},
      {"train_step", "model.num_blocks"},
      {"train_step", "scale"},
      {"train_step", "frames"},
      {"sample", "category"},
      {"sample", "lr_version"},
      {"sample", "formats"},
      {"sample", "scale"}};
  return kFixed.count({type, param}) > 0;
}

// Params that differ between runs by their nature: where this run resumes, and the
// checkpoint stage's own bookkeeping.
bool ignored(const std::string& type, const std::string& param) {
  return (type == "sample" && (param == "start_step" || param == "rank")) ||
         (type == "train_step" && param.rfind("distributed.", 0) == 0 &&
          param != "distributed.world_size" && param != "distributed.backend" &&
          param != "distributed.timeout_s") ||
         (type == "train_step" && param == "model.resume") ||
         (type == "tensorboard" && param == "start_step");
}

// "MODEL.base_channels" for a param of a spec compiled from a config, else its spec path.
std::string label(const Spec& spec, const std::string& stage, const std::string& param) {
  const json sources = spec.meta.value("sources", json::object());
  if (sources.contains(stage + "." + param)) return sources[stage + "." + param].get<std::string>();
  const std::string shared = "shared." + param.substr(0, param.find('.'));
  if (sources.contains(shared)) return sources[shared].get<std::string>();
  return stage + "." + param;
}

std::string shown(const json& v) {
  std::string text = v.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

}  // namespace

ResumeInfo prepare_training_doc(json& doc, const std::string& resume,
                                std::vector<std::string>& notes) {
  ResumeInfo info;
  json* train_step = doc_stage(doc, "train_step");
  json* checkpoint = doc_stage(doc, "checkpoint");
  if (!train_step || !checkpoint) {
    if (!resume.empty()) {
      throw ConfigError("--resume continues a training run, and this spec has no " +
                        std::string(train_step ? "checkpoint" : "train_step") + " stage");
    }
    return info;
  }
  if (const std::int64_t bytes = checkpoint_bytes(doc, *train_step); bytes > 0) {
    params_of(*checkpoint)["min_free_bytes"] = 3 * bytes;
  }
  if (resume.empty()) return info;

  const json& dir_value = params_of(*checkpoint).value("dir", json());
  if (!dir_value.is_string()) return info;  // the spec check reports the missing dir
  const std::string dir = dir_value.get<std::string>();
  if (resume == "auto") {
    auto found = list_step_checkpoints(dir);
    if (found.empty()) {
      notes.push_back("--resume auto: no checkpoint in " + dir + " yet: training from step 0");
      return info;
    }
    std::string failures;
    for (auto it = found.rbegin(); it != found.rend() && info.path.empty(); ++it) {
      try {
        info.checkpoint = load_checkpoint(it->second);
        info.path = it->second.string();
      } catch (const std::exception& e) {
        notes.push_back("--resume auto: skipping " + it->second.string() + ": " + e.what());
        failures += "\n  - " + std::string(e.what());
      }
    }
    if (info.path.empty()) {
      throw ConfigError("--resume auto: none of the " + std::to_string(found.size()) +
                            " checkpoints in " + dir + " loads:" + failures +
                            "\nresume from another file with --resume PATH, or start a new run in "
                            "another folder",
                        dir);
    }
  } else {
    info.checkpoint = load_checkpoint(resume);
    info.path = resume;
  }
  // Only the step, architecture and run params are needed from here on.
  info.checkpoint.model.clear();
  info.checkpoint.ema.clear();
  info.checkpoint.optimizer_state.clear();

  json* sample = doc_stage(doc, "sample");
  if (!sample) throw ConfigError("--resume needs the training spec's sample stage");
  const std::int64_t step = info.checkpoint.step;
  params_of(*sample)["start_step"] = step;
  json& model = params_of(*train_step)["model"];
  if (!model.is_object()) model = json::object();
  model["resume"] = info.path;
  params_of(*checkpoint)["resume"] = info.path;
  if (json* tb = doc_stage(doc, "tensorboard")) params_of(*tb)["start_step"] = step;
  notes.push_back("resuming from " + info.path + " (step " + std::to_string(step) + ")");
  return info;
}

void finish_training_spec(Spec& spec, const ResumeInfo& from, std::vector<std::string>& notes) {
  StageDecl* checkpoint = nullptr;
  for (auto& s : spec.stages) {
    if (s.type == "checkpoint") checkpoint = &s;
  }
  if (!checkpoint) return;
  const json now = run_params(spec);
  checkpoint->params["run_params"] = now.dump();
  if (from.path.empty()) return;

  std::vector<std::string> refused, changed;
  const CheckpointData& c = from.checkpoint;
  json before;
  try {
    before = json::parse(c.run_params);
  } catch (const std::exception&) {
    before = json();
  }
  if (!before.is_object() || !before.contains("stages")) {
    // An older checkpoint: only its architecture is known.
    notes.push_back("--resume: " + from.path +
                    " records no run settings; only its architecture is checked");
    for (const auto& s : spec.stages) {
      if (s.type != "train_step") continue;
      auto check = [&](const char* param, std::int64_t was, std::int64_t is) {
        if (was > 0 && was != is) {
          refused.push_back(label(spec, s.name, param) + ": " + std::to_string(was) +
                            " in the checkpoint, " + std::to_string(is) + " now");
        }
      };
      const json& m = s.params.at("model");
      check("model.base_channels", c.base_channels, m.at("base_channels").get<std::int64_t>());
      check("model.num_blocks", c.num_blocks, m.at("num_blocks").get<std::int64_t>());
      check("scale", c.scale, s.params.at("scale").get<std::int64_t>());
      check("frames", c.frames, s.params.at("frames").get<std::int64_t>());
    }
  } else {
    for (const auto& [name, entry] : now.at("stages").items()) {
      const std::string type = entry.at("type").get<std::string>();
      const json& old_stage = before["stages"].value(name, json::object());
      if (old_stage.value("type", "") != type) continue;  // a stage this run adds
      std::map<std::string, json> old_params, new_params;
      flatten(old_stage.value("params", json::object()), "", old_params);
      flatten(entry.at("params"), "", new_params);
      for (const auto& [key, value] : new_params) {
        const std::string param = key.substr(1);  // without the leading '.'
        const auto old_value = old_params.find(key);
        if (old_value == old_params.end() || old_value->second == value || ignored(type, param)) {
          continue;
        }
        const std::string line = label(spec, name, param) + ": " + shown(old_value->second) +
                                 (must_match(type, param) ? " in the checkpoint, " : " -> ") +
                                 shown(value) + (must_match(type, param) ? " now" : "");
        (must_match(type, param) ? refused : changed).push_back(line);
      }
    }
  }
  std::sort(refused.begin(), refused.end());
  refused.erase(std::unique(refused.begin(), refused.end()), refused.end());
  if (!refused.empty()) {
    std::string text = "--resume " + from.path + " does not fit this run:";
    for (const auto& r : refused) text += "\n  - " + r;
    text +=
        "\nA run continues with the network and data it was trained on: resume with the "
        "settings the checkpoint has (its config text is stored in it, key \"config\"), or "
        "start a new run in another folder (OUTPUT.experiment_name) with MODEL.pretrained "
        "pointing at the checkpoint to start from its weights";
    throw ConfigError(text, from.path);
  }
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
  if (!changed.empty()) {
    std::string text = "--resume: changed since the checkpoint (allowed):";
    for (const auto& line : changed) text += "\n  " + line;
    notes.push_back(text);
  }
}

}  // namespace vsr
