// Fuzzes the JSON pipeline-spec reader (graph/spec): any bytes give a checked spec or a
// SpecError, never a crash, a hang or an unbounded allocation; a spec that checks serialises.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/errors.h"
#include "graph/spec.h"
#include "tests/graph/test_stages.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const vsr::json doc = vsr::parse_json_text(text, "fuzz.json");
    vsr::Spec spec;
    if (vsr::check_spec(doc, vsr::testing::test_registry(), &spec).empty()) {
      (void)vsr::to_json(spec).dump();
    }
  } catch (const vsr::SpecError&) {
  }
  return 0;
}
