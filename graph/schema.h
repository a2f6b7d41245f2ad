// What a stage type declares about itself: its ports with their message types, its
// parameters (name, type, default, doc, range, choices; nested groups with typed members),
// the checks across its parameters and the cheap checks of the world it needs (files and
// folders, devices). The spec checker (graph/spec.h) runs all of them before any stage is
// built, so a stage's constructor only reads values that are known to be valid.
//
//   StageSchema("augment")
//       .input<FrameSample>("in").output<FrameSample>("out").concurrent()
//       .optional("crop", ParamType::kInt, 0, "GT crop size").at_least(0)
//       .optional("scale", ParamType::kInt, 3, "GT / LR size").range(2, 4).shared()
//       .check([](const json& p, ParamProblems& out) {
//         if (p["crop"].get<int>() % p["scale"].get<int>()) out.add("crop", "...");
//       });
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/errors.h"
#include "common/validation.h"
#include "graph/message.h"

namespace vsr {

using json = nlohmann::json;

enum class ParamType {
  kBool,
  kInt,
  kFloat,
  kString,
  kStringList,
  kIntList,
  kFloatList,
  kObject,  // free-form JSON object, kept as given
  kGroup,   // an object of typed members, declared with group()
};

// "bool", "int", "float", "string", "string[]", "int[]", "float[]", "object", "group".
const char* to_string(ParamType t);
// True when `value` has type `t` (an int is accepted where a float is expected). A group
// matches any object; its members are checked one by one.
bool param_matches(ParamType t, const json& value);

struct ParamSpec;
// `given` with the default of every param of `specs` it lacks (groups filled member by member).
json fill_defaults(const std::vector<ParamSpec>& specs, json given);

// What the world must hold for a string param (an empty value is not checked unless the
// param is non_empty()).
enum class PathRule {
  kNone,
  kFile,          // an existing, readable regular file
  kDir,           // an existing folder
  kCreatableDir,  // an existing writable folder, or one that can be created
};

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kString;
  bool required = false;
  json default_value;  // null when required
  std::string doc;
  Range range;                       // int and float params, and elements of numeric lists
  std::vector<std::string> choices;  // strings and elements of string lists, if any
  int length = -1;                   // lists: exact number of elements; -1: any
  bool non_empty = false;            // strings and lists
  bool shared = false;               // may be given once in the spec's "shared" values
  PathRule path = PathRule::kNone;
  std::string path_noun;           // how messages name the path: "file", "frame folder", ...
  std::vector<ParamSpec> members;  // kGroup

  const ParamSpec* member(const std::string& name) const;
  // "int in [0, 4096]", "string, one of off, bf16, fp16", "float[2] in [0, 1)", "group".
  std::string type_text() const;
};

// Problems a check finds, each naming the param it is about ("crop", "model.frames").
class ParamProblems {
 public:
  void add(std::string param, std::string message) {
    items_.emplace_back(std::move(param), std::move(message));
  }
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// Calls visit(param, name) for every param of `params` and, after each group, for its members,
// named with their group: "model", "model.base_channels", ... (for listings of a schema).
void for_each_param(const std::vector<ParamSpec>& params,
                    const std::function<void(const ParamSpec&, const std::string&)>& visit,
                    const std::string& prefix = "");

// A check of a stage's params (every default and shared value filled in, every param valid).
using ParamCheck = std::function<void(const json& params, ParamProblems& problems)>;

// The fluent builder of a list of params, used by stages and by nested groups.
template <class Self>
class ParamBuilder {
 public:
  // A parameter the spec must give.
  Self& required(std::string name, ParamType type, std::string doc) {
    ParamSpec p;
    p.name = std::move(name);
    p.type = type;
    p.required = true;
    p.doc = std::move(doc);
    params_.push_back(std::move(p));
    return self();
  }
  // A parameter with a default.
  Self& optional(std::string name, ParamType type, json default_value, std::string doc) {
    ParamSpec p;
    p.name = std::move(name);
    p.type = type;
    p.default_value = std::move(default_value);
    p.doc = std::move(doc);
    if (!param_matches(type, p.default_value)) {
      throw SpecError("default of param '" + p.name + "' is not a " + to_string(type));
    }
    params_.push_back(std::move(p));
    return self();
  }
  // A nested group of typed members ("model": {"base_channels": ..., ...}); the group is
  // required when any member is.
  template <class Group>
  Self& group(std::string name, std::string doc, const Group& members) {
    ParamSpec p;
    p.name = std::move(name);
    p.type = ParamType::kGroup;
    p.doc = std::move(doc);
    p.members = members.params();
    p.default_value = json::object();
    for (const auto& m : p.members) p.required |= m.required;
    if (p.required) p.default_value = nullptr;
    params_.push_back(std::move(p));
    return self();
  }
  // Modifiers of the parameter declared last.
  Self& range(double min, double max) { return in(Range::closed(min, max)); }
  Self& at_least(double min) { return in(Range::at_least(min)); }
  Self& in(Range range) {
    last().range = range;
    return self();
  }
  Self& choices(std::vector<std::string> values) {
    last().choices = std::move(values);
    return self();
  }
  Self& length(int n) {
    last().length = n;
    return self();
  }
  Self& non_empty() {
    last().non_empty = true;
    return self();
  }
  // The value may be given once for the whole spec, in its "shared" object, instead of in
  // the stage's params (the stage's own value wins).
  Self& shared() {
    last().shared = true;
    return self();
  }
  // `noun` names the path in messages: "frame folder X does not exist".
  Self& existing_file(std::string noun = "file") { return path(PathRule::kFile, std::move(noun)); }
  Self& existing_dir(std::string noun = "folder") { return path(PathRule::kDir, std::move(noun)); }
  Self& creatable_dir(std::string noun = "folder") {
    return path(PathRule::kCreatableDir, std::move(noun));
  }

