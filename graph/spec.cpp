#include "graph/spec.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <system_error>

#include "common/errors.h"
#include "common/validation.h"

namespace vsr {

const StageDecl* Spec::stage(const std::string& name) const {
  for (const auto& s : stages) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

namespace {

std::string kind_of(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "bool";
  if (v.is_number_integer()) return "int";
  if (v.is_number()) return "float";
  if (v.is_string()) return "string";
  if (v.is_array()) return "array";
  return "object";
}

std::string port_names(const std::vector<PortSpec>& ports) {
  std::vector<std::string> names;
  for (const auto& p : ports) names.push_back(p.name);
  return quoted_list(names);
}

class Checker {
 public:
  Checker(const json& doc, const Registry& registry, const CheckOptions& options)
      : doc_(doc), registry_(registry), options_(options) {}

  std::vector<SpecProblem> run(Spec* out) {
    if (!doc_.is_object()) {
      add("$",
          "expected a JSON object with 'version', 'stages' and 'edges', found " + kind_of(doc_));
      return problems_;
    }
    check_top();
    check_stages();
    check_shared_used();
    check_edges();
    check_inputs_connected();
    check_cycles();
    const bool resolved = std::all_of(problems_.begin(), problems_.end(),
                                      [](const SpecProblem& p) { return p.world; });
    if (resolved && out) *out = std::move(spec_);
    return problems_;
  }

 private:
  void add(std::string path, std::string message, std::string stage = "", std::string param = "",
           bool world = false) {
    // A shared value is checked by every stage that reads it: report each problem once.
    for (const auto& p : problems_) {
      if (p.path == path && p.message == message) return;
    }
    problems_.push_back(
        {std::move(path), std::move(message), std::move(stage), std::move(param), world});
  }

  void check_top() {
    static const std::vector<std::string> kKeys = {
        "version", "name", "description", "max_in_flight", "shared", "stages", "edges", "meta"};
    for (const auto& [key, _] : doc_.items()) {
      if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
        add("$." + key, unknown_key_message(key, kKeys));
      }
    }
    if (!doc_.contains("version")) {
      add("$.version", "missing; add \"version\": " + std::to_string(kSpecVersion));
    } else if (!doc_["version"].is_number_integer() || doc_["version"] != kSpecVersion) {
      add("$.version", "expected " + std::to_string(kSpecVersion) + ", found " +
                           doc_["version"].dump() + "; this vsr_flow reads spec version " +
                           std::to_string(kSpecVersion));
    }
    if (doc_.contains("name")) {
      if (doc_["name"].is_string()) {
        spec_.name = doc_["name"];
      } else {
        add("$.name", "expected a string, found " + kind_of(doc_["name"]));
      }
    }
    if (doc_.contains("max_in_flight")) {
      spec_.max_in_flight = positive_int(doc_["max_in_flight"], "$.max_in_flight");
    }
    if (doc_.contains("shared")) {
      if (doc_["shared"].is_object()) {
        spec_.shared = doc_["shared"];
      } else {
        add("$.shared",
            "expected an object of shared param values, found " + kind_of(doc_["shared"]));
      }
    }
    if (doc_.contains("meta")) {
      if (doc_["meta"].is_object()) {
        spec_.meta = doc_["meta"];
      } else {
        add("$.meta", "expected an object, found " + kind_of(doc_["meta"]));
      }
    }
  }

  int positive_int(const json& v, const std::string& path) {
    if (!v.is_number_integer() || v.get<long long>() < 1) {
      add(path, "expected an integer >= 1, found " + v.dump());
      return 1;
    }
    return v.get<int>();
  }

  static std::string unknown_key_message(const std::string& key,
                                         const std::vector<std::string>& known) {
    std::string msg = "unknown key '" + key + "'";
    const std::string near = closest_match(key, known);
    if (!near.empty()) msg += " (did you mean '" + near + "'?)";
    return msg + "; known keys: " + quoted_list(known);
  }

  void check_stages() {
    if (!doc_.contains("stages")) {
      add("$.stages", "missing; add an array of stages");
      return;
    }
    const json& stages = doc_["stages"];
    if (!stages.is_array()) {
      add("$.stages", "expected an array of stages, found " + kind_of(stages));
      return;
    }
    std::map<std::string, std::string> seen;  // name -> path
    for (size_t i = 0; i < stages.size(); ++i) {
      const std::string path = "$.stages[" + std::to_string(i) + "]";
      const json& s = stages[i];
      if (!s.is_object()) {
        add(path, "expected an object with 'name' and 'type', found " + kind_of(s));
        continue;
      }
      StageDecl decl;
      decl.path = path;
      static const std::vector<std::string> kKeys = {"name",        "type",          "params",
                                                     "concurrency", "max_in_flight", "doc"};
      for (const auto& [key, _] : s.items()) {
        if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
          add(path + "." + key, unknown_key_message(key, kKeys));
        }
      }
      bool named = false;
      if (!s.contains("name") || !s["name"].is_string() || s["name"].get<std::string>().empty()) {
        add(path + ".name", "expected a non-empty string naming the stage");
      } else {
        decl.name = s["name"];
        named = true;
        if (decl.name.find_first_of(". ->") != std::string::npos) {
          add(path + ".name", "stage name '" + decl.name +
                                  "' may not contain '.', '-', '>' or spaces (edges use them)");
        }
        auto [it, fresh] = seen.emplace(decl.name, path);
        if (!fresh) {
          add(path + ".name", "duplicate stage name '" + decl.name + "' (first used at " +
                                  it->second + "); stage names must be unique");
          named = false;
        }
      }
      if (!s.contains("type") || !s["type"].is_string()) {
        add(path + ".type", "expected a string naming a stage type; see `vsr_flow stages`");
        continue;
      }
      decl.type = s["type"];
      const StageType* type = registry_.find(decl.type);
      if (!type) {
        try {
          registry_.get(decl.type);
        } catch (const SpecError& e) {
          add(path + ".type", e.what());
        }
        continue;
      }
      check_params(*type, s, path, decl);
      check_concurrency(*type, s, path, decl);
      if (named) {
        known_.emplace(decl.name, &type->schema);
        spec_.stages.push_back(std::move(decl));
      }
    }
  }

  // Checks `value` against `p` (recursively for groups) and returns it with defaults filled
  // in, or null after reporting the problem at `path`.
  json check_value(const ParamSpec& p, const json& value, const std::string& path,
                   const std::string& stage, const std::string& param) {
    auto problem = [&](std::string message) {
      add(path, std::move(message), stage, param);
      return json();
    };
    if (!param_matches(p.type, value)) {
      return problem("expected " + std::string(to_string(p.type)) + ", found " + kind_of(value) +
                     " " + value.dump());
    }
    if (p.type == ParamType::kGroup) return check_members(p.members, value, path, stage, param);
    const bool list = value.is_array();
    if (list && p.length >= 0 && static_cast<int>(value.size()) != p.length) {
      return problem("expected " + std::to_string(p.length) + " values (" + p.type_text() +
                     "), found " + std::to_string(value.size()) + ": " + value.dump());
    }
    if (p.non_empty &&
        ((value.is_string() && value.get<std::string>().empty()) || (list && value.empty()))) {
      return problem("must not be empty (" + p.doc + ")");
    }
    for (const json& v : list ? value : json::array({value})) {
      if (v.is_number() && !p.range.contains(v.get<double>())) {
        return problem("value " + v.dump() + " out of range " + p.range.text());
      }
      if (v.is_string() && !p.choices.empty() &&
          std::find(p.choices.begin(), p.choices.end(), v.get<std::string>()) == p.choices.end()) {
        return problem("expected one of " + quoted_list(p.choices) + ", found " + v.dump());
      }
    }
    return value;
  }

  // The members of a group (or a stage's params): unknown keys, wrong values, missing
  // required ones; defaults filled in.
  json check_members(const std::vector<ParamSpec>& specs, const json& given,
                     const std::string& path, const std::string& stage, const std::string& prefix) {
    std::vector<std::string> names;
    for (const auto& p : specs) names.push_back(p.name);
    json out = json::object();
    bool ok = true;
    for (const auto& [key, value] : given.items()) {
      const std::string param = prefix.empty() ? key : prefix + "." + key;
      const auto p = std::find_if(specs.begin(), specs.end(),
                                  [&name = key](const ParamSpec& s) { return s.name == name; });
      if (p == specs.end()) {
        std::string msg = "unknown param '" + param + "' for stage type " + known_types_.at(stage);
        const std::string near = closest_match(key, names);
        if (!near.empty()) msg += " (did you mean '" + near + "'?)";
        add(path + "." + key,
            msg + "; " + (prefix.empty() ? "its params: " : prefix + " has: ") + quoted_list(names),
            stage, param);
        ok = false;
        continue;
      }
      json checked = check_value(*p, value, path + "." + key, stage, param);
      if (checked.is_null()) {
        ok = false;
        continue;
      }
      out[key] = std::move(checked);
    }
    for (const auto& p : specs) {
      if (given.contains(p.name)) continue;
      const std::string param = prefix.empty() ? p.name : prefix + "." + p.name;
      if (prefix.empty() && p.shared && spec_.shared.contains(p.name)) {
        json checked = check_value(p, spec_.shared[p.name], "$.shared." + p.name, stage, param);
        if (checked.is_null()) {
          ok = false;
          continue;
        }
        out[p.name] = std::move(checked);
        from_shared_.push_back(p.name);
      } else if (p.required) {
        add(path + "." + p.name,
            "missing required param '" + param + "' (" + p.type_text() + ": " + p.doc + ")" +
                (p.shared ? "; give it in the stage's params or once in $.shared" : ""),
            stage, param);
        ok = false;
      } else if (p.type == ParamType::kGroup) {
        out[p.name] = check_members(p.members, json::object(), path + "." + p.name, stage, param);
      } else {
        out[p.name] = p.default_value;
      }
    }
    return ok ? out : json();
  }

  void check_params(const StageType& type, const json& s, const std::string& path,
                    StageDecl& decl) {
    json given = json::object();
    if (s.contains("params")) {
      if (!s["params"].is_object()) {
        add(path + ".params", "expected an object, found " + kind_of(s["params"]));
      } else {
        given = s["params"];
      }
    }
    from_shared_.clear();
    known_types_[decl.name] = decl.type;
    const std::size_t before = problems_.size();
    json params = check_members(type.schema.params(), given, path + ".params", decl.name, "");
    decl.from_shared = from_shared_;
    if (params.is_null() || problems_.size() != before) {
      decl.params = json::object();
      return;
    }
    decl.params = std::move(params);
    run_checks(type.schema, decl);
  }

  // The JSON path of a stage's param, where its value was given.
  static std::string param_path(const StageDecl& decl, const std::string& param) {
    const std::string top = param.substr(0, param.find('.'));
    if (std::find(decl.from_shared.begin(), decl.from_shared.end(), top) !=
        decl.from_shared.end()) {
      return "$.shared." + param;
    }
    return decl.path + ".params." + param;
  }

  // The schema's checks across params, then (when asked) its checks of the world.
  void run_checks(const StageSchema& schema, const StageDecl& decl) {
    ParamProblems found;
    std::vector<bool> world;
    for (const auto& check : schema.checks()) {
      if (check.world && !options_.world) continue;
      try {
        check.run(decl.params, found);
      } catch (const std::exception& e) {
        found.add("", check.what + ": " + e.what());
      }
      world.resize(found.items().size(), check.world);
    }
    if (options_.world) check_paths(schema.params(), decl.params, "", found, world);
    for (std::size_t i = 0; i < found.items().size(); ++i) {
      const auto& [param, message] = found.items()[i];
      add(param.empty() ? decl.path : param_path(decl, param), message, decl.name, param, world[i]);
    }
  }

  // The path rules of `specs` against the values in `params`.
  static void check_paths(const std::vector<ParamSpec>& specs, const json& params,
                          const std::string& prefix, ParamProblems& found,
                          std::vector<bool>& world) {
    for (const auto& p : specs) {
      const std::string param = prefix.empty() ? p.name : prefix + "." + p.name;
      if (!params.contains(p.name)) continue;
      const json& v = params[p.name];
      if (p.type == ParamType::kGroup) {
        check_paths(p.members, v, param, found, world);
        continue;
      }
      if (p.path == PathRule::kNone || !v.is_string() || v.get<std::string>().empty()) continue;
      const std::string problem = path_problem(p.path, p.path_noun, v.get<std::string>());
      if (!problem.empty()) {
        found.add(param, problem);
        world.push_back(true);
      }
    }
  }

  // What is wrong with `value` under `rule`, or "".
  static std::string path_problem(PathRule rule, const std::string& noun,
                                  const std::string& value) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path path(value);
    const fs::file_status status = fs::status(path, ec);
    switch (rule) {
      case PathRule::kNone:
        return "";
      case PathRule::kFile: {
        if (!fs::exists(status)) return noun + " " + value + " does not exist; check the path";
        if (!fs::is_regular_file(status)) return value + " is not a regular file";
        if (::access(value.c_str(), R_OK) != 0) {
          return noun + " " + value + " cannot be read (permissions)";
        }
        return "";
      }
      case PathRule::kDir:
        if (!fs::exists(status)) return noun + " " + value + " does not exist; check the path";
        if (!fs::is_directory(status)) return value + " is not a folder";
        return "";
      case PathRule::kCreatableDir: {
        if (fs::exists(status)) {
          if (!fs::is_directory(status)) {
            return value + " exists and is not a folder; give a folder to write into";
          }
          if (::access(value.c_str(), W_OK) != 0) {
            return noun + " " + value + " is not writable; give a folder you can write into";
          }
          return "";
        }
        fs::path parent = fs::absolute(path, ec).parent_path();
        while (!parent.empty() && !fs::exists(parent, ec)) {
          if (parent == parent.parent_path()) break;
          parent = parent.parent_path();
        }
        if (!fs::is_directory(parent, ec)) {
          return noun + " " + value + " cannot be created: " + parent.string() + " is not a folder";
        }
        if (::access(parent.c_str(), W_OK) != 0) {
          return noun + " " + value + " cannot be created: " + parent.string() + " is not writable";
        }
        return "";
      }
    }
    return "";
  }

