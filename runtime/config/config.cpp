#include "runtime/config/config.h"

#include <yaml-cpp/depthguard.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include "common/validation.h"
#include "runtime/io/fileio.h"

namespace vsr {
namespace {

using ojson = nlohmann::ordered_json;

std::vector<std::string> split(const std::string& s, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, separator)) parts.push_back(part);
  if (!s.empty() && s.back() == separator) parts.emplace_back();
  return parts;
}

std::string trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  const size_t end = s.find_last_not_of(" \t");
  return s.substr(begin, end - begin + 1);
}

// "DATA" of "DATA.augmentation.crop".
std::string section_of(const std::string& key) { return key.substr(0, key.find('.')); }

// What a node is, for "found ..." in messages.
std::string describe(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "nothing";
  if (n.IsScalar()) return "'" + n.Scalar() + "'";
  if (n.IsSequence()) return "a list";
  return "a mapping";
}

std::optional<long long> to_integer(const YAML::Node& n) {
  if (!n.IsScalar()) return std::nullopt;
  long long i = 0;
  if (YAML::convert<long long>::decode(n, i)) return i;
  // Also take integral numbers written as floats: `total_steps: 1e5`.
  double d = 0;
  if (YAML::convert<double>::decode(n, d) && std::isfinite(d) && d == std::floor(d) &&
      std::abs(d) < 9e15) {
    return static_cast<long long>(d);
  }
  return std::nullopt;
}

std::optional<double> to_number(const YAML::Node& n) {
  if (!n.IsScalar()) return std::nullopt;
  double d = 0;
  if (YAML::convert<double>::decode(n, d) && std::isfinite(d)) return d;
  return std::nullopt;
}

bool is_format_map(const KeySpec& def) {
  return def.kind == KeyKind::kIntMap || def.kind == KeyKind::kFloatMap;
}

bool is_required(const KeySpec& def) { return !def.def && !is_format_map(def); }

const KeySpec* find_key(const std::vector<KeySpec>& keys, const std::string& key) {
  for (const auto& def : keys) {
    if (def.key == key) return &def;
  }
  return nullptr;
}

// The table's list of formats ("DATA.formats"), which its format maps are keyed by; "" if none.
std::string formats_key_of(const std::vector<KeySpec>& keys) {
  for (const auto& def : keys) {
    if (def.kind == KeyKind::kFormatList) return def.key;
  }
  return "";
}

// "an integer in [8, 512]" (prose = true, for messages) or "int in [8, 512]" (README).
std::string type_text(const KeySpec& def, bool prose) {
  const auto in_range = [&](const std::string& what) { return with_range(what, def.range); };
  switch (def.kind) {
    case KeyKind::kInt:
      if (!def.choices.empty()) {
        return std::string(prose ? "one of " : "int, one of ") + join(def.choices, ", ");
      }
      return in_range(prose ? "an integer" : "int");
    case KeyKind::kFloat:
      return in_range(prose ? "a number" : "float");
    case KeyKind::kBool:
      return prose ? "true or false" : "bool";
    case KeyKind::kString:
      return prose ? "a string" : "string";
    case KeyKind::kChoice:
      return "one of " + join(def.choices, ", ");
    case KeyKind::kFormatList:
      return prose ? "a non-empty list of format names" : "list of format names";
    case KeyKind::kFloatList:
      return in_range((prose ? "a list of " : "list of ") + std::to_string(def.count) + " numbers");
    case KeyKind::kIntList:
      return in_range((prose ? "a list of " : "list of ") + std::to_string(def.count) +
                      (prose ? " integers" : " ints"));
    case KeyKind::kStringList: {
      const std::string what = def.count == 0 ? "list of strings"
                               : def.count == 1
                                   ? "non-empty list of strings"
                                   : "list of at least " + std::to_string(def.count) + " strings";
      return prose ? "a " + what : what;
    }
    case KeyKind::kIntMap:
      return in_range(prose ? "a mapping of format name to an integer" : "map: format -> int");
    case KeyKind::kFloatMap:
      return in_range(prose ? "a mapping of format name to a number" : "map: format -> float");
  }
  return "";
}

// "an integer in [8, 512]" for one element of a map or list.
std::string element_text(const KeySpec& def) {
  return with_range(def.kind == KeyKind::kIntMap ? "an integer" : "a number", def.range);
}

class Report {
 public:
  void at(const YAML::Mark& mark, std::string message) {
    ConfigProblem p;
    if (!mark.is_null()) {
      p.line = mark.line + 1;
      p.column = mark.column + 1;
    }
    p.message = std::move(message);
    problems_.push_back(std::move(p));
  }
  size_t size() const { return problems_.size(); }
  std::vector<ConfigProblem> take() { return std::move(problems_); }

 private:
  std::vector<ConfigProblem> problems_;
};

// What the checks know beyond one value.
struct Context {
  explicit Context(const std::vector<KeySpec>& table)
      : keys(table), formats_key(formats_key_of(table)) {}

  const std::vector<KeySpec>& keys;
  std::string formats_key;  // "DATA.formats"
  // Listed formats that are valid, in order; nullopt while unknown (a `--set` alone).
  std::optional<std::vector<std::string>> formats;
  std::map<std::string, YAML::Mark> format_marks;  // a listed format -> its list item
  std::map<std::string, YAML::Mark> key_marks;     // a key path present in the file -> its key
  YAML::Mark fallback;                             // 1:1

  // The mark of the first of `paths` that is present in the file.
  YAML::Mark locate(const std::vector<std::string>& paths) const {
    for (const auto& path : paths) {
      const auto it = key_marks.find(path);
      if (it != key_marks.end()) return it->second;
    }
    return fallback;
  }
};

bool check_number(const KeySpec& def, const YAML::Node& n, const std::string& label, bool integer,
                  const std::string& expected, Report& report, const std::string& hint = "") {
  const std::optional<double> v =
      integer ? (to_integer(n) ? std::optional<double>(static_cast<double>(*to_integer(n)))
                               : std::nullopt)
              : to_number(n);
  if (!v || !def.range.contains(*v)) {
    report.at(n.Mark(), label + " must be " + expected + ", found " + describe(n) + hint);
    return false;
  }
  return true;
}

// Checks a format name used as a list item or map key; suggests the closest known one.
bool check_format_name(const YAML::Node& n, const std::string& label, Report& report) {
  if (n.IsScalar() && find_format(n.Scalar())) return true;
  std::string message = label + ": unknown format " + describe(n);
  std::vector<std::string> names;
  for (const auto& f : all_formats()) names.push_back(f.name);
  if (n.IsScalar()) {
    if (const std::string guess = closest_match(n.Scalar(), names); !guess.empty())
      message += "; did you mean '" + guess + "'?";
  }
  report.at(n.Mark(), message + " (formats: " + known_format_names() + ")");
  return false;
}

