#include "graph/schema.h"

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
    case ParamType::kGroup:
      return "group";
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

template <class T>
const T* find_named(const std::vector<T>& items, const std::string& name) {
  for (const auto& item : items) {
    if (item.name == name) return &item;
  }
  return nullptr;
}
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
    case ParamType::kGroup:
      return v.is_object();
  }
  return false;
}

json fill_defaults(const std::vector<ParamSpec>& specs, json given) {
  if (!given.is_object()) given = json::object();
  for (const auto& p : specs) {
    if (p.type == ParamType::kGroup) {
      given[p.name] = fill_defaults(p.members, given.value(p.name, json::object()));
    } else if (!given.contains(p.name)) {
      given[p.name] = p.default_value;
    }
  }
  return given;
}

void for_each_param(const std::vector<ParamSpec>& params,
                    const std::function<void(const ParamSpec&, const std::string&)>& visit,
                    const std::string& prefix) {
  for (const auto& p : params) {
    visit(p, prefix + p.name);
    for_each_param(p.members, visit, prefix + p.name + ".");
  }
}

const ParamSpec* ParamSpec::member(const std::string& member_name) const {
  return find_named(members, member_name);
}

std::string ParamSpec::type_text() const {
  std::string text = to_string(type);
  if (length >= 0 && text.size() > 2 && text.compare(text.size() - 2, 2, "[]") == 0) {
    text = text.substr(0, text.size() - 1) + std::to_string(length) + "]";
  }
  text = with_range(text, range);
  if (!choices.empty()) text += ", one of " + join(choices);
  if (non_empty) text += ", non-empty";
  switch (path) {
    case PathRule::kNone:
      break;
    case PathRule::kFile:
      text += ", an existing file";
      break;
    case PathRule::kDir:
      text += ", an existing folder";
      break;
    case PathRule::kCreatableDir:
      text += ", a folder that exists or can be created";
      break;
  }
  if (shared) text += ", shared";
  return text;
}

const PortSpec* StageSchema::input_port(const std::string& name) const {
  return find_named(inputs_, name);
}
const PortSpec* StageSchema::output_port(const std::string& name) const {
  return find_named(outputs_, name);
}

}  // namespace vsr