  void check_concurrency(const StageType& type, const json& s, const std::string& path,
                         StageDecl& decl) {
    if (s.contains("concurrency")) {
      const json& c = s["concurrency"];
      const std::string cpath = path + ".concurrency";
      if (c.is_string() && c == "unlimited") {
        decl.concurrency = 0;
      } else if (c.is_number_integer() && c.get<long long>() >= 1) {
        decl.concurrency = c.get<int>();
      } else {
        add(cpath, "expected an integer >= 1 or \"unlimited\", found " + c.dump());
      }
      if (decl.concurrency != 1 && !type.schema.allows_concurrency()) {
        add(cpath,
            "stage type " + decl.type + " is serial and runs with concurrency 1; remove this key");
      }
    }
    const bool source = type.schema.kind() == StageKind::kSource;
    if (s.contains("max_in_flight")) {
      if (!source) {
        add(path + ".max_in_flight",
            "only sources take max_in_flight; stage type " + decl.type + " has inputs");
      } else {
        decl.max_in_flight = positive_int(s["max_in_flight"], path + ".max_in_flight");
      }
    } else if (source) {
      decl.max_in_flight = spec_.max_in_flight;
    }
  }

  // "a.out -> b.in" or {"from": "a.out", "to": "b.in"}.
  bool parse_edge(const json& e, const std::string& path, std::string& from, std::string& to) {
    if (e.is_string()) {
      const std::string text = e;
      const auto arrow = text.find("->");
      if (arrow == std::string::npos) {
        add(path, "expected \"stage.port -> stage.port\", found " + e.dump());
        return false;
      }
      auto trim = [](std::string x) {
        const auto b = x.find_first_not_of(' ');
        const auto f = x.find_last_not_of(' ');
        return b == std::string::npos ? std::string() : x.substr(b, f - b + 1);
      };
      from = trim(text.substr(0, arrow));
      to = trim(text.substr(arrow + 2));
      return true;
    }
    if (e.is_object() && e.contains("from") && e.contains("to") && e["from"].is_string() &&
        e["to"].is_string()) {
      from = e["from"];
      to = e["to"];
      return true;
    }
    add(path,
        "expected \"stage.port -> stage.port\" or {\"from\": ..., \"to\": ...}, found " + e.dump());
    return false;
  }