// Checks the value of one key (`given`, nullptr when absent) and returns it cleaned up for
// the setter (the default when absent; maps reduced to the listed formats), or nullopt.
std::optional<YAML::Node> check_value(const KeySpec& def, const YAML::Node* given, Context& ctx,
                                      Report& report) {
  const bool present = given != nullptr;
  if (!present && is_required(def)) {
    const std::string section = section_of(def.key);
    report.at(ctx.locate({section}),
              def.key + " is required (" + type_text(def, true) + "); add it under " + section);
    return std::nullopt;
  }
  // A format map's default is per entry: the map itself defaults to empty.
  const YAML::Node n =
      present ? *given : YAML::Load(def.def && !is_format_map(def) ? def.def : "{}");
  const std::string expected = type_text(def, true);
  const auto wrong = [&](const YAML::Node& at) {
    report.at(at.Mark(), def.key + " must be " + expected + ", found " + describe(at));
    return std::nullopt;
  };
  switch (def.kind) {
    case KeyKind::kInt:
      if (!def.choices.empty()) {
        const auto v = to_integer(n);
        if (!v || std::find(def.choices.begin(), def.choices.end(), std::to_string(*v)) ==
                      def.choices.end()) {
          return wrong(n);
        }
        return n;
      }
      if (!check_number(def, n, def.key, true, expected, report)) return std::nullopt;
      return n;
    case KeyKind::kFloat:
      if (!check_number(def, n, def.key, false, expected, report)) return std::nullopt;
      return n;
    case KeyKind::kBool: {
      bool b = false;
      if (!n.IsScalar() || !YAML::convert<bool>::decode(n, b)) return wrong(n);
      return n;
    }
    case KeyKind::kString:
      if (!n.IsNull() && !n.IsScalar()) return wrong(n);
      return n;
    case KeyKind::kChoice: {
      if (n.IsScalar() &&
          std::find(def.choices.begin(), def.choices.end(), n.Scalar()) != def.choices.end()) {
        return n;
      }
      std::string message = def.key + " must be " + expected + ", found " + describe(n);
      if (n.IsScalar()) {
        if (const std::string guess = closest_match(n.Scalar(), def.choices); !guess.empty()) {
          message += "; did you mean '" + guess + "'?";
        }
      }
      report.at(n.Mark(), message);
      return std::nullopt;
    }
    case KeyKind::kFormatList: {
      if (!n.IsSequence() || n.size() == 0) return wrong(n);
      const size_t before = report.size();
      std::vector<std::string> valid;
      for (const auto& item : n) {
        if (!check_format_name(item, def.key, report)) continue;
        const std::string name = item.Scalar();
        if (std::find(valid.begin(), valid.end(), name) != valid.end()) {
          report.at(item.Mark(), def.key + ": format '" + name + "' is listed twice");
          continue;
        }
        valid.push_back(name);
        if (present) ctx.format_marks[name] = item.Mark();
      }
      ctx.formats = valid;
      if (report.size() != before) return std::nullopt;
      return n;
    }
    case KeyKind::kFloatList:
    case KeyKind::kIntList: {
      if (!n.IsSequence() || static_cast<int>(n.size()) != def.count) return wrong(n);
      bool ok = true;
      for (const auto& item : n) {
        ok =
            check_number(def, item, def.key, def.kind == KeyKind::kIntList, expected, report) && ok;
      }
      if (!ok) return std::nullopt;
      return n;
    }
    case KeyKind::kStringList: {
      if (!n.IsSequence()) return wrong(n);
      if (static_cast<int>(n.size()) < def.count) {
        report.at(n.Mark(), def.key + " must be " + expected + ", found " +
                                (n.size() == 0 ? std::string("an empty list")
                                               : "a list of " + std::to_string(n.size())));
        return std::nullopt;
      }
      bool ok = true;
      for (const auto& item : n) {
        if (item.IsScalar() && !item.Scalar().empty()) continue;
        report.at(item.Mark(),
                  def.key + ": every entry must be a non-empty string, found " + describe(item));
        ok = false;
      }
      if (!ok) return std::nullopt;
      return n;
    }
    case KeyKind::kIntMap:
    case KeyKind::kFloatMap: {
      if (!n.IsMap() && !(present && n.IsNull())) return wrong(n);
      bool ok = true;
      YAML::Node clean(YAML::NodeType::Map);
      std::set<std::string> seen;
      const auto listed = [&](const std::string& name) {
        return !ctx.formats ||
               std::find(ctx.formats->begin(), ctx.formats->end(), name) != ctx.formats->end();
      };
      if (n.IsMap()) {
        for (const auto& entry : n) {
          if (!check_format_name(entry.first, def.key, report)) {
            ok = false;
            continue;
          }
          const std::string name = entry.first.Scalar();
          if (!seen.insert(name).second) {
            report.at(entry.first.Mark(), def.key + ": duplicate entry '" + name + "'");
            ok = false;
            continue;
          }
          if (!listed(name)) continue;  // entries of formats not listed are ignored
          const std::string label = def.key + "." + name;
          std::string hint;
          if (def.kind == KeyKind::kFloatMap && to_number(entry.second) &&
              *to_number(entry.second) <= 0) {
            hint = "; to stop sampling a format, remove it from " + ctx.formats_key;
          }
          if (!check_number(def, entry.second, label, def.kind == KeyKind::kIntMap,
                            element_text(def), report, hint)) {
            ok = false;
            continue;
          }
          clean[name] = entry.second;
        }
      }
      if (ctx.formats) {
        for (const auto& name : *ctx.formats) {
          if (seen.count(name)) continue;
          if (present && n.IsMap()) {
            report.at(ctx.locate({def.key}), "format '" + name + "' is listed in " +
                                                 ctx.formats_key + " but has no entry in " +
                                                 def.key + "; add `" + name + ": <" +
                                                 element_text(def) + ">` under " + def.key);
            ok = false;
          } else if (!def.def) {
            const auto it = ctx.format_marks.find(name);
            report.at(it != ctx.format_marks.end()
                          ? it->second
                          : ctx.locate({def.key, section_of(def.key), section_of(ctx.formats_key)}),
                      "format '" + name + "' is listed in " + ctx.formats_key + " but " + def.key +
                          " has no entry for it; add `" + def.key + ": {" + name + ": <" +
                          element_text(def) + ">}`");
            ok = false;
          } else {
            clean[name] = YAML::Load(def.def);
          }
        }
      }
      if (!ok) return std::nullopt;
      return clean;
    }
  }
  return std::nullopt;
}

// The names directly under `prefix` ("" for sections, "DATA." for DATA's keys...), in
// table order, each with whether it is a key (true) or a section (false).
std::vector<std::pair<std::string, bool>> children(const std::vector<KeySpec>& keys,
                                                   const std::string& prefix) {
  std::vector<std::pair<std::string, bool>> out;
  for (const auto& def : keys) {
    if (def.key.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = def.key.substr(prefix.size());
    const size_t dot = rest.find('.');
    const std::string name = rest.substr(0, dot);
    const bool seen =
        std::any_of(out.begin(), out.end(), [&](const auto& child) { return child.first == name; });
    if (!seen) out.emplace_back(name, dot == std::string::npos);
  }
  return out;
}

// Every section path ("DATA", "DATA.augmentation") and key path of the table.
std::vector<std::string> all_paths(const std::vector<KeySpec>& keys) {
  std::vector<std::string> paths;
  for (const auto& def : keys) {
    const std::vector<std::string> parts = split(def.key, '.');
    std::string path;
    for (const auto& part : parts) {
      path += (path.empty() ? "" : ".") + part;
      if (std::find(paths.begin(), paths.end(), path) == paths.end()) paths.push_back(path);
    }
  }
  return paths;
}

std::string unknown_key_message(const std::vector<KeySpec>& keys, const std::string& prefix,
                                const std::string& name) {
  const std::string section = prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1);
  std::string message = prefix.empty() ? "unknown section '" + name + "'"
                                       : "unknown key '" + name + "' in " + section;
  // The same name elsewhere: a key put under the wrong section.
  for (const auto& path : all_paths(keys)) {
    const size_t dot = path.rfind('.');
    const std::string last = dot == std::string::npos ? path : path.substr(dot + 1);
    if (edit_distance(last, name) == 0 && path != prefix + name) {
      return message + "; did you mean '" + path + "'?";
    }
  }
  std::vector<std::string> siblings;
  for (const auto& child : children(keys, prefix)) siblings.push_back(child.first);
  if (const std::string guess = closest_match(name, siblings); !guess.empty())
    return message + "; did you mean '" + guess + "'?";
  return message + " (" + (prefix.empty() ? "sections" : "known keys") + ": " +
         join(siblings, ", ") + ")";
}

