#include "graph/dot.h"

#include <sstream>

namespace vsr {

namespace {

// Escapes text for a double-quoted DOT string.
std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string short_value(const json& v) {
  std::string text = v.is_string() ? v.get<std::string>() : v.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

}  // namespace

std::string to_dot(const Spec& spec, const Registry& registry) {
  std::ostringstream o;
  o << "digraph \"" << esc(spec.name.empty() ? "pipeline" : spec.name) << "\" {\n"
    << "  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
    << "  edge [fontname=\"Helvetica\", fontsize=10];\n";
  for (const auto& s : spec.stages) {
    std::string label = s.name + "\n[" + s.type + "]";
    if (s.max_in_flight) label += "\nsource, max_in_flight " + std::to_string(s.max_in_flight);
    label += "\nconcurrency " +
             (s.concurrency == 0 ? std::string("unlimited") : std::to_string(s.concurrency));
    if (const StageType* type = registry.find(s.type)) {
      for (const auto& p : type->schema.params()) {
        if (!s.params.contains(p.name)) continue;
        const json& v = s.params[p.name];
        if (!p.required && v == p.default_value) continue;
        label += "\n" + p.name + " = " + short_value(v);
      }
    }
    o << "  \"" << esc(s.name) << "\" [label=\"" << esc(label) << "\"];\n";
  }
  for (const auto& e : spec.edges) {
    o << "  \"" << esc(e.from.stage) << "\" -> \"" << esc(e.to.stage) << "\" [label=\""
      << esc(e.from.port + " -> " + e.to.port + "\n" + e.type) << "\"];\n";
  }
  o << "}\n";
  return o.str();
}

}  // namespace vsr