  // Resolves "stage.port" against the inputs or outputs of a known stage.
  const PortSpec* resolve(const std::string& text, bool output, const std::string& path,
                          PortRef& ref) {
    const auto dot = text.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == text.size()) {
      add(path, "expected stage.port, found '" + text + "'");
      return nullptr;
    }
    ref.stage = text.substr(0, dot);
    ref.port = text.substr(dot + 1);
    auto it = known_.find(ref.stage);
    if (it == known_.end()) {
      std::vector<std::string> names;
      for (const auto& [n, _] : known_) names.push_back(n);
      std::string msg = "edge names unknown stage '" + ref.stage + "'";
      const std::string near = closest_match(ref.stage, names);
      if (!near.empty()) msg += " (did you mean '" + near + "'?)";
      add(path, msg + "; stages: " + quoted_list(names));
      return nullptr;
    }
    const StageSchema& schema = *it->second;
    const PortSpec* port = output ? schema.output_port(ref.port) : schema.input_port(ref.port);
    if (!port) {
      const auto& ports = output ? schema.outputs() : schema.inputs();
      add(path, std::string("stage '") + ref.stage + "' (type " + schema.type() + ") has no " +
                    (output ? "output" : "input") + " port '" + ref.port + "'; its " +
                    (output ? "outputs" : "inputs") + ": " + port_names(ports));
    }
    return port;
  }

  void check_edges() {
    if (!doc_.contains("edges")) {
      add("$.edges", "missing; add an array of \"stage.port -> stage.port\" edges");
      return;
    }
    const json& edges = doc_["edges"];
    if (!edges.is_array()) {
      add("$.edges", "expected an array, found " + kind_of(edges));
      return;
    }
    std::set<std::pair<std::string, std::string>> seen;
    for (size_t i = 0; i < edges.size(); ++i) {
      const std::string path = "$.edges[" + std::to_string(i) + "]";
      std::string from, to;
      if (!parse_edge(edges[i], path, from, to)) continue;
      EdgeDecl edge;
      edge.path = path;
      const PortSpec* out = resolve(from, /*output=*/true, path, edge.from);
      const PortSpec* in = resolve(to, /*output=*/false, path, edge.to);
      if (!out || !in) continue;
      if (out->type != in->type) {
        add(path, "type mismatch: " + edge.from.str() + " (stage type " +
                      known_[edge.from.stage]->type() + ") emits " + out->type + " but " +
                      edge.to.str() + " (stage type " + known_[edge.to.stage]->type() + ") takes " +
                      in->type);
        continue;
      }
      if (!seen.emplace(edge.from.str(), edge.to.str()).second) {
        add(path, "duplicate edge " + edge.from.str() + " -> " + edge.to.str());
        continue;
      }
      edge.type = out->type;
      spec_.edges.push_back(std::move(edge));
    }
  }

  void check_inputs_connected() {
    if (!doc_.contains("edges") || !doc_["edges"].is_array()) return;
    std::set<std::string> fed;
    for (const auto& e : spec_.edges) fed.insert(e.to.str());
    for (const auto& s : spec_.stages) {
      for (const auto& p : known_[s.name]->inputs()) {
        const std::string ref = s.name + "." + p.name;
        if (!fed.count(ref)) {
          add(s.path, "input " + ref + " (" + p.type +
                          ") is not connected; add an edge \"<stage>.<port> -> " + ref + "\"");
        }
      }
    }
  }

  void check_cycles() {
    std::map<std::string, std::vector<std::string>> next;
    for (const auto& e : spec_.edges) next[e.from.stage].push_back(e.to.stage);
    std::map<std::string, int> state;  // 0 new, 1 on stack, 2 done
    std::vector<std::string> stack;
    std::set<std::string> reported;
    std::function<void(const std::string&)> visit = [&](const std::string& n) {
      state[n] = 1;
      stack.push_back(n);
      for (const auto& m : next[n]) {
        if (state[m] == 1) {
          auto from = std::find(stack.begin(), stack.end(), m);
          std::string cycle;
          for (auto it = from; it != stack.end(); ++it) cycle += *it + " -> ";
          if (reported.insert(m).second) {
            add("$.edges", "cycle: " + cycle + m +
                               "; a pipeline must be acyclic (sources bound what is in flight)");
          }
        } else if (state[m] == 0) {
          visit(m);
        }
      }
      stack.pop_back();
      state[n] = 2;
    };
    for (const auto& s : spec_.stages) {
      if (state[s.name] == 0) visit(s.name);
    }
  }

  // Every shared value must be a shared param of some stage of the spec.
  void check_shared_used() {
    std::set<std::string> declared;
    for (const auto& s : spec_.stages) {
      for (const auto& p : registry_.get(s.type).schema.params()) {
        if (p.shared) declared.insert(p.name);
      }
    }
    for (const auto& [key, _] : spec_.shared.items()) {
      if (declared.count(key)) continue;
      std::string msg = "shared value '" + key + "' is not a shared param of any stage here";
      const std::vector<std::string> names(declared.begin(), declared.end());
      const std::string near = closest_match(key, names);
      if (!near.empty()) msg += " (did you mean '" + near + "'?)";
      add("$.shared." + key, msg + "; shared params: " + quoted_list(names));
    }
  }

  const json& doc_;
  const Registry& registry_;
  const CheckOptions options_;
  Spec spec_;
  std::map<std::string, std::string> known_types_;  // stage name -> type
  std::vector<std::string> from_shared_;            // of the stage being checked
  std::map<std::string, const StageSchema*> known_;
  std::vector<SpecProblem> problems_;
};

}  // namespace

