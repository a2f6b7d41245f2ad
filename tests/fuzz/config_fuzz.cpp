// Fuzzes the YAML config loader (runtime/config): any bytes give a config or a ConfigError,
// never a crash, a hang or an unbounded allocation; a config that loads compiles into a spec
// that serialises.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/errors.h"
#include "runtime/config/config.h"
#include "runtime/config/convert_config.h"
#include "runtime/config/specs.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    if (vsr::config_kind(text, "fuzz.yaml") == vsr::ConfigKind::kConvert) {
      const vsr::ConvertConfig config = vsr::load_convert_config_text(text, "fuzz.yaml");
      (void)vsr::compile_convert_spec(config, text).dump();
    } else {
      const vsr::TrainConfig config = vsr::load_config_text(text, "fuzz.yaml");
      (void)vsr::compile_train_spec(config, text).dump();
    }
  } catch (const vsr::ConfigError&) {
  }
  return 0;
}