// Checks the structure of `map` (the section at `prefix`): unknown and duplicate keys,
// sections that are not mappings. Collects the value of every key in `given`.
void walk(const YAML::Node& map, const std::string& prefix, Context& ctx,
          std::map<std::string, YAML::Node>& given, Report& report) {
  const auto known = children(ctx.keys, prefix);
  std::map<std::string, YAML::Mark> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    // Copies (handles): `it->` yields a temporary that a reference would outlive.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    if (!key.IsScalar()) {
      report.at(key.Mark(), "keys must be plain names, found " + describe(key));
      continue;
    }
    const std::string name = key.Scalar();
    const std::string path = prefix + name;
    const auto first = seen.find(name);
    if (first != seen.end()) {
      report.at(key.Mark(), "duplicate key '" + path + "' (first given at line " +
                                std::to_string(first->second.line + 1) + "); remove one");
      continue;
    }
    seen.emplace(name, key.Mark());
    const auto child =
        std::find_if(known.begin(), known.end(), [&](const auto& c) { return c.first == name; });
    if (child == known.end()) {
      report.at(key.Mark(), unknown_key_message(ctx.keys, prefix, name));
      continue;
    }
    ctx.key_marks[path] = key.Mark();
    if (child->second) {
      given[path] = value;
    } else if (value.IsMap()) {
      walk(value, path + ".", ctx, given, report);
    } else if (!value.IsNull()) {
      report.at(value.Mark(), path + " must be a mapping of keys, found " + describe(value));
    }
  }
}

// Sets `value` at `parts` under `node`, creating sections as needed.
void set_path(YAML::Node node, const std::vector<std::string>& parts, size_t i,
              const YAML::Node& value) {
  if (i + 1 == parts.size()) {
    node[parts[i]] = value;
    return;
  }
  YAML::Node child = node[parts[i]];
  if (!child.IsMap()) child = YAML::Node(YAML::NodeType::Map);
  set_path(child, parts, i + 1, value);
}

// Integral bounds and defaults as JSON integers (`"minimum": 0`), others as numbers.
ojson number_json(double v) {
  if (v == std::floor(v) && std::abs(v) < 9e15) return static_cast<long long>(v);
  return v;
}

void put_range(const Range& range, ojson& out) {
  if (range.lo != -kInf)
    out[range.lo_open ? "exclusiveMinimum" : "minimum"] = number_json(range.lo);
  if (range.hi != kInf) out[range.hi_open ? "exclusiveMaximum" : "maximum"] = number_json(range.hi);
}

ojson number_schema(bool integer, const Range& range) {
  ojson out = {{"type", integer ? "integer" : "number"}};
  put_range(range, out);
  return out;
}

// One scalar of a default (the table's YAML text) as JSON of the key's kind.
ojson scalar_json(KeyKind kind, const YAML::Node& n) {
  switch (kind) {
    case KeyKind::kInt:
    case KeyKind::kIntMap:
    case KeyKind::kIntList:
      return *to_integer(n);
    case KeyKind::kFloat:
    case KeyKind::kFloatMap:
    case KeyKind::kFloatList:
      return *to_number(n);
    case KeyKind::kBool:
      return n.as<bool>();
    default:
      return n.IsNull() ? "" : n.Scalar();
  }
}

ojson default_json(const KeySpec& def) {
  const YAML::Node n = YAML::Load(def.def);
  if (!n.IsSequence()) return scalar_json(def.kind, n);
  ojson list = ojson::array();
  for (const auto& item : n) list.push_back(scalar_json(def.kind, item));
  return list;
}

ojson format_ref() { return {{"$ref", "#/definitions/format"}}; }

ojson key_json_schema(const KeySpec& def) {
  ojson out = ojson::object();
  switch (def.kind) {
    case KeyKind::kInt:
      out["type"] = "integer";
      if (!def.choices.empty()) {
        ojson values = ojson::array();
        for (const auto& c : def.choices) values.push_back(std::stoll(c));
        out["enum"] = values;
      } else {
        put_range(def.range, out);
      }
      break;
    case KeyKind::kFloat:
      out = number_schema(false, def.range);
      break;
    case KeyKind::kBool:
      out["type"] = "boolean";
      break;
    case KeyKind::kString:
      out["type"] = ojson::array({"string", "null"});  // empty: `pretrained:`
      break;
    case KeyKind::kChoice: {
      // "true"/"false" among the choices are YAML booleans (MODEL.channels_last: auto|true|false).
      ojson choices = ojson::array();
      bool booleans = false;
      for (const auto& c : def.choices) {
        if (c == "true" || c == "false") {
          choices.push_back(c == "true");
          booleans = true;
        } else {
          choices.push_back(c);
        }
      }
      if (!booleans) out["type"] = "string";
      out["enum"] = choices;
      break;
    }
    case KeyKind::kFormatList:
      out["type"] = "array";
      out["items"] = format_ref();
      out["minItems"] = 1;
      out["uniqueItems"] = true;
      break;
    case KeyKind::kFloatList:
    case KeyKind::kIntList:
      out["type"] = "array";
      out["items"] = number_schema(def.kind == KeyKind::kIntList, def.range);
      out["minItems"] = def.count;
      out["maxItems"] = def.count;
      break;
    case KeyKind::kStringList:
      out["type"] = "array";
      out["items"] = {{"type", "string"}, {"minLength", 1}};
      if (def.count > 0) out["minItems"] = def.count;
      break;
    case KeyKind::kIntMap:
    case KeyKind::kFloatMap: {
      out["type"] = ojson::array({"object", "null"});
      out["propertyNames"] = format_ref();
      ojson entries = ojson::object();
      for (const auto& f : all_formats()) {
        ojson entry = number_schema(def.kind == KeyKind::kIntMap, def.range);
        if (def.def) entry["default"] = scalar_json(def.kind, YAML::Load(def.def));
        entries[f.name] = entry;
      }
      out["properties"] = entries;
      break;
    }
  }
  // A derived default (experiment_name) has no one value to offer.
  if (def.def && !is_format_map(def) && !def.shown_default) out["default"] = default_json(def);
  out["description"] = def.doc;
  if (def.shown_default && !is_format_map(def)) {
    out["description"] = std::string(def.doc) + " Default: " + def.shown_default + ".";
  }
  return out;
}

