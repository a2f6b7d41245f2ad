// The YAML configs of vsr_flow: the key-table engine every config kind shares, and the training
// config built on it (the conversion config is runtime/config/convert_config.h).
//
// Every key is declared once, in its config's table (type, default, range, one-line doc);
// validation, defaults, `--set` overrides, the README table (reference_markdown()) and the JSON
// Schema for editors (json_schema()) all come from that table, through one implementation
// (ConfigTable). Example of the training config (the spec's "Basic Structure"):
//
//   MODEL:    {base_channels: 128, num_blocks: 32, use_checkpointing: true}
//   DATA:     {category: general, lr_version: 7frames, data_root: /mnt/data/training/dataset,
//              formats: [small_540, medium_169],
//              format_weights: {small_540: 0.6, medium_169: 0.4}}
//   TRAINING: {total_steps: 100000, batch_size: {small_540: 4, medium_169: 2},
//              gradient_accumulation: {small_540: 1, medium_169: 2},
//              learning_rate: 0.0001, warmup_steps: 1000}
//
// The format and category tables are runtime/data/formats.h. Problems are reported all at once in
// one ConfigError, one per line, each as `file:line:col: message`. Paths are not checked here: a
// run checks them when it starts.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/errors.h"
#include "common/validation.h"
#include "runtime/data/formats.h"

namespace vsr {

// What a key of a config table holds.
enum class KeyKind {
  kInt,         // integer, in range or (with choices) one of them
  kFloat,       // number in range
  kBool,        // true / false
  kString,      // any scalar; empty allowed
  kChoice,      // one of the choices
  kFormatList,  // list of format names
  kFloatList,   // list of `count` numbers in range
  kIntList,     // list of `count` integers in range
  kStringList,  // list of at least `count` non-empty strings
  kIntMap,      // format name -> integer in range
  kFloatMap,    // format name -> number in range
};

// One key of a config table: everything validation, defaults and the docs need.
struct KeySpec {
  std::string key;  // "TRAINING.learning_rate"
  KeyKind kind = KeyKind::kString;
  const char* def = nullptr;  // YAML text of the default (per entry for maps); nullptr: required
  Range range;                // numbers, and each element of lists and maps
  std::vector<std::string> choices;     // kChoice and kInt with a fixed set
  const char* doc = "";                 // one line
  const char* shown_default = nullptr;  // README text when the default is derived
  int count = 0;  // kFloatList, kIntList: exact length; kStringList: minimum length
};

// One entry of a table, as documented (for `vsr_flow` help and the README).
struct ConfigKeyDoc {
  std::string key;            // "TRAINING.learning_rate"
  std::string type;           // "float in (0, 1]"
  std::string default_value;  // "0.0001"
  std::string doc;            // one line
};

// One problem of a config, located in its source.
struct ConfigProblem {
  int line = 0;    // 1-based; 0 when unknown (e.g. a `--set` value)
  int column = 0;  // 1-based
  std::string message;
};

// What a table says of its config as a whole: the JSON Schema's title and description, and
// the example of a `--set` assignment in its usage message.
struct ConfigTableInfo {
  std::string title;             // "vsr_flow training config"
  std::string description;       // one paragraph
  std::string override_example;  // "TRAINING.learning_rate=0.0002"
};

// The outcome of checking a document against a table: the clean value of every valid key
// (defaults filled in) and every problem so far. A config's checks across keys add theirs:
//
//   if (check.ok({"A.lo", "A.hi"}) && lo > hi) check.problem_at("A.lo", "...");
class ConfigCheck {
 public:
  // Whether every one of `keys` has a valid value.
  bool ok(std::initializer_list<const char*> keys) const;
  // The clean values of the valid keys, by key.
  const std::map<std::string, YAML::Node>& values() const { return values_; }
  // A problem of `key`, located where its value is written (when absent, at its key or
  // section, else 1:1), or named by its `--set KEY=VALUE` when an override set it.
  void problem_at(const std::string& key, std::string message);
  // A problem of a listed format, located at its list item (else as problem_at(formats_key)).
  void problem_at_format(const std::string& format, const std::string& formats_key,
                         std::string message);
  void problem(const YAML::Mark& at, std::string message);
  // Every problem, in file order (those without a position last).
  std::vector<ConfigProblem> problems() const;
  // Where each key (or section) given in the file is written: {line, column}, 1-based.
  std::map<std::string, std::pair<int, int>> positions() const;