std::vector<SpecProblem> check_spec(const json& doc, const Registry& registry, Spec* out,
                                    const CheckOptions& options) {
  return Checker(doc, registry, options).run(out);
}

std::string format_spec_problems(const std::string& origin,
                                 const std::vector<SpecProblem>& problems,
                                 const ProblemLabel& label) {
  std::string msg = origin + ": " + std::to_string(problems.size()) + " problem" +
                    (problems.size() == 1 ? "" : "s") + ":";
  for (const auto& p : problems) msg += "\n  " + (label ? label(p) : p.path) + ": " + p.message;
  return msg;
}

Spec parse_spec(const json& doc, const Registry& registry, const std::string& origin,
                const CheckOptions& options, const ProblemLabel& label) {
  Spec spec;
  const auto problems = check_spec(doc, registry, &spec, options);
  if (!problems.empty()) throw SpecError(format_spec_problems(origin, problems, label));
  return spec;
}

namespace {

// "path:line:col" of byte `offset` (0-based) of `text`.
std::string located(const std::string& origin, const std::string& text, std::size_t offset) {
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return origin + ":" + std::to_string(line) + ":" + std::to_string(col);
}

// The offset of the first bracket (outside strings) that opens a value nested deeper than
// `limit`; npos when there is none.
std::size_t too_deep_at(const std::string& text, int limit) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return std::string::npos;
}

