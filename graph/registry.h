// Stage registry: type name -> schema + factory. Stages register themselves with
// VSR_REGISTER_STAGE(ClassName) in their .cpp; the class provides
// `static StageSchema schema()` and a constructor taking `const StageContext&`.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/validation.h"
#include "graph/schema.h"
#include "graph/stage.h"

namespace vsr {

using StageFactory = std::function<std::unique_ptr<Stage>(const StageContext&)>;

struct StageType {
  StageSchema schema;
  StageFactory factory;
};

class Registry {
 public:
  // The process-wide registry that VSR_REGISTER_STAGE fills.
  static Registry& global();

  // Throws SpecError when the type name is taken.
  void add(StageSchema schema, StageFactory factory);
  template <class S>
  void add() {
    add(S::schema(), [](const StageContext& c) { return std::make_unique<S>(c); });
  }
  const StageType* find(const std::string& type) const;
  // Throws SpecError naming the known types when `type` is not registered.
  const StageType& get(const std::string& type) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, StageType> types_;
};

// Registers into Registry::global() at static-initialisation time; a duplicate name
// prints the error and exits the process (it is a build mistake, not a user one).
struct StageRegistrar {
  StageRegistrar(StageSchema schema, StageFactory factory);
};

}  // namespace vsr

#define VSR_REGISTER_STAGE(CLASS)                                                          \
  static const ::vsr::StageRegistrar vsr_registrar_##CLASS(                                \
      CLASS::schema(), [](const ::vsr::StageContext& c) -> std::unique_ptr<::vsr::Stage> { \
        return std::make_unique<CLASS>(c);                                                 \
      })