// The names under `prefix` that must be given: required keys, and sections holding one.
std::vector<std::string> required_children(const std::vector<KeySpec>& keys,
                                           const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& def : keys) {
    if (!is_required(def) || def.key.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = def.key.substr(prefix.size());
    const std::string name = rest.substr(0, rest.find('.'));
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

// The section at `prefix` ("MODEL.", "DATA.augmentation."): an object of its keys and
// sections, nothing else; empty (`MODEL:`) keeps every default, unless it holds a required key.
ojson section_json_schema(const std::vector<KeySpec>& keys, const std::string& prefix) {
  ojson properties = ojson::object();
  for (const auto& [name, is_key] : children(keys, prefix)) {
    properties[name] = is_key ? key_json_schema(*find_key(keys, prefix + name))
                              : section_json_schema(keys, prefix + name + ".");
  }
  const std::vector<std::string> required = required_children(keys, prefix);
  ojson out = {{"type", required.empty() ? ojson::array({"object", "null"}) : ojson("object")},
               {"properties", properties},
               {"additionalProperties", false}};
  if (!required.empty()) out["required"] = required;
  return out;
}

// Puts `leaf` at the key path `parts` under `schema` as nested "properties"; with `present`,
// every level must be there (an object holding the next).
void put_at(ojson& schema, const std::vector<std::string>& parts, size_t i, const ojson& leaf,
            bool present) {
  if (present) {
    ojson& required = schema["required"];
    if (std::find(required.begin(), required.end(), parts[i]) == required.end())
      required.push_back(parts[i]);
  }
  if (i + 1 == parts.size() && leaf.empty()) return;
  ojson& child = schema["properties"][parts[i]];
  if (i + 1 == parts.size()) {
    child.update(leaf);
    return;
  }
  if (present) child["type"] = "object";
  put_at(child, parts, i + 1, leaf, present);
}

// "format `name` is listed": the format list holds it, or the key is absent and its default
// does.
ojson listed_json_schema(const KeySpec& formats, const std::string& name) {
  const std::vector<std::string> parts = split(formats.key, '.');
  ojson given = ojson::object();
  put_at(given, parts, 0, {{"type", "array"}, {"contains", {{"const", name}}}}, true);
  bool by_default = false;
  for (const auto& item : YAML::Load(formats.def)) by_default |= item.Scalar() == name;
  if (!by_default) return given;
  ojson present = ojson::object();
  put_at(present, parts, 0, ojson::object(), true);
  return {{"anyOf", ojson::array({given, {{"not", present}}})}};
}

}  // namespace

void assign_value(int& dst, const YAML::Node& n) { dst = static_cast<int>(*to_integer(n)); }
void assign_value(long long& dst, const YAML::Node& n) { dst = *to_integer(n); }
void assign_value(double& dst, const YAML::Node& n) { dst = *to_number(n); }
void assign_value(bool& dst, const YAML::Node& n) { dst = n.as<bool>(); }
void assign_value(std::string& dst, const YAML::Node& n) { dst = n.IsNull() ? "" : n.Scalar(); }
void assign_value(std::vector<std::string>& dst, const YAML::Node& n) {
  dst.clear();
  for (const auto& item : n) dst.push_back(item.Scalar());
}
void assign_value(std::vector<double>& dst, const YAML::Node& n) {
  dst.clear();
  for (const auto& item : n) dst.push_back(*to_number(item));
}
void assign_value(std::vector<int>& dst, const YAML::Node& n) {
  dst.clear();
  for (const auto& item : n) dst.push_back(static_cast<int>(*to_integer(item)));
}

bool ConfigCheck::ok(std::initializer_list<const char*> keys) const {
  return std::all_of(keys.begin(), keys.end(), [&](const char* k) { return values_.count(k); });
}

YAML::Mark ConfigCheck::mark_of(const std::string& key) const {
  const auto it = given_.find(key);
  if (it != given_.end()) return it->second.Mark();
  for (const std::string& path : {key, section_of(key)}) {
    const auto found = key_marks_.find(path);
    if (found != key_marks_.end()) return found->second;
  }
  return YAML::Mark();  // 1:1
}

void ConfigCheck::problem_at(const std::string& key, std::string message) {
  const auto it = overrides_.find(key);
  if (it == overrides_.end()) {
    problem(mark_of(key), std::move(message));
  } else {
    problem(YAML::Mark::null_mark(), "--set " + it->second + ": " + message);
  }
}

void ConfigCheck::problem_at_format(const std::string& format, const std::string& formats_key,
                                    std::string message) {
  const auto it = format_marks_.find(format);
  if (it != format_marks_.end() && !overrides_.count(formats_key)) {
    problem(it->second, std::move(message));
  } else {
    problem_at(formats_key, std::move(message));
  }
}

void ConfigCheck::problem(const YAML::Mark& at, std::string message) {
  ConfigProblem p;
  if (!at.is_null()) {
    p.line = at.line + 1;
    p.column = at.column + 1;
  }
  p.message = std::move(message);
  problems_.push_back(std::move(p));
}

std::vector<ConfigProblem> ConfigCheck::problems() const {
  std::vector<ConfigProblem> problems = problems_;
  std::stable_sort(problems.begin(), problems.end(), [](const auto& a, const auto& b) {
    const auto key = [](const ConfigProblem& p) {
      return std::make_pair(p.line > 0 ? p.line : std::numeric_limits<int>::max(), p.column);
    };
    return key(a) < key(b);
  });
  return problems;
}

std::map<std::string, std::pair<int, int>> ConfigCheck::positions() const {
  std::map<std::string, std::pair<int, int>> out;
  for (const auto& [key, mark] : key_marks_) {
    const auto it = given_.find(key);
    const YAML::Mark m = it != given_.end() ? it->second.Mark() : mark;
    if (!m.is_null()) out[key] = {m.line + 1, m.column + 1};
  }
  return out;
}

ConfigTable::ConfigTable(ConfigTableInfo info, std::vector<KeySpec> keys)
    : info_(std::move(info)), keys_(std::move(keys)) {}

const KeySpec* ConfigTable::find(const std::string& key) const { return find_key(keys_, key); }

std::vector<std::string> ConfigTable::sections() const {
  std::vector<std::string> out;
  for (const auto& child : children(keys_, "")) out.push_back(child.first);
  return out;
}

std::vector<ConfigKeyDoc> ConfigTable::docs() const {
  std::vector<ConfigKeyDoc> out;
  for (const auto& def : keys_) {
    ConfigKeyDoc doc;
    doc.key = def.key;
    doc.type = type_text(def, false);
    doc.default_value = def.shown_default ? def.shown_default : def.def ? def.def : "required";
    doc.doc = def.doc;
    out.push_back(std::move(doc));
  }
  return out;
}

std::string ConfigTable::reference_markdown() const {
  const auto cell = [](const std::string& s) {
    std::string out;
    for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
    return out;
  };
  std::string out = "| key | type | default | meaning |\n|---|---|---|---|\n";
  for (const auto& doc : docs()) {
    const bool literal = doc.default_value != "required" && doc.default_value != "equal";
    const std::string shown = literal ? "`" + doc.default_value + "`" : doc.default_value;
    out += "| `" + doc.key + "` | " + cell(doc.type) + " | " + cell(shown) + " | " + cell(doc.doc) +
           " |\n";
  }
  return out;
}

nlohmann::ordered_json ConfigTable::json_schema() const {
  ojson sections = ojson::object();
  for (const auto& [name, is_key] : children(keys_, "")) {
    sections[name] = section_json_schema(keys_, name + ".");
  }
  // What a listed format needs: an entry in every per-format map that is required or given.
  ojson rules = ojson::array();
  const KeySpec* formats = find_key(keys_, formats_key_of(keys_));
  const bool maps = std::any_of(keys_.begin(), keys_.end(), is_format_map);
  for (const auto& f : all_formats()) {
    if (!formats || !maps) break;
    ojson then = ojson::object();
    for (const auto& def : keys_) {
      if (!is_format_map(def)) continue;
      const bool needed = def.def == nullptr;
      ojson leaf = {{"required", ojson::array({f.name})}};
      if (needed) leaf = {{"type", "object"}, {"required", ojson::array({f.name})}};
      put_at(then, split(def.key, '.'), 0, leaf, needed);
    }
    rules.push_back({{"$comment", "a listed format " + f.name + " needs its entries"},
                     {"if", listed_json_schema(*formats, f.name)},
                     {"then", then}});
  }
  std::vector<std::string> names;
  std::string described;
  for (const auto& f : all_formats()) {
    names.push_back(f.name);
    described += (described.empty() ? "" : ", ") + f.name + " (" + std::to_string(f.width) + "x" +
                 std::to_string(f.height) + ", " + f.folder + "/)";
  }
  ojson out = {
      {"$schema", "http://json-schema.org/draft-07/schema#"},
      {"title", info_.title},
      {"description", info_.description},
      {"type", "object"},
      {"properties", sections},
      {"additionalProperties", false},
  };
  if (const auto required = required_children(keys_, ""); !required.empty()) {
    out["required"] = required;
  }
  if (!rules.empty()) out["allOf"] = rules;
  if (formats) {
    out["definitions"] = {{"format",
                           {{"type", "string"},
                            {"enum", names},
                            {"description", "Patch format: " + described + "."}}}};
  }
  return out;
}

ConfigCheck ConfigTable::check(const YAML::Node& root,
                               const std::vector<std::string>& overrides) const {
  Report report;
  Context ctx(keys_);
  ctx.fallback = YAML::Mark();
  ConfigCheck out;
  for (const auto& assignment : overrides) {
    std::string key = trim(assignment.substr(0, assignment.find('=')));
    const KeySpec* parent = find(key.substr(0, key.rfind('.')));
    if (!find(key) && parent && is_format_map(*parent)) key = parent->key;
    out.overrides_[key] = assignment;
  }
  if (root.IsDefined() && !root.IsNull()) {
    if (root.IsMap()) {
      walk(root, "", ctx, out.given_, report);
    } else {
      report.at(root.Mark(), "a config must be a mapping of sections (" + join(sections(), ", ") +
                                 "), found " + describe(root));
      out.problems_ = report.take();
      return out;
    }
  }
  for (const auto& def : keys_) {
    const auto it = out.given_.find(def.key);
    auto clean = check_value(def, it == out.given_.end() ? nullptr : &it->second, ctx, report);
    if (clean) out.values_.emplace(def.key, std::move(*clean));
  }
  out.problems_ = report.take();
  out.key_marks_ = std::move(ctx.key_marks);
  out.format_marks_ = std::move(ctx.format_marks);
  return out;
}

namespace {

// "origin:line:col: " at `mark` (0-based), or "origin: " where the mark is unknown.
std::string located(const std::string& origin, const YAML::Mark& mark) {
  if (mark.line < 0 || mark.column < 0) return origin + ": ";
  return origin + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1) +
         ": ";
}

std::string too_deep_message(const std::string& where) {
  return where + "the YAML nests deeper than " + std::to_string(kMaxConfigDepth) +
         " levels here; a config is three levels deep (SECTION, key, value): check the "
         "indentation and the brackets";
}

// The offset of the first byte of `text` that is not part of well-formed UTF-8 (no overlong
// forms, surrogates or code points past U+10FFFF); npos when it all is.
std::size_t invalid_utf8_at(const std::string& text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = byte(i);
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return i;
    }
    if (i + n >= text.size()) return i;  // cut short
    for (std::size_t k = 1; k <= n; ++k) {
      const unsigned char next = byte(i + k);
      if (next < (k == 1 ? lo : 0x80) || next > (k == 1 ? hi : 0xBF)) return i;
    }
    i += n + 1;
  }
  return std::string::npos;
}