struct TooDeep {};

}  // namespace

json parse_json_text(const std::string& text, const std::string& origin) {
  if (text.size() > kMaxSpecBytes) {
    throw SpecError(origin + ": the file is " + std::to_string(text.size()) +
                        " bytes, more than the limit of " + std::to_string(kMaxSpecBytes) +
                        " (16 MiB) for a pipeline spec; a spec is a few KB: check that this is "
                        "the spec file",
                    origin);
  }
  // The parser itself keeps its own stack, but everything that walks the result (the checks,
  // dump, copies) recurses: stop at kMaxSpecDepth while parsing. `depth` is the number of
  // values around the one that starts.
  const json::parser_callback_t bound = [](int depth, json::parse_event_t event, json&) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= kMaxSpecDepth) {
      throw TooDeep{};
    }
    return true;
  };
  try {
    return json::parse(text, bound);
  } catch (const TooDeep&) {
    const std::size_t at = too_deep_at(text, kMaxSpecDepth);
    throw SpecError((at == std::string::npos ? origin : located(origin, text, at)) +
                        ": the JSON nests deeper than " + std::to_string(kMaxSpecDepth) +
                        " levels here; a spec is about five levels deep: check the brackets",
                    origin);
  } catch (const json::parse_error& e) {
    // Byte offset -> line:col, so the user can jump to it.
    throw SpecError(
        located(origin, text, e.byte == 0 ? 0 : e.byte - 1) + ": invalid JSON: " + e.what(),
        origin);
  } catch (const json::exception& e) {
    // E.g. out_of_range for a number past a double ("1e400"), which has no byte offset.
    throw SpecError(origin + ": invalid JSON: " + e.what(), origin);
  }
}