 private:
  friend class ConfigTable;
  YAML::Mark mark_of(const std::string& key) const;
  std::vector<ConfigProblem> problems_;
  std::map<std::string, YAML::Node> given_;         // key -> its value as written
  std::map<std::string, YAML::Node> values_;        // valid key -> its clean value
  std::map<std::string, YAML::Mark> key_marks_;     // key or section path in the file -> its key
  std::map<std::string, YAML::Mark> format_marks_;  // a listed format -> its list item
  std::map<std::string, std::string> overrides_;    // key -> the last `--set` that set it
};

// The keys of one kind of config, in README order, and everything made from them. The one
// implementation of structure and value checks, `--set`, the README table and the JSON Schema.
class ConfigTable {
 public:
  ConfigTable(ConfigTableInfo info, std::vector<KeySpec> keys);

  const std::vector<KeySpec>& keys() const { return keys_; }
  const KeySpec* find(const std::string& key) const;
  // The top-level section names, in table order.
  std::vector<std::string> sections() const;

  std::vector<ConfigKeyDoc> docs() const;
  // The README table of every key: `| key | type | default | meaning |`, one row per key.
  std::string reference_markdown() const;
  // A JSON Schema (draft-07, the version editors' YAML language server reads) of the config
  // file: every section an object without unknown keys, every key with its type, range,
  // choices, default and doc, required keys required, and for format maps an entry required
  // for every listed format.
  nlohmann::ordered_json json_schema() const;

  // Checks the structure of `root` (unknown and duplicate keys, with the closest known key)
  // and the value of every key; `overrides` are the `--set` assignments applied to it (see
  // parse), for naming the values they set.
  ConfigCheck check(const YAML::Node& root, const std::vector<std::string>& overrides = {}) const;
  // Applies one `--set a.b=v` assignment; v is parsed as YAML. Throws ConfigError for a
  // malformed assignment, an unknown key (with the closest known one) or a bad value.
  void apply_override(YAML::Node& root, const std::string& assignment) const;
  // Parses `text` (a syntax error as `origin:line:col: YAML syntax error: ...`) and applies
  // `overrides` in order. Throws ConfigError.
  YAML::Node parse(const std::string& text, const std::string& origin,
                   const std::vector<std::string>& overrides) const;

 private:
  ConfigTableInfo info_;
  std::vector<KeySpec> keys_;
};

// `origin:line:col: message`, one problem per line.
std::string format_problems(const std::string& origin, const std::vector<ConfigProblem>& problems);

// Reports every listed format whose size `scale` does not divide (at its list item), with
// the scales that would fit: "format 'medium_169' (720x405) is not divisible by MODEL.scale 2;
// use MODEL.scale 3, or remove the format".
void check_scale_divides_formats(ConfigCheck& check, const std::string& scale_key, int scale,
                                 const std::string& formats_key,
                                 const std::vector<std::string>& formats);

// Where a config came from, for messages: the file, the `--set` assignments and the position
// of every key the file gives.
struct ConfigOrigin {
  std::string origin;                  // file name (or other label) the config came from
  std::vector<std::string> overrides;  // `--set` assignments applied, in order
  // Where each key given in the file is written: key -> {line, column} (1-based).
  std::map<std::string, std::pair<int, int>> positions;