// What a walk over a document has seen so far, every alias expanded.
struct Expanded {
  std::size_t nodes = 0;
  std::size_t bytes = 0;  // of scalars
};

// Walks `n` depth first with every alias expanded, and throws ConfigError at the first node
// past the depth, node or byte bound. The recursion is at most kMaxConfigDepth deep.
void check_yaml_bounds(const YAML::Node& n, int depth, Expanded& seen, const std::string& origin,
                       bool locate) {
  const auto where = [&] { return locate ? located(origin, n.Mark()) : origin + ": "; };
  if (n.IsScalar()) {
    seen.bytes += n.Scalar().size();
    if (seen.bytes > kMaxConfigExpandedBytes) {
      throw ConfigError(where() + "the YAML expands to more than " +
                            std::to_string(kMaxConfigExpandedBytes) +
                            " bytes of values (each use of an alias *name counts its anchored "
                            "value again); write the values out instead of repeating aliases",
                        origin);
    }
  }
  if (++seen.nodes > kMaxConfigNodes) {
    throw ConfigError(where() + "the YAML expands to more than " + std::to_string(kMaxConfigNodes) +
                          " nodes (each use of an alias *name counts its anchored value again); "
                          "a config has a few hundred: write the values out instead of nesting "
                          "aliases",
                      origin);
  }
  if (depth > kMaxConfigDepth) throw ConfigError(too_deep_message(where()), origin);
  if (n.IsSequence()) {
    for (const auto& item : n) check_yaml_bounds(item, depth + 1, seen, origin, locate);
  } else if (n.IsMap()) {
    for (const auto& entry : n) {
      check_yaml_bounds(entry.first, depth + 1, seen, origin, locate);
      check_yaml_bounds(entry.second, depth + 1, seen, origin, locate);
    }
  }
}

}  // namespace

void ConfigTable::apply_override(YAML::Node& root, const std::string& assignment) const {
  const std::string where = "--set " + assignment + ": ";
  const size_t eq = assignment.find('=');
  const std::string key = trim(assignment.substr(0, eq));
  const std::vector<std::string> parts = split(key, '.');
  if (eq == std::string::npos || key.empty() ||
      std::any_of(parts.begin(), parts.end(), [](const auto& p) { return p.empty(); })) {
    throw ConfigError(where + "expected SECTION.key=value, e.g. " + info_.override_example);
  }
  const KeySpec* def = find(key);
  std::string entry;  // a format, for `TRAINING.batch_size.small_540=2`
  if (!def && parts.size() > 2) {
    const KeySpec* parent = find(key.substr(0, key.rfind('.')));
    if (parent && is_format_map(*parent)) {
      def = parent;
      entry = parts.back();
    }
  }
  if (!def) {
    std::vector<std::string> names;
    for (const auto& d : keys_) names.push_back(d.key);
    const std::vector<std::string> paths = all_paths(keys_);
    if (std::find(paths.begin(), paths.end(), key) != paths.end()) {
      throw ConfigError(where + "'" + key + "' is a section; set one of its keys, e.g. " +
                        children(keys_, key + ".").front().first);
    }
    std::string message = where + "unknown key '" + key + "'";
    if (const std::string guess = closest_match(key, names); !guess.empty())
      message += "; did you mean '" + guess + "'?";
    throw ConfigError(message);
  }

  YAML::Node value;
  try {
    value = YAML::Load(assignment.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    throw ConfigError(where + "the value is not valid YAML: " + e.msg);
  }
  Expanded seen;
  check_yaml_bounds(value, 0, seen, "--set " + assignment, /*locate=*/false);
  // (A Node is a handle: assigning to a copy of `value` would change `value` itself.)
  YAML::Node checked(YAML::NodeType::Map);
  if (entry.empty()) {
    checked.reset(value);
  } else {
    checked[entry] = value;
  }
  Context ctx(keys_);
  Report report;
  check_value(*def, &checked, ctx, report);
  const std::vector<ConfigProblem> problems = report.take();
  if (!problems.empty()) {
    std::string message;
    for (const auto& p : problems) message += (message.empty() ? "" : "\n") + where + p.message;
    throw ConfigError(message);
  }

  if (!root.IsDefined() || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) throw ConfigError(where + "the config is not a mapping of sections");
  set_path(root, parts, 0, value);
}

YAML::Node ConfigTable::parse(const std::string& text, const std::string& origin,
                              const std::vector<std::string>& overrides) const {
  YAML::Node root = load_yaml_bounded(text, origin);
  for (const auto& assignment : overrides) apply_override(root, assignment);
  return root;
}

YAML::Node load_yaml_bounded(const std::string& text, const std::string& origin) {
  if (text.size() > kMaxConfigBytes) {
    throw ConfigError(origin + ": the config is " + std::to_string(text.size()) +
                          " bytes, more than the limit of " + std::to_string(kMaxConfigBytes) +
                          " (1 MiB); a config is a few KB: check that this is the config file",
                      origin);
  }
  if (const std::size_t bad = invalid_utf8_at(text); bad != std::string::npos) {
    YAML::Mark at;
    at.line = static_cast<int>(std::count(text.begin(), text.begin() + bad, '\n'));
    const std::size_t newline = bad == 0 ? std::string::npos : text.rfind('\n', bad - 1);
    at.column = static_cast<int>(newline == std::string::npos ? bad : bad - newline - 1);
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned char>(text[bad]));
    throw ConfigError(located(origin, at) + "the config is not UTF-8 text (byte " + hex +
                          "); save it as UTF-8, or check that this is the config file",
                      origin);
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own guard (2000 levels), before ours can look.
    throw ConfigError(too_deep_message(located(origin, e.mark)), origin);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(located(origin, e.mark) + "YAML syntax error: " + e.msg, origin);
  } catch (const YAML::Exception& e) {
    throw ConfigError(located(origin, e.mark) + "cannot read the YAML: " + e.msg, origin);
  }
  Expanded seen;
  check_yaml_bounds(root, 0, seen, origin, /*locate=*/true);
  return root;
}

