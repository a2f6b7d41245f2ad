#include "graph/registry.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "common/errors.h"
#include "common/validation.h"

namespace vsr {

Registry& Registry::global() {
  static Registry registry;
  return registry;
}

void Registry::add(StageSchema schema, StageFactory factory) {
  const std::string type = schema.type();
  if (types_.count(type)) {
    throw SpecError("stage type '" + type +
                    "' is registered twice; each stage type needs a unique name");
  }
  types_.emplace(type, StageType{std::move(schema), std::move(factory)});
}

const StageType* Registry::find(const std::string& type) const {
  auto it = types_.find(type);
  return it == types_.end() ? nullptr : &it->second;
}

const StageType& Registry::get(const std::string& type) const {
  if (const StageType* t = find(type)) return *t;
  std::string known;
  for (const auto& name : names()) known += (known.empty() ? "" : ", ") + name;
  std::string msg = "unknown stage type '" + type + "'";
  const std::string near = closest_match(type, names());
  if (!near.empty()) msg += " (did you mean '" + near + "'?)";
  throw SpecError(msg + "; known types: " + (known.empty() ? "<none>" : known));
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : types_) out.push_back(name);
  return out;
}

StageRegistrar::StageRegistrar(StageSchema schema, StageFactory factory) {
  try {
    Registry::global().add(std::move(schema), std::move(factory));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vsr_flow: fatal: %s\n", e.what());
    std::exit(70);
  }
}

}  // namespace vsr