  // Where `key` got its value, for messages: "--set KEY=VALUE" when an override set it,
  // "file:line:col" where the file gives it (or its section), else the file name.
  std::string where(const std::string& key) const;
};

// Writing a checked value into a typed config: KeySetter<C> puts one key's clean value into
// a C; `put<&C::section, &Section::member>` is the setter of that member.
template <typename C>
using KeySetter = void (*)(C&, const YAML::Node&);

// A key of the config type C: its spec and where its value goes.
template <typename C>
struct Key {
  KeySpec spec;
  KeySetter<C> set;
};

// A ConfigTable whose valid values are written into a C.
template <typename C>
class KeyTable {
 public:
  KeyTable(ConfigTableInfo info, std::vector<Key<C>> keys)
      : table_(std::move(info), specs(keys)), keys_(std::move(keys)) {}
  const ConfigTable& table() const { return table_; }
  // Checks `root` and writes every valid key's value (or its default) into `config`.
  ConfigCheck check(const YAML::Node& root, C& config,
                    const std::vector<std::string>& overrides = {}) const {
    ConfigCheck check = table_.check(root, overrides);
    for (const auto& key : keys_) {
      const auto it = check.values().find(key.spec.key);
      if (it != check.values().end()) key.set(config, it->second);
    }
    return check;
  }

