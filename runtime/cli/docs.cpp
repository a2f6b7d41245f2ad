#include "runtime/cli/docs.h"

#include <vector>

namespace vsr {
namespace {

const char kIntro[] =
    "# Stage types\n"
    "\n"
    "Every stage type `vsr_flow` registers, as its schema declares it next to its registration\n"
    "in `stages/`: what it does, its ports with their message types (`stages/*/messages.h`), its\n"
    "params, and the checks `vsr_flow validate` and `vsr_flow run` make before any stage is built\n"
    "(checks of the world look at files, folders and devices). A source has no inputs and makes\n"
    "one message per credit of its `max_in_flight` bound; only a concurrent type takes\n"
    "`concurrency` > 1; a shared param may be given once in the spec's `shared` values. The specs\n"
    "`vsr_flow` compiles (training, `check-data`, `upscale`) are built in\n"
    "`runtime/config/specs.cpp`.\n"
    "\n"
    "This file is the output of `vsr_flow stages --markdown`; do not edit it. After changing a\n"
    "stage's schema, regenerate it with `build/vsr_flow stages --markdown > stages/README.md` (a\n"
    "test fails while it is out of date).\n";

// Text for a table cell or paragraph: `|` would end the cell and `<name>` read as HTML.
std::string text(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|' || c == '<') out += '\\';
    out += c;
  }
  return out;
}

std::string code(const std::string& s) {
  std::string out = "`";
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out + "`";
}

std::string kind_text(const StageSchema& s) {
  return std::string(s.kind() == StageKind::kSource ? "source" : "processor") + ", " +
         (s.allows_concurrency() ? "concurrent" : "serial");
}

// "`SampleRequest`, `ValResult`", or "none".
std::string port_types(const std::vector<PortSpec>& ports) {
  std::string out;
  for (const auto& p : ports) out += (out.empty() ? "" : ", ") + code(p.type);
  return out.empty() ? "none" : out;
}

void param_rows(const std::vector<ParamSpec>& params, std::string& out) {
  for_each_param(params, [&](const ParamSpec& p, const std::string& name) {
    std::string shown;
    if (p.required) {
      shown = "required";
    } else if (p.type != ParamType::kGroup) {
      shown = code(p.default_value.dump());
    }
    out += "| " + code(name) + " | " + text(p.type_text()) + " | " + shown + " | " + text(p.doc) +
           " |\n";
  });
}

std::string stage_section(const StageSchema& s) {
  std::string out = "## " + code(s.type()) + "\n\n";
  if (!s.doc().empty()) out += text(s.doc()) + "\n\n";
  out += "Kind: " + kind_text(s) + ".\n\n";
  out += "| port | direction | message | meaning |\n|---|---|---|---|\n";
  for (const auto& p : s.inputs()) {
    out += "| " + code(p.name) + " | in | " + code(p.type) + " | " + text(p.doc) + " |\n";
  }
  for (const auto& p : s.outputs()) {
    out += "| " + code(p.name) + " | out | " + code(p.type) + " | " + text(p.doc) + " |\n";
  }
  out += "\n";
  if (s.params().empty()) {
    out += "No params.\n\n";
  } else {
    out += "| param | type | default | meaning |\n|---|---|---|---|\n";
    param_rows(s.params(), out);
    out += "\n";
  }
  if (!s.checks().empty()) {
    out += "Checks:\n\n";
    for (const auto& c : s.checks()) {
      out += "- " + std::string(c.world ? "of the world: " : "") + text(c.what) + "\n";
    }
    out += "\n";
  }
  return out;
}

}  // namespace

std::string stages_markdown(const Registry& registry) {
  std::string out = std::string(kIntro) + "\n| type | kind | takes | makes |\n|---|---|---|---|\n";
  for (const auto& name : registry.names()) {
    const StageSchema& s = registry.get(name).schema;
    out += "| [" + code(name) + "](#" + name + ") | " + kind_text(s) + " | " +
           port_types(s.inputs()) + " | " + port_types(s.outputs()) + " |\n";
  }
  out += "\n";
  for (const auto& name : registry.names()) out += stage_section(registry.get(name).schema);
  out.pop_back();  // one newline at the end
  return out;
}

}  // namespace vsr
