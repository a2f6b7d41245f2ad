#include "graph/schema.h"

#include <cmath>

#include "graph/errors.h"

namespace vsr {

const char* to_string(ParamType t) {
  switch (t) {
    case ParamType::kBool:
      return "bool";
    case ParamType::kInt:
      return "int";
    case ParamType::kFloat:
      return "float";
    case ParamType::kString:
      return "string";
    case ParamType::kStringList:
      return "string[]";
    case ParamType::kIntList:
      return "int[]";
    case ParamType::kFloatList:
      return "float[]";
    case ParamType::kObject:
      return "object";
  }
  return "?";
}

namespace {
bool all_of(const json& v, bool (*pred)(const json&)) {
  if (!v.is_array()) return false;
  for (const auto& e : v) {
    if (!pred(e)) return false;
  }
  return true;
}
bool is_int(const json& v) { return v.is_number_integer(); }
bool is_num(const json& v) { return v.is_number(); }
bool is_str(const json& v) { return v.is_string(); }
}  // namespace

bool param_matches(ParamType t, const json& v) {
  switch (t) {
    case ParamType::kBool:
      return v.is_boolean();
    case ParamType::kInt:
      return is_int(v);
    case ParamType::kFloat:
      return is_num(v);
    case ParamType::kString:
      return is_str(v);
    case ParamType::kStringList:
      return all_of(v, is_str);
    case ParamType::kIntList:
      return all_of(v, is_int);
    case ParamType::kFloatList:
      return all_of(v, is_num);
    case ParamType::kObject:
      return v.is_object();
  }
  return false;
}

StageSchema& StageSchema::required(std::string name, ParamType type, std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = type;
  p.required = true;
  p.doc = std::move(doc);
  params_.push_back(std::move(p));
  return *this;
}

StageSchema& StageSchema::optional(std::string name, ParamType type, json default_value,
                                   std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = type;
  p.default_value = std::move(default_value);
  p.doc = std::move(doc);
  if (!param_matches(type, p.default_value)) {
    throw Error("stage type " + type_ + ": default of param '" + p.name + "' is not a " +
                to_string(type));
  }
  params_.push_back(std::move(p));
  return *this;
}

StageSchema& StageSchema::range(double min, double max) {
  params_.back().min = min;
  params_.back().max = max;
  return *this;
}

StageSchema& StageSchema::at_least(double min) {
  params_.back().min = min;
  return *this;
}

StageSchema& StageSchema::choices(std::vector<std::string> values) {
  params_.back().choices = std::move(values);
  return *this;
}

namespace {
template <class T>
const T* find_named(const std::vector<T>& items, const std::string& name) {
  for (const auto& item : items) {
    if (item.name == name) return &item;
  }
  return nullptr;
}
}  // namespace

const ParamSpec* StageSchema::param(const std::string& name) const {
  return find_named(params_, name);
}
const PortSpec* StageSchema::input_port(const std::string& name) const {
  return find_named(inputs_, name);
}
const PortSpec* StageSchema::output_port(const std::string& name) const {
  return find_named(outputs_, name);
}

}  // namespace vsr