 private:
  static std::vector<KeySpec> specs(const std::vector<Key<C>>& keys) {
    std::vector<KeySpec> out;
    for (const auto& key : keys) out.push_back(key.spec);
    return out;
  }
  ConfigTable table_;
  std::vector<Key<C>> keys_;
};

// Assigning a checked value (ConfigTable::check accepted it for the member's kind).
void assign_value(int& dst, const YAML::Node& n);
void assign_value(long long& dst, const YAML::Node& n);
void assign_value(double& dst, const YAML::Node& n);
void assign_value(bool& dst, const YAML::Node& n);
void assign_value(std::string& dst, const YAML::Node& n);
void assign_value(std::vector<std::string>& dst, const YAML::Node& n);
void assign_value(std::vector<double>& dst, const YAML::Node& n);
void assign_value(std::vector<int>& dst, const YAML::Node& n);
template <typename T>
void assign_value(std::map<std::string, T>& dst, const YAML::Node& n) {
  dst.clear();
  for (const auto& entry : n) assign_value(dst[entry.first.Scalar()], entry.second);
}

// The builders of a table's entries: Int("MODEL.num_blocks", "32", Range::closed(1, 64), doc,
// put<&TrainConfig::model, &ModelConfig::num_blocks>) and so on, one per KeyKind.
namespace config_keys {

template <typename T>
T& member(T& object) {
  return object;
}
template <typename T, typename M, typename... Rest>
auto& member(T& object, M first, Rest... rest) {
  return member(object.*first, rest...);
}
template <typename M>
struct MemberClass;
template <typename C, typename T>
struct MemberClass<T C::*> {
  using type = C;
};

// The setter of the member reached from the config by the chain of member pointers.
template <auto First, auto... Rest>
void put(typename MemberClass<decltype(First)>::type& config, const YAML::Node& value) {
  assign_value(member(config, First, Rest...), value);
}

template <typename C>
Key<C> Int(std::string key, const char* def, Range range, const char* doc, KeySetter<C> set) {
  return {{std::move(key), KeyKind::kInt, def, range, {}, doc}, set};
}
// An integer that is one of `choices` ("2", "3", "4").
template <typename C>
Key<C> IntOf(std::string key, const char* def, std::vector<std::string> choices, const char* doc,
             KeySetter<C> set) {
  return {{std::move(key), KeyKind::kInt, def, {}, std::move(choices), doc}, set};
}
template <typename C>
Key<C> Float(std::string key, const char* def, Range range, const char* doc, KeySetter<C> set) {
  return {{std::move(key), KeyKind::kFloat, def, range, {}, doc}, set};
}
template <typename C>
Key<C> Bool(std::string key, const char* def, const char* doc, KeySetter<C> set) {
  return {{std::move(key), KeyKind::kBool, def, {}, {}, doc}, set};
}
template <typename C>
Key<C> Str(std::string key, const char* def, const char* doc, KeySetter<C> set,
           const char* shown_default = nullptr) {
  return {{std::move(key), KeyKind::kString, def, {}, {}, doc, shown_default}, set};
}
template <typename C>
Key<C> Choice(std::string key, const char* def, std::vector<std::string> choices, const char* doc,
              KeySetter<C> set) {
  return {{std::move(key), KeyKind::kChoice, def, {}, std::move(choices), doc}, set};
}
template <typename C>
Key<C> FormatList(std::string key, const char* def, const char* doc, KeySetter<C> set) {
  return {{std::move(key), KeyKind::kFormatList, def, {}, {}, doc}, set};
}
// A list of exactly `count` numbers (kFloatList) or integers (kIntList) in `range`.
template <typename C>
Key<C> NumberList(std::string key, KeyKind kind, const char* def, int count, Range range,
                  const char* doc, KeySetter<C> set) {
  return {{std::move(key), kind, def, range, {}, doc, nullptr, count}, set};
}
// A list of at least `min_count` non-empty strings.
template <typename C>
Key<C> StringList(std::string key, const char* def, int min_count, const char* doc,
                  KeySetter<C> set) {
  return {{std::move(key), KeyKind::kStringList, def, {}, {}, doc, nullptr, min_count}, set};
}
// A map of format name -> number (kIntMap, kFloatMap); `def` is the default of each entry.
template <typename C>
Key<C> FormatMap(std::string key, KeyKind kind, const char* def, Range range, const char* doc,
                 KeySetter<C> set, const char* shown_default) {
  return {{std::move(key), kind, def, range, {}, doc, shown_default}, set};
}

}  // namespace config_keys

// The bounds of a YAML config file (training and conversion configs alike): far above any real
// config (a few KB, three levels deep, a few hundred nodes) and far below what could exhaust
// memory or the stack. A file over kMaxConfigBytes, a value nested deeper than kMaxConfigDepth
// levels, or a document of more than kMaxConfigNodes nodes or kMaxConfigExpandedBytes bytes of
// values with every alias expanded (yaml-cpp shares an aliased node, so a "billion laughs"
// alias bomb parses small but walks exponentially) is refused with a ConfigError at its
// position; so is text that is not UTF-8 (yaml-cpp itself refuses escapes of lone surrogates).
constexpr std::size_t kMaxConfigBytes = std::size_t{1} << 20;  // 1 MiB
constexpr int kMaxConfigDepth = 32;
constexpr std::size_t kMaxConfigNodes = 100000;
constexpr std::size_t kMaxConfigExpandedBytes = std::size_t{16} << 20;  // 16 MiB

// The text of a config file; throws ConfigError naming it when it cannot be read, is a folder
// or is larger than kMaxConfigBytes.
std::string read_config_text(const std::string& path);

// Parses `text` as one YAML document within the bounds above; `origin` names it in messages
// (`origin:line:col: ...`). Throws ConfigError for a syntax error or a document out of bounds.
YAML::Node load_yaml_bounded(const std::string& text, const std::string& origin);

// The training config: its sections, every default filled in by load_config.
struct ModelConfig {
  int base_channels = 0;
  int num_blocks = 0;
  bool use_checkpointing = false;
  std::string channels_last;  // auto | true | false
  int scale = 0;
  double flow_lr_mult = 0;
  int flow_freeze_steps = 0;
  std::string pretrained;
};

struct AugmentConfig {
  int crop = 0;      // GT crop size in pixels; 0 = whole patch
  double hflip = 0;  // probabilities 0..1
  double vflip = 0;
  double rot90 = 0;
  double reverse = 0;
};

struct DataConfig {
  std::string category;
  std::string lr_version;
  int frames = 0;  // 5 or 7, from lr_version
  std::string data_root;
  std::vector<std::string> formats;
  // Raw weights of the listed formats (unlisted entries dropped); see probabilities.
  std::map<std::string, double> format_weights;
  // format_weights normalised to sum 1, in the order of `formats`.
  std::vector<double> probabilities;
  int num_workers = 0;
  int prefetch = 0;
  long long cache_mb = 0;
  std::string on_bad_sample;  // "fail" | "skip"
  double max_bad_fraction = 0;
  AugmentConfig augmentation;
};

struct TrainingConfig {
  long long total_steps = 0;
  double time_budget_minutes = 0;
  std::map<std::string, int> batch_size;             // listed formats only
  std::map<std::string, int> gradient_accumulation;  // listed formats only
  double learning_rate = 0;
  long long warmup_steps = 0;
  std::string schedule;
  double min_lr_ratio = 0;
  std::string optimizer;
  std::vector<double> betas;  // two values
  double weight_decay = 0;
  double grad_clip = 0;
  std::string loss;
  double ema_decay = 0;
  std::string mixed_precision;
  long long seed = 0;
  std::string device;
  int threads = 0;
  std::string pause_data;  // "auto" | "on" | "off"
};

struct ValidationConfig {
  long long val_interval = 0;
  int num_images = 0;
  int tile = 0;
  int tile_overlap = 0;
};

struct CheckpointConfig {
  long long checkpoint_interval = 0;
  int keep_last = 0;
};

struct LoggingConfig {
  long long log_interval = 0;
};

struct DistributedConfig {
  std::string backend;  // auto, gloo, nccl
  double timeout_s = 0;
};

struct OutputConfig {
  std::string experiments_root;
  std::string experiment_name;  // filled in: "<category>_fresh_<lr_version>" when empty
};

// A validated config with every default filled in. (Member initialisers are only zeros:
// the defaults live in the schema table.)
struct TrainConfig : ConfigOrigin {
  ModelConfig model;
  DataConfig data;
  TrainingConfig training;
  ValidationConfig validation;
  CheckpointConfig checkpoint;
  LoggingConfig logging;
  DistributedConfig distributed;
  OutputConfig output;