std::string format_problems(const std::string& origin, const std::vector<ConfigProblem>& all) {
  std::string out;
  for (const auto& p : all) {
    if (!out.empty()) out += "\n";
    out += origin + ":";
    if (p.line > 0) out += std::to_string(p.line) + ":" + std::to_string(p.column) + ":";
    out += " " + p.message;
  }
  return out;
}

void check_scale_divides_formats(ConfigCheck& check, const std::string& scale_key, int scale,
                                 const std::string& formats_key,
                                 const std::vector<std::string>& formats) {
  for (const auto& format_name : formats) {
    const FormatInfo& f = *find_format(format_name);
    if (f.width % scale == 0 && f.height % scale == 0) continue;
    std::vector<std::string> fits;
    for (int s : {2, 3, 4}) {
      if (f.width % s == 0 && f.height % s == 0) fits.push_back(std::to_string(s));
    }
    check.problem_at_format(format_name, formats_key,
                            "format '" + format_name + "' (" + std::to_string(f.width) + "x" +
                                std::to_string(f.height) + ") is not divisible by " + scale_key +
                                " " + std::to_string(scale) + "; use " + scale_key + " " +
                                join(fits, " or ") + ", or remove the format");
  }
}

std::string ConfigOrigin::where(const std::string& key) const {
  for (auto it = overrides.rbegin(); it != overrides.rend(); ++it) {
    const std::string set_key = trim(it->substr(0, it->find('=')));
    if (set_key == key || set_key.rfind(key + ".", 0) == 0) return "--set " + *it;
  }
  for (std::string k = key; !k.empty(); k = k.substr(0, std::min(k.size(), k.rfind('.')))) {
    const auto it = positions.find(k);
    if (it != positions.end()) {
      return origin + ":" + std::to_string(it->second.first) + ":" +
             std::to_string(it->second.second);
    }
    if (k.find('.') == std::string::npos) break;
  }
  return origin;
}

std::string read_config_text(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError(path + ": is a folder, not a config file; give the path of a .yaml file",
                      path);
  }
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxConfigBytes) {
    throw ConfigError(path + ": the config file is " + std::to_string(size) +
                          " bytes, more than the limit of " + std::to_string(kMaxConfigBytes) +
                          " (1 MiB); a config is a few KB: check that this is the config file",
                      path);
  }
  try {
    return read_text_file(path);
  } catch (const DataError&) {
    throw ConfigError(path + ": cannot read the config file" +
                          (std::filesystem::exists(path) ? "" : " (it does not exist)"),
                      path);
  }
}

