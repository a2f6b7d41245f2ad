// The JSON pipeline spec: parsing and validation. Example (format version 1):
//
//   {
//     "version": 1,
//     "name": "demo",
//     "max_in_flight": 8,
//     "stages": [
//       {"name": "numbers", "type": "counter", "params": {"count": 100}, "max_in_flight": 4},
//       {"name": "square",  "type": "square", "concurrency": 2},
//       {"name": "print",   "type": "printer"}
//     ],
//     "edges": ["numbers.out -> square.in", "square.out -> print.in"],
//     "meta": {"anything": "kept verbatim for the run's records"}
//   }
#pragma once

#include <string>
#include <vector>

#include "graph/registry.h"
#include "graph/schema.h"

namespace vsr {

constexpr int kSpecVersion = 1;
constexpr int kDefaultMaxInFlight = 8;

struct PortRef {
  std::string stage;
  std::string port;
  std::string str() const { return stage + "." + port; }
};

struct StageDecl {
  std::string name;
  std::string type;
  json params;            // every param, defaults filled in
  int concurrency = 1;    // 0 = unlimited
  int max_in_flight = 0;  // sources only: credits of the in-flight bound
  std::string path;       // JSON path, for messages
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
  std::vector<StageDecl> stages;
  std::vector<EdgeDecl> edges;
  json meta = json::object();

  const StageDecl* stage(const std::string& name) const;
};

struct SpecProblem {
  std::string path;  // e.g. $.stages[2].params.count
  std::string message;
};

// Every problem of `doc` at once; fills `*out` (when given) with the resolved spec if
// there are none.
std::vector<SpecProblem> check_spec(const json& doc, const Registry& registry, Spec* out = nullptr);
// The resolved spec; throws SpecError listing every problem, each on its own line.
Spec parse_spec(const json& doc, const Registry& registry, const std::string& origin = "spec");
// Reads a JSON file; throws SpecError naming the file and the line of a syntax error.
json read_json_file(const std::string& path);
// The spec as JSON again, with every default filled in.
json to_json(const Spec& spec);

}  // namespace vsr