  // <experiments_root>/<experiment_name>
  std::string experiment_dir() const;
  // <data_root>/<category root>/Val/GT
  std::string val_dir() const;
};

// The training config's table (runtime/config/config.cpp).
const ConfigTable& train_config_table();
const std::vector<ConfigKeyDoc>& config_schema_docs();
// The README table of every training key: `| key | type | default | meaning |`.
std::string config_reference_markdown();
// The JSON Schema of the training config file, from the same table, with a batch size (and,
// where those maps are given, an accumulation and a weight) required for every listed format.
// `vsr_flow schema` prints it; configs/vsr_flow.schema.json is its output.
nlohmann::ordered_json config_json_schema();

// Reads and validates a YAML file, then applies `overrides` ("TRAINING.learning_rate=2e-4").
// Throws ConfigError with every problem, one `file:line:col: message` per line.
TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// The same from text; `origin` names it in messages.
TrainConfig load_config_text(const std::string& text, const std::string& origin,
                             const std::vector<std::string>& overrides = {});
// Validates an already parsed document (e.g. after apply_override).
TrainConfig config_from_yaml(const YAML::Node& root, const std::string& origin);
// Every problem of `root`, sorted by position; fills `*out` when there are none. `overrides`:
// the `--set` assignments applied to `root`, to name them in problems across keys.
std::vector<ConfigProblem> check_config(const YAML::Node& root, TrainConfig* out = nullptr,
                                        const std::vector<std::string>& overrides = {});

// Applies one `--set a.b=v` assignment to a parsed document; v is parsed as YAML, so
// `DATA.formats=[small_540,large_720]` and `TRAINING.batch_size.small_540=2` work. Throws
// ConfigError for a malformed assignment, an unknown key (with the closest known one) or a
// value of the wrong type or range.
void apply_override(YAML::Node& root, const std::string& assignment);

// The effective format probabilities, for the start of a run:
// "format probabilities: small_540 60.0%, medium_169 40.0%".
std::string format_probabilities_line(const TrainConfig& config);

}  // namespace vsr