namespace {

using namespace config_keys;

Range closed(double lo, double hi) { return Range::closed(lo, hi); }
Range closed_open(double lo, double hi) { return Range::closed_open(lo, hi); }
Range open_closed(double lo, double hi) { return Range::open_closed(lo, hi); }
Range at_least(double lo) { return Range::at_least(lo); }
Range above(double lo) { return Range::above(lo); }

using TC = TrainConfig;
using MC = ModelConfig;
using DC = DataConfig;
using AC = AugmentConfig;
using TR = TrainingConfig;
using VC = ValidationConfig;
using CC = CheckpointConfig;
using LC = LoggingConfig;
using OC = OutputConfig;
using DIC = DistributedConfig;

// Every key of the config, in README order. The one place to add a key.
const KeyTable<TrainConfig>& train_table() {
  static const KeyTable<TrainConfig> table(
      {"vsr_flow training config",
       "A YAML training config of vsr_flow (vsr_flow run CONFIG.yaml). Generated by `vsr_flow "
       "schema` from the key table in runtime/config/config.cpp, the one that validates "
       "configs; vsr_flow also checks what JSON Schema does not express (warmup_steps at most "
       "total_steps, formats divisible by MODEL.scale, ...).",
       "TRAINING.learning_rate=0.0002"},
      {
          // MODEL
          Int("MODEL.base_channels", "128", closed(8, 512),
              "Feature channels of the network (the spec: 64-256; small values for tests).",
              put<&TC::model, &MC::base_channels>),
          Int("MODEL.num_blocks", "32", closed(1, 64),
              "Residual blocks per branch (the spec: 16-48).", put<&TC::model, &MC::num_blocks>),
          Bool("MODEL.use_checkpointing", "true",
               "Gradient checkpointing: recompute activations in backward to save memory.",
               put<&TC::model, &MC::use_checkpointing>),
          Choice("MODEL.channels_last", "auto", {"auto", "true", "false"},
                 "NHWC (channels_last) weights and activations: faster convolutions on GPUs with "
                 "tensor cores. auto: on for CUDA, off for the CPU.",
                 put<&TC::model, &MC::channels_last>),
          IntOf("MODEL.scale", "3", {"2", "3", "4"},
                "Upscaling factor; every listed format's GT size must be divisible by it.",
                put<&TC::model, &MC::scale>),
          Float("MODEL.flow_lr_mult", "0.25", closed(0, 10),
                "Learning-rate multiplier of the optical-flow network (BasicVSR++: 0.25).",
                put<&TC::model, &MC::flow_lr_mult>),
          Int("MODEL.flow_freeze_steps", "0", at_least(0),
              "First steps with the flow network frozen (BasicVSR++ freezes a pretrained one for "
              "5000; ours starts from scratch).",
              put<&TC::model, &MC::flow_freeze_steps>),
          Str("MODEL.pretrained", "\"\"",
              "State dict (.pth) to initialise the weights from; empty: random init (fresh start).",
              put<&TC::model, &MC::pretrained>),
          // DATA
          Choice("DATA.category", "general", category_names(),
                 "Dataset category: general (Universal/Mastermodell), space (Space/SpaceModel), "
                 "toon (Toon/ToonModel).",
                 put<&TC::data, &DC::category>),
          Choice("DATA.lr_version", "7frames", lr_version_names(),
                 "LR frames per sample: the LR_5frames or LR_7frames stacks.",
                 put<&TC::data, &DC::lr_version>),
          Str("DATA.data_root", "/mnt/data/training/dataset",
              "Dataset root holding the category folders; checked when a run starts.",
              put<&TC::data, &DC::data_root>),
          FormatList("DATA.formats", "[small_540]",
                     "Patch formats to train on: small_540, medium_169, large_720, xlarge_1440, "
                     "fullhd_1920.",
                     put<&TC::data, &DC::formats>),
          FormatMap("DATA.format_weights", KeyKind::kFloatMap, "1", above(0),
                    "Sampling weight per listed format, normalised to probabilities; when the key "
                    "is absent, all equal.",
                    put<&TC::data, &DC::format_weights>, "equal"),
          Int("DATA.num_workers", "4", closed(1, 64), "Decode threads (the spec: CPU cores / 2).",
              put<&TC::data, &DC::num_workers>),
          Int("DATA.prefetch", "4", closed(1, 1024),
              "Micro-batches in flight ahead of the train step (bounds memory).",
              put<&TC::data, &DC::prefetch>),
          Int("DATA.cache_mb", "0", at_least(0),
              "Keep up to this many MiB of decoded training pairs in memory: a pair read once is "
              "not read or decoded again (an 8-bit small_540 pair with 7 LR frames is 1.5 MiB); "
              "0: off.",
              put<&TC::data, &DC::cache_mb>),
          Choice("DATA.on_bad_sample", "fail", {"fail", "skip"},
                 "A training pair that cannot be read or has the wrong size: fail ends the run "
                 "naming the file; skip replaces it with another pair of its format (the same in "
                 "every run), counts it and lists the bad files at the end.",
                 put<&TC::data, &DC::on_bad_sample>),
          Float("DATA.max_bad_fraction", "0.01", closed(0, 1),
                "With on_bad_sample skip: end the run once more than this fraction of the "
                "samples seen are bad (counted over at least 100 samples).",
                put<&TC::data, &DC::max_bad_fraction>),
          Int("DATA.augmentation.crop", "0", closed(0, 4096),
              "Random GT crop size in pixels per sample (a multiple of MODEL.scale, aligned to the "
              "LR "
              "grid), as BasicSR's gt_size; 0 trains on whole patches.",
              put<&TC::data, &DC::augmentation, &AC::crop>),
          Float("DATA.augmentation.hflip", "0.5", closed(0, 1), "Probability of a horizontal flip.",
                put<&TC::data, &DC::augmentation, &AC::hflip>),
          Float("DATA.augmentation.vflip", "0.5", closed(0, 1), "Probability of a vertical flip.",
                put<&TC::data, &DC::augmentation, &AC::vflip>),
          Float("DATA.augmentation.rot90", "0.5", closed(0, 1),
                "Probability of a 90-degree rotation (square formats only).",
                put<&TC::data, &DC::augmentation, &AC::rot90>),
          Float("DATA.augmentation.reverse", "0.5", closed(0, 1),
                "Probability of reversing the frame order.",
                put<&TC::data, &DC::augmentation, &AC::reverse>),
          // TRAINING
          Int("TRAINING.total_steps", "100000", at_least(1),
              "Optimizer steps of the run, from step 0.", put<&TC::training, &TR::total_steps>),
          Float("TRAINING.time_budget_minutes", "0", at_least(0),
                "Wall-clock minutes of training (over resumes) after which the run ends as at "
                "total_steps, whichever comes first; the cosine schedule decays to fit the budget. "
                "0: no limit.",
                put<&TC::training, &TR::time_budget_minutes>),
          FormatMap("TRAINING.batch_size", KeyKind::kIntMap, nullptr, closed(1, 256),
                    "Samples per micro-batch, for each listed format.",
                    put<&TC::training, &TR::batch_size>, "required"),
          FormatMap("TRAINING.gradient_accumulation", KeyKind::kIntMap, "1", closed(1, 256),
                    "Micro-batches per optimizer step, for each listed format (effective batch = "
                    "batch_size x accumulation); when the key is absent, 1.",
                    put<&TC::training, &TR::gradient_accumulation>, "1"),
          Float("TRAINING.learning_rate", "0.0001", open_closed(0, 1),
                "Peak learning rate, reached after warm-up.",
                put<&TC::training, &TR::learning_rate>),
          Int("TRAINING.warmup_steps", "1000", at_least(0),
              "Linear warm-up steps from 0 to learning_rate; at most total_steps.",
              put<&TC::training, &TR::warmup_steps>),
          Choice("TRAINING.schedule", "cosine", {"cosine", "constant"},
                 "After warm-up: cosine decay to learning_rate x min_lr_ratio at total_steps, or "
                 "constant.",
                 put<&TC::training, &TR::schedule>),
          Float("TRAINING.min_lr_ratio", "0.001", closed(0, 1),
                "Final / peak learning rate of the cosine schedule (BasicVSR++: 1e-4 to 1e-7).",
                put<&TC::training, &TR::min_lr_ratio>),
          Choice("TRAINING.optimizer", "adam", {"adam", "adamw"}, "Optimizer (BasicVSR++: Adam).",
                 put<&TC::training, &TR::optimizer>),
          NumberList("TRAINING.betas", KeyKind::kFloatList, "[0.9, 0.99]", 2, closed_open(0, 1),
                     "Adam betas (BasicVSR++: 0.9, 0.99).", put<&TC::training, &TR::betas>),
          Float("TRAINING.weight_decay", "0", closed(0, 1),
                "Weight decay: L2 for adam, decoupled for adamw.",
                put<&TC::training, &TR::weight_decay>),
          Float("TRAINING.grad_clip", "0", at_least(0),
                "Clip the global gradient norm to this value; 0: off.",
                put<&TC::training, &TR::grad_clip>),
          Choice("TRAINING.loss", "charbonnier", {"charbonnier", "l1"},
                 "Pixel loss (BasicVSR++: Charbonnier).", put<&TC::training, &TR::loss>),
          Float("TRAINING.ema_decay", "0.999", closed_open(0, 1),
                "Decay of an exponential moving average of the weights (BasicSR: 0.999); 0: off.",
                put<&TC::training, &TR::ema_decay>),
          Choice("TRAINING.mixed_precision", "off", {"off", "auto", "bf16", "fp16"},
                 "Autocast: bf16 (CPU or GPU; 1.5x the demo's steps/s on an AMX-BF16 CPU, slower "
                 "on other CPUs), fp16 (CUDA only, with loss scaling), off, or auto: bf16 where "
                 "it pays (CPUs with AMX-BF16, CUDA compute capability 8.0 on), else off.",
                 put<&TC::training, &TR::mixed_precision>),
          Int("TRAINING.seed", "0", closed(0, 4294967295.0),
              "Seed of sampling, augmentation and initialisation: same seed, same run.",
              put<&TC::training, &TR::seed>),
          Choice("TRAINING.device", "auto", {"auto", "cpu", "cuda"},
                 "auto: CUDA when available, else CPU.", put<&TC::training, &TR::device>),
          Int("TRAINING.threads", "0", closed(0, 1024),
              "Intra-op threads of LibTorch; 0: all cores.", put<&TC::training, &TR::threads>),
          Choice("TRAINING.pause_data", "auto", {"auto", "on", "off"},
                 "on: decode waits while a micro-batch computes, and decodes between them. On a "
                 "CPU whose cores the step's threads all take, decoding beside the step stalls "
                 "all of them whenever it preempts one (OpenMP waits for its slowest thread). "
                 "auto: on when the device is the CPU and TRAINING.threads takes every core.",
                 put<&TC::training, &TR::pause_data>),
          // VALIDATION
          Int("VALIDATION.val_interval", "500", at_least(1),
              "Validate every this many steps (validation_images/step_NNNNNN/).",
              put<&TC::validation, &VC::val_interval>),
          Int("VALIDATION.num_images", "10", closed(0, 100000),
              "Val/GT images per validation, in name order; 0: all.",
              put<&TC::validation, &VC::num_images>),
          Int("VALIDATION.tile", "0", closed(0, 8192),
              "Run validation in LR tiles of this size (pixels) to bound memory; 0: whole images.",
              put<&TC::validation, &VC::tile>),
          Int("VALIDATION.tile_overlap", "16", closed(0, 1024),
              "Overlap of neighbouring tiles in LR pixels; under half the tile.",
              put<&TC::validation, &VC::tile_overlap>),
          // CHECKPOINT
          Int("CHECKPOINT.checkpoint_interval", "5000", at_least(1),
              "Write checkpoints/checkpoint_step_NNNNNN.pth every this many steps.",
              put<&TC::checkpoint, &CC::checkpoint_interval>),
          Int("CHECKPOINT.keep_last", "0", closed(0, 1000000),
              "Keep only the newest this many checkpoints; 0: keep all.",
              put<&TC::checkpoint, &CC::keep_last>),
          // LOGGING
          Int("LOGGING.log_interval", "100", at_least(1),
              "Print progress and write TensorBoard scalars every this many steps.",
              put<&TC::logging, &LC::log_interval>),
          // DISTRIBUTED
          Choice("DISTRIBUTED.backend", "auto", {"auto", "gloo", "nccl"},
                 "c10d backend of a multi-process run (`run --nproc N`, or torchrun's "
                 "variables): auto picks gloo on the CPU and nccl on CUDA.",
                 put<&TC::distributed, &DIC::backend>),
          Float("DISTRIBUTED.timeout_s", "300", closed(1, 86400),
                "A rendezvous or collective slower than this (a rank that died or hangs) ends "
                "the job with an error naming the rank.",
                put<&TC::distributed, &DIC::timeout_s>),
          // OUTPUT
          Str("OUTPUT.experiments_root", "/mnt/data/training/experiments", "Folder of all runs.",
              put<&TC::output, &OC::experiments_root>),
          Str("OUTPUT.experiment_name", "\"\"",
              "Run folder under experiments_root (checkpoints/, validation_images/, tensorboard/).",
              put<&TC::output, &OC::experiment_name>, "<category>_fresh_<lr_version>"),
      });
  return table;
}

}  // namespace

