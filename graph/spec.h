// The JSON pipeline spec: parsing and validation. Example (format version 1):
//
//   {
//     "version": 1,
//     "name": "demo",
//     "max_in_flight": 8,
//     "shared": {"scale": 3},
//     "stages": [
//       {"name": "numbers", "type": "counter", "params": {"count": 100}, "max_in_flight": 4},
//       {"name": "square",  "type": "square", "concurrency": 2},
//       {"name": "print",   "type": "printer"}
//     ],
//     "edges": ["numbers.out -> square.in", "square.out -> print.in"],
//     "meta": {"anything": "kept verbatim for the run's records"}
//   }
//
// `shared` gives, once for the whole spec, the params that stage types declare shared() (the
// scale, the frame count, the device...): every stage that declares the param and does not
// give it in its own params gets that value.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/spec_format.h"
#include "graph/registry.h"
#include "graph/schema.h"

namespace vsr {

constexpr int kDefaultMaxInFlight = 8;

struct PortRef {
  std::string stage;
  std::string port;
  std::string str() const { return stage + "." + port; }
};

struct StageDecl {
  std::string name;
  std::string type;
  json params;                           // every param, defaults and shared values filled in
  int concurrency = 1;                   // 0 = unlimited
  int max_in_flight = 0;                 // sources only: credits of the in-flight bound
  std::string path;                      // JSON path, for messages
  std::vector<std::string> from_shared;  // params whose value came from the spec's shared
};

struct EdgeDecl {
  PortRef from;  // an output port
  PortRef to;    // an input port
  std::string type;
  std::string path;
};

struct Spec {
  int version = kSpecVersion;
  std::string name;
  int max_in_flight = kDefaultMaxInFlight;
  json shared = json::object();
  std::vector<StageDecl> stages;
  std::vector<EdgeDecl> edges;
  json meta = json::object();

  const StageDecl* stage(const std::string& name) const;
};

struct SpecProblem {
  std::string path;  // e.g. $.stages[2].params.count, or $.shared.scale
  std::string message;
  std::string stage;   // the stage it is about ("" for spec-level problems)
  std::string param;   // the param within that stage ("crop", "model.frames"), if any
  bool world = false;  // found by a check of the world (files, folders, devices)
};

struct CheckOptions {
  // Run the checks of the world (path rules and world_check()s) as well as those of the spec.
  bool world = true;
};

// Every problem of `doc` at once, each stage's checks included; fills `*out` (when given)
// with the resolved spec if there are none but problems of the world (so a caller may report
// those as warnings and still use the spec).
std::vector<SpecProblem> check_spec(const json& doc, const Registry& registry, Spec* out = nullptr,
                                    const CheckOptions& options = {});

// How a problem is introduced in a message: its JSON path by default; a compiled config maps
// it to the config key and its file:line:col.
using ProblemLabel = std::function<std::string(const SpecProblem&)>;
// "ORIGIN: N problems:" and one "  LABEL: message" line per problem.
std::string format_spec_problems(const std::string& origin,
                                 const std::vector<SpecProblem>& problems,
                                 const ProblemLabel& label = nullptr);

// The resolved spec; throws SpecError listing every problem, each on its own line.
Spec parse_spec(const json& doc, const Registry& registry, const std::string& origin = "spec",
                const CheckOptions& options = {}, const ProblemLabel& label = nullptr);
// The bounds of a spec file, far above any real spec (a few KB, about five levels deep) and far
// below what could exhaust memory or, in the recursive walks over a parsed document, the stack.
constexpr std::size_t kMaxSpecBytes = std::size_t{16} << 20;  // 16 MiB
constexpr int kMaxSpecDepth = 64;
// Parses JSON text within those bounds; `origin` names it in messages. Throws SpecError naming
// origin:line:col of a syntax error or of the first value nested too deep.
json parse_json_text(const std::string& text, const std::string& origin);
// Reads a JSON file (parse_json_text); throws SpecError naming the file, also when it is a
// folder, cannot be read or is larger than kMaxSpecBytes.
json read_json_file(const std::string& path);
// The spec as JSON again, with every default filled in (shared values stay in "shared").
json to_json(const Spec& spec);

}  // namespace vsr
