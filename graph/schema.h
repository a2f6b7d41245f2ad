// What a stage type declares about itself: its ports with their message types, its
// parameters (name, type, default, doc) and whether it may run concurrently.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "graph/message.h"

namespace vsr {

using json = nlohmann::json;

enum class ParamType { kBool, kInt, kFloat, kString, kStringList, kIntList, kFloatList, kObject };

// "bool", "int", "float", "string", "string[]", "int[]", "float[]", "object".
const char* to_string(ParamType t);
// True when `value` has type `t` (an int is accepted where a float is expected).
bool param_matches(ParamType t, const json& value);

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kString;
  bool required = false;
  json default_value;  // null when required
  std::string doc;
  std::optional<double> min;  // inclusive range for int and float params
  std::optional<double> max;
  std::vector<std::string> choices;  // allowed values for a string param, if any
};

struct PortSpec {
  std::string name;
  std::string type;  // MessageName<T>::value
  std::string doc;
};

enum class StageKind {
  kSource,     // no inputs; produces messages, one per credit of its in-flight bound
  kProcessor,  // consumes messages, may emit any number on its outputs
};

class Stage;
struct StageContext;

class StageSchema {
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
  // A parameter the spec must give.
  StageSchema& required(std::string name, ParamType type, std::string doc);
  // A parameter with a default.
  StageSchema& optional(std::string name, ParamType type, json default_value, std::string doc);
  // Inclusive numeric range (or choices, for strings) of the parameter declared last.
  StageSchema& range(double min, double max);
  StageSchema& at_least(double min);
  StageSchema& choices(std::vector<std::string> values);
  // The stage may run with `concurrency` > 1 (stateless or internally synchronised).
  StageSchema& concurrent() {
    concurrent_ = true;
    return *this;
  }

  const std::string& type() const { return type_; }
  const std::string& doc() const { return doc_; }
  const std::vector<PortSpec>& inputs() const { return inputs_; }
  const std::vector<PortSpec>& outputs() const { return outputs_; }
  const std::vector<ParamSpec>& params() const { return params_; }
  bool allows_concurrency() const { return concurrent_; }
  StageKind kind() const { return inputs_.empty() ? StageKind::kSource : StageKind::kProcessor; }

  const ParamSpec* param(const std::string& name) const;
  const PortSpec* input_port(const std::string& name) const;
  const PortSpec* output_port(const std::string& name) const;

 private:
  std::string type_;
  std::string doc_;
  std::vector<PortSpec> inputs_;
  std::vector<PortSpec> outputs_;
  std::vector<ParamSpec> params_;
  bool concurrent_ = false;
};

}  // namespace vsr