const ConfigTable& train_config_table() { return train_table().table(); }

std::string TrainConfig::experiment_dir() const {
  return (std::filesystem::path(output.experiments_root) / output.experiment_name).string();
}

std::string TrainConfig::val_dir() const {
  return val_gt_dir(data.data_root, data.category).string();
}

const std::vector<ConfigKeyDoc>& config_schema_docs() {
  static const std::vector<ConfigKeyDoc> docs = train_config_table().docs();
  return docs;
}

std::string config_reference_markdown() { return train_config_table().reference_markdown(); }

nlohmann::ordered_json config_json_schema() { return train_config_table().json_schema(); }

std::vector<ConfigProblem> check_config(const YAML::Node& root, TrainConfig* out,
                                        const std::vector<std::string>& overrides) {
  TrainConfig config;
  ConfigCheck check = train_table().check(root, config, overrides);
  const auto ok = [&](std::initializer_list<const char*> keys) { return check.ok(keys); };

  if (ok({"DATA.lr_version"})) config.data.frames = lr_version_info(config.data.lr_version).frames;
  if (ok({"OUTPUT.experiment_name", "DATA.category", "DATA.lr_version"}) &&
      config.output.experiment_name.empty()) {
    config.output.experiment_name = config.data.category + "_fresh_" + config.data.lr_version;
  }
  const std::string& name = config.output.experiment_name;
  if (ok({"OUTPUT.experiment_name"}) &&
      (name.find('/') != std::string::npos || name == "." || name == "..")) {
    check.problem_at("OUTPUT.experiment_name",
                     "OUTPUT.experiment_name must be a plain folder name, found '" + name +
                         "'; put parent folders in OUTPUT.experiments_root");
  }
  if (ok({"TRAINING.warmup_steps", "TRAINING.total_steps"}) &&
      config.training.warmup_steps > config.training.total_steps) {
    check.problem_at("TRAINING.warmup_steps",
                     "TRAINING.warmup_steps (" + std::to_string(config.training.warmup_steps) +
                         ") must not exceed TRAINING.total_steps (" +
                         std::to_string(config.training.total_steps) + ")");
  }
  if (ok({"VALIDATION.tile", "VALIDATION.tile_overlap"}) && config.validation.tile > 0 &&
      2 * config.validation.tile_overlap >= config.validation.tile) {
    check.problem_at("VALIDATION.tile_overlap",
                     "VALIDATION.tile_overlap (" + std::to_string(config.validation.tile_overlap) +
                         ") must be less than half of VALIDATION.tile (" +
                         std::to_string(config.validation.tile) + ")");
  }
  if (ok({"TRAINING.mixed_precision", "TRAINING.device"}) &&
      config.training.mixed_precision == "fp16" && config.training.device == "cpu") {
    check.problem_at(
        "TRAINING.mixed_precision",
        "TRAINING.mixed_precision fp16 needs CUDA, but TRAINING.device is cpu; use bf16 "
        "on CPU");
  }
  if (ok({"MODEL.scale", "DATA.formats"})) {
    check_scale_divides_formats(check, "MODEL.scale", config.model.scale, "DATA.formats",
                                config.data.formats);
  }
  if (ok({"DATA.formats", "DATA.format_weights"})) {
    double sum = 0;
    for (const auto& f : config.data.formats) sum += config.data.format_weights.at(f);
    for (const auto& f : config.data.formats) {
      config.data.probabilities.push_back(config.data.format_weights.at(f) / sum);
    }
  }

  std::vector<ConfigProblem> problems = check.problems();
  config.positions = check.positions();
  if (problems.empty() && out) *out = std::move(config);
  return problems;
}

TrainConfig config_from_yaml(const YAML::Node& root, const std::string& origin) {
  TrainConfig config;
  const std::vector<ConfigProblem> problems = check_config(root, &config);
  if (!problems.empty()) throw ConfigError(format_problems(origin, problems));
  config.origin = origin;
  return config;
}

TrainConfig load_config_text(const std::string& text, const std::string& origin,
                             const std::vector<std::string>& overrides) {
  const YAML::Node root = train_config_table().parse(text, origin, overrides);
  TrainConfig config;
  const std::vector<ConfigProblem> problems = check_config(root, &config, overrides);
  if (!problems.empty()) throw ConfigError(format_problems(origin, problems));
  config.origin = origin;
  config.overrides = overrides;
  return config;
}

TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  return load_config_text(read_config_text(path), path, overrides);
}

void apply_override(YAML::Node& root, const std::string& assignment) {
  train_config_table().apply_override(root, assignment);
}

std::string format_probabilities_line(const TrainConfig& config) {
  const DataConfig& data = config.data;
  std::string line = "format probabilities:";
  double sum = 0;
  for (size_t i = 0; i < data.formats.size(); ++i) {
    char percent[32];
    std::snprintf(percent, sizeof percent, "%.1f%%", 100.0 * data.probabilities.at(i));
    line += std::string(i ? ", " : " ") + data.formats[i] + " " + percent;
    sum += data.format_weights.at(data.formats[i]);
  }
  if (std::abs(sum - 1.0) > 1e-9) line += " (weights normalised from sum " + number_text(sum) + ")";
  return line;
}

}  // namespace vsr
