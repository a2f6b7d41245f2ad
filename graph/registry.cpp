#include "graph/registry.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "graph/errors.h"

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

std::string closest_match(const std::string& word, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& k : known) {
    std::vector<size_t> row(k.size() + 1);
    for (size_t j = 0; j <= k.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= word.size(); ++i) {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= k.size(); ++j) {
        const size_t up = row[j];
        const bool same = std::tolower(word[i - 1]) == std::tolower(k[j - 1]);
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (same ? 0 : 1)});
        diag = up;
      }
    }
    if (row[k.size()] < best_d) {
      best_d = row[k.size()];
      best = k;
    }
  }
  return best;
}

}  // namespace vsr
