// The generated files that are checked in stay what their generators print: stages/README.md
// (`vsr_flow stages --markdown`), configs/vsr_flow.schema.json (`vsr_flow schema`), which
// every training preset names for editors, and configs/convert.schema.json (`vsr_flow schema
// --convert`), which the conversion configs name.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "graph/registry.h"
#include "runtime/cli/compile.h"
#include "runtime/cli/docs.h"
#include "runtime/config/config.h"
#include "runtime/config/convert_config.h"
#include "runtime/data/formats.h"
#include "tests/support/command.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kSource = VSR_SOURCE_DIR;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// stdout only.
testing::CommandResult run(const std::string& args) {
  return testing::run_command(std::string(VSR_BINARY) + " " + args + " 2>/dev/null");
}

// "" when equal, else the first line that differs in each (the whole texts would bury it).
std::string first_difference(const std::string& file, const std::string& generated) {
  if (file == generated) return "";
  std::istringstream a(file), b(generated);
  std::string line_a, line_b;
  for (int line = 1;; ++line) {
    const bool more_a = static_cast<bool>(std::getline(a, line_a));
    const bool more_b = static_cast<bool>(std::getline(b, line_b));
    if (more_a != more_b || line_a != line_b) {
      return "first difference at line " + std::to_string(line) +
             ":\n  file:      " + (more_a ? line_a : "<end>") +
             "\n  generated: " + (more_b ? line_b : "<end>") + "\n";
    }
    if (!more_a) return "the files differ in their last newline\n";
  }
}

TEST(Docs, StagesReadmeIsTheGeneratedReference) {
  const std::string expected = stages_markdown(Registry::global());
  EXPECT_THAT(expected, HasSubstr("## `train_step`"));
  EXPECT_THAT(expected, HasSubstr("| `model.base_channels` | int in [8, 512] | required |"));
  EXPECT_EQ(first_difference(read(kSource / "stages/README.md"), expected), "")
      << "stages/README.md is out of date; regenerate it with:\n"
      << "  build/vsr_flow stages --markdown > stages/README.md";
}

TEST(Docs, ConfigSchemaFileIsTheGeneratedSchema) {
  const std::string expected = config_json_schema().dump(2) + "\n";
  EXPECT_EQ(first_difference(read(kSource / "configs/vsr_flow.schema.json"), expected), "")
      << "configs/vsr_flow.schema.json is out of date; regenerate it with:\n"
      << "  build/vsr_flow schema > configs/vsr_flow.schema.json";
}

TEST(Docs, ConvertSchemaFileIsTheGeneratedSchema) {
  const std::string expected = convert_json_schema().dump(2) + "\n";
  EXPECT_EQ(first_difference(read(kSource / "configs/convert.schema.json"), expected), "")
      << "configs/convert.schema.json is out of date; regenerate it with:\n"
      << "  build/vsr_flow schema --convert > configs/convert.schema.json";
}

TEST(Docs, CommandsPrintTheGenerators) {
  const testing::CommandResult stages = run("stages --markdown");
  EXPECT_EQ(stages.code, 0);
  EXPECT_EQ(first_difference(stages.out, stages_markdown(Registry::global())), "");
  const testing::CommandResult schema = run("schema");
  EXPECT_EQ(schema.code, 0);
  EXPECT_EQ(first_difference(schema.out, config_json_schema().dump(2) + "\n"), "");
  const testing::CommandResult convert = run("schema --convert");
  EXPECT_EQ(convert.code, 0);
  EXPECT_EQ(first_difference(convert.out, convert_json_schema().dump(2) + "\n"), "");
  EXPECT_EQ(run("stages --markdown augment").code, 2);
  EXPECT_EQ(run("schema extra").code, 2);
}

// The schema's main properties, as the README describes them.
TEST(Docs, ConfigSchemaDescribesEveryKey) {
  const nlohmann::ordered_json s = config_json_schema();
  EXPECT_EQ(s.at("$schema"), "http://json-schema.org/draft-07/schema#");
  EXPECT_EQ(s.at("additionalProperties"), false);
  std::vector<std::string> sections;
  for (const auto& [name, section] : s.at("properties").items()) {
    sections.push_back(name);
    EXPECT_EQ(section.at("additionalProperties"), false) << name;
  }
  EXPECT_EQ(sections, (std::vector<std::string>{"MODEL", "DATA", "TRAINING", "VALIDATION",
                                                "CHECKPOINT", "LOGGING", "DISTRIBUTED", "OUTPUT"}));
  const auto& model = s.at("properties").at("MODEL").at("properties");
  EXPECT_EQ(model.at("base_channels").at("type"), "integer");
  EXPECT_EQ(model.at("base_channels").at("minimum"), 8);
  EXPECT_EQ(model.at("base_channels").at("maximum"), 512);
  EXPECT_EQ(model.at("base_channels").at("default"), 128);
  EXPECT_THAT(model.at("base_channels").at("description").get<std::string>(),
              HasSubstr("Feature channels"));
  const auto& data = s.at("properties").at("DATA").at("properties");
  EXPECT_EQ(data.at("formats").at("items").at("$ref"), "#/definitions/format");
  EXPECT_EQ(data.at("augmentation").at("properties").at("crop").at("maximum"), 4096);
  const auto& training = s.at("properties").at("TRAINING").at("properties");
  EXPECT_EQ(training.at("learning_rate").at("exclusiveMinimum"), 0);
  EXPECT_EQ(training.at("betas").at("minItems"), 2);
  EXPECT_EQ(training.at("betas").at("maxItems"), 2);
  EXPECT_EQ(training.at("betas").at("items").at("exclusiveMaximum"), 1);
  EXPECT_EQ(training.at("optimizer").at("enum"), nlohmann::ordered_json({"adam", "adamw"}));
  std::vector<std::string> formats;
  for (const auto& f : all_formats()) formats.push_back(f.name);
  EXPECT_EQ(s.at("definitions").at("format").at("enum"), nlohmann::ordered_json(formats));
  for (const auto& map : {training.at("batch_size"), training.at("gradient_accumulation"),
                          data.at("format_weights")}) {
    std::vector<std::string> keys;
    for (const auto& [name, entry] : map.at("properties").items()) keys.push_back(name);
    EXPECT_EQ(keys, formats);
  }
}

// So that editors with the YAML language server validate and complete the presets: training
// presets name the training schema, conversion configs the conversion schema.
TEST(Docs, EveryPresetNamesTheSchema) {
  std::vector<fs::path> presets;
  for (const auto& e : fs::directory_iterator(kSource / "configs")) {
    if (e.path().extension() == ".yaml") presets.push_back(e.path());
  }
  ASSERT_FALSE(presets.empty());
  for (const auto& p : presets) {
    const std::string text = read(p);
    const bool convert = config_file_kind(p.string()) == ConfigKind::kConvert;
    EXPECT_EQ(text.substr(0, text.find('\n')),
              std::string("# yaml-language-server: $schema=") +
                  (convert ? "convert.schema.json" : "vsr_flow.schema.json"))
        << p << ": the first line names the schema";
  }
}

}  // namespace
}  // namespace vsr