  const std::vector<ParamSpec>& params() const { return params_; }
  const ParamSpec* param(const std::string& name) const {
    for (const auto& p : params_) {
      if (p.name == name) return &p;
    }
    return nullptr;
  }

 protected:
  std::vector<ParamSpec> params_;

 private:
  Self& self() { return static_cast<Self&>(*this); }
  ParamSpec& last() {
    if (params_.empty()) throw SpecError("a param modifier needs a param declared before it");
    return params_.back();
  }
  Self& path(PathRule rule, std::string noun) {
    last().path = rule;
    last().path_noun = std::move(noun);
    return self();
  }
};

// The members of a nested group param.
class ParamGroup : public ParamBuilder<ParamGroup> {};

struct PortSpec {
  std::string name;
  std::string type;  // MessageName<T>::value
  std::string doc;
};

enum class StageKind {
  kSource,     // no inputs; produces messages, one per credit of its in-flight bound
  kProcessor,  // consumes messages, may emit any number on its outputs
};

class StageSchema : public ParamBuilder<StageSchema> {
 public:
  explicit StageSchema(std::string type) : type_(std::move(type)) {}

  StageSchema& doc(std::string text) {
    doc_ = std::move(text);
    return *this;
  }
  template <class T>
  StageSchema& input(std::string name, std::string doc = "") {
    inputs_.push_back({std::move(name), MessageName<T>::value, std::move(doc)});
    return *this;
  }
  template <class T>
  StageSchema& output(std::string name, std::string doc = "") {
    outputs_.push_back({std::move(name), MessageName<T>::value, std::move(doc)});
    return *this;
  }
  // The stage may run with `concurrency` > 1 (stateless or internally synchronised).
  StageSchema& concurrent() {
    concurrent_ = true;
    return *this;
  }
  // A check across params (crop against the scale and the formats; overlap under half the
  // tile), run when every param is valid. `what` documents it (`vsr_flow stages`).
  StageSchema& check(std::string what, ParamCheck check) {
    checks_.push_back({std::move(what), std::move(check), false});
    return *this;
  }
  // A cheap check of the world beyond the path rules (a dataset's folders, a device); run by
  // `validate` and `run`, reported as a warning by `compile`.
  StageSchema& world_check(std::string what, ParamCheck check) {
    checks_.push_back({std::move(what), std::move(check), true});
    return *this;
  }

  struct Check {
    std::string what;
    ParamCheck run;
    bool world = false;
  };

  const std::string& type() const { return type_; }
  const std::string& doc() const { return doc_; }
  const std::vector<PortSpec>& inputs() const { return inputs_; }
  const std::vector<PortSpec>& outputs() const { return outputs_; }
  const std::vector<Check>& checks() const { return checks_; }
  bool allows_concurrency() const { return concurrent_; }
  StageKind kind() const { return inputs_.empty() ? StageKind::kSource : StageKind::kProcessor; }

  const PortSpec* input_port(const std::string& name) const;
  const PortSpec* output_port(const std::string& name) const;

 private:
  std::string type_;
  std::string doc_;
  std::vector<PortSpec> inputs_;
  std::vector<PortSpec> outputs_;
  std::vector<Check> checks_;
  bool concurrent_ = false;
};

}  // namespace vsr