json read_json_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    throw SpecError(path + ": is a folder, not a spec file; give the path of a .json file", path);
  }
  const std::uintmax_t size = fs::file_size(path, ec);
  if (!ec && size > kMaxSpecBytes) {
    throw SpecError(path + ": the file is " + std::to_string(size) +
                        " bytes, more than the limit of " + std::to_string(kMaxSpecBytes) +
                        " (16 MiB) for a pipeline spec; a spec is a few KB: check that this is "
                        "the spec file",
                    path);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SpecError(path + ": cannot open the file; check the path", path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw SpecError(path + ": cannot read the file", path);
  return parse_json_text(text, path);
}

json to_json(const Spec& spec) {
  json stages = json::array();
  for (const auto& s : spec.stages) {
    json params = s.params;
    for (const auto& name : s.from_shared) params.erase(name);
    json j = {{"name", s.name}, {"type", s.type}, {"params", std::move(params)}};
    if (s.concurrency != 1)
      j["concurrency"] = s.concurrency == 0 ? json("unlimited") : json(s.concurrency);
    if (s.max_in_flight) j["max_in_flight"] = s.max_in_flight;
    stages.push_back(std::move(j));
  }
  json edges = json::array();
  for (const auto& e : spec.edges) edges.push_back(e.from.str() + " -> " + e.to.str());
  json out = {{"version", spec.version},
              {"max_in_flight", spec.max_in_flight},
              {"stages", stages},
              {"edges", edges}};
  if (!spec.name.empty()) out["name"] = spec.name;
  if (!spec.shared.empty()) out["shared"] = spec.shared;
  if (!spec.meta.empty()) out["meta"] = spec.meta;
  return out;
}

}  // namespace vsr
