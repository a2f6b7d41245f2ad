// `vsr_flow export --to .safetensors` read by the safetensors package (the test venv
// .venv-test) and `--to .pth` by Python's torch.load(weights_only=True); .safetensors written by
// that package loaded as MODEL.pretrained weights.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "common/errors.h"
#include "runtime/outputs/checkpoint.h"
#include "runtime/outputs/safetensors.h"
#include "tests/support/command.h"
#include "tests/support/temp_dir.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
const fs::path kSource = VSR_SOURCE_DIR;
const fs::path kPython = kSource / ".venv-test/bin/python";

testing::CommandResult tool(const std::string& verb, const fs::path& file) {
  return testing::run_command(kPython.string() + " " +
                              (kSource / "tests/e2e/safetensors_tool.py").string() + " " + verb +
                              " " + file.string() + " 2>&1");
}

using testing::fresh_dir;

CheckpointData checkpoint() {
  CheckpointData c;
  c.step = 42;
  c.config = "MODEL:\n  scale: 3\n";
  c.base_channels = 8;
  c.num_blocks = 1;
  c.scale = 3;
  c.frames = 7;
  c.model = {{"feat.conv.weight", at::arange(12, at::kFloat).reshape({2, 2, 3}) * 0.5},
             {"feat.conv.bias", at::tensor({0.25f, -0.75f})}};
  c.ema = {{"feat.conv.weight", at::arange(12, at::kFloat).reshape({2, 2, 3}) * -0.125},
           {"feat.conv.bias", at::tensor({1.5f, 3.0f})}};
  return c;
}

TEST(Export, SafetensorsHoldTheEmaWeightsAndTheArchitectureAsTheSafetensorsPackageReadsThem) {
  ASSERT_TRUE(fs::exists(kPython)) << kPython << " is missing: run scripts/setup.sh";
  const fs::path dir = fresh_dir("vsr_export");
  const CheckpointData c = checkpoint();
  save_checkpoint(dir / "ckpt.pth", c);
  for (const std::string weights : {"ema", "model"}) {
    const fs::path out = dir / (weights + ".safetensors");
    const testing::CommandResult r = testing::run_command(
        std::string(VSR_BINARY) + " export " + (dir / "ckpt.pth").string() + " --to " +
        out.string() + (weights == "model" ? " --weights model" : "") + " 2>&1");
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_THAT(r.out, HasSubstr(weights == "ema" ? "EMA weights" : "model weights"));
    const testing::CommandResult read = tool("read", out);
    ASSERT_EQ(read.code, 0) << read.out;
    const auto seen = nlohmann::json::parse(read.out);
    const auto& meta = seen.at("metadata");
    EXPECT_EQ(meta.at("format"), "pt");
    EXPECT_EQ(
        nlohmann::json::parse(meta.at("arch").get<std::string>()),
        nlohmann::json({{"base_channels", 8}, {"num_blocks", 1}, {"scale", 3}, {"frames", 7}}));
    EXPECT_EQ(meta.at("scale"), "3");
    EXPECT_EQ(meta.at("frames"), "7");
    EXPECT_EQ(meta.at("step"), "42");
    EXPECT_EQ(meta.at("weights"), weights);
    EXPECT_EQ(meta.at("config"), c.config);
    EXPECT_TRUE(meta.contains("vsr_flow_version"));
    const auto& expected = weights == "ema" ? c.ema : c.model;
    ASSERT_EQ(seen.at("tensors").size(), expected.size());
    for (const auto& [name, tensor] : expected) {
      const auto& t = seen.at("tensors").at(name);
      EXPECT_EQ(t.at("dtype"), "float32") << name;
      EXPECT_EQ(t.at("shape").get<std::vector<std::int64_t>>(), tensor.sizes().vec()) << name;
      const at::Tensor flat = tensor.reshape(-1);
      ASSERT_EQ(t.at("values").size(), static_cast<std::size_t>(flat.numel()));
      for (std::int64_t i = 0; i < flat.numel(); ++i) {
        EXPECT_EQ(t.at("values")[i].get<double>(), flat[i].item<double>())
            << name << "[" << i << "]";
      }
    }
    // Our reader reads it back too, in the order written.
    const SafeTensors back = load_safetensors(out);
    ASSERT_EQ(back.tensors.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(back.tensors[i].first, expected[i].first);
      EXPECT_TRUE(at::equal(back.tensors[i].second, expected[i].second));
    }
  }
  // BasicSR's .pth: plain tensors that torch.load(weights_only=True) reads (Debian's torch 1.13;
  // pip's 2.15 too where the LibTorch 2 setup installed it).
  const fs::path pth = dir / "basicsr.pth";
  const testing::CommandResult r =
      testing::run_command(std::string(VSR_BINARY) + " export " + (dir / "ckpt.pth").string() +
                           " --to " + pth.string() + " 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("(params_ema, params; 2 tensors each)"));
  std::vector<std::string> pythons = {"/usr/bin/python3"};
  if (fs::exists(kSource / ".venv-torch/bin/python")) {
    pythons.push_back((kSource / ".venv-torch/bin/python").string());
  }
  for (const auto& python : pythons) {
    const testing::CommandResult check = testing::run_command(
        python + " -c \"import torch; d = torch.load('" + pth.string() +
        "', weights_only=True); assert sorted(d) == ['params', 'params_ema'], list(d); "
        "w = d['params_ema']['feat.conv.weight']; "
        "assert w.dtype == torch.float32 and w.shape == (2, 2, 3); "
        "assert torch.equal(w, torch.arange(12.).reshape(2, 2, 3) * -0.125); "
        "assert torch.equal(d['params']['feat.conv.bias'], torch.tensor([0.25, -0.75])); "
        "print('ok')\" 2>&1");
    EXPECT_EQ(check.code, 0) << python << ": " << check.out;
  }
  const testing::CommandResult other = testing::run_command(
      std::string(VSR_BINARY) + " export " + (dir / "ckpt.pth").string() + " --to x.tflite 2>&1");
  EXPECT_EQ(other.code, 2);
  EXPECT_THAT(other.out, HasSubstr("--to x.tflite: export writes .safetensors"));
}

TEST(Export, PretrainedWeightsFromASafetensorsFileThePackageWrote) {
  ASSERT_TRUE(fs::exists(kPython)) << kPython << " is missing: run scripts/setup.sh";
  const fs::path dir = fresh_dir("vsr_export_pretrained");
  const fs::path file = dir / "weights.safetensors";
  const testing::CommandResult w = tool("write", file);
  ASSERT_EQ(w.code, 0) << w.out;
  std::string source;
  const auto weights = read_state_dict(file, "MODEL.pretrained", &source);
  EXPECT_EQ(source, "the .safetensors file, prefix \"module.\" removed");
  ASSERT_EQ(weights.size(), 2u);
  for (const auto& [name, t] : weights) {
    EXPECT_EQ(t.scalar_type(), at::kFloat) << name;  // float16 made float32
    if (name == "conv.weight") {
      EXPECT_TRUE(at::equal(t, at::arange(6, at::kFloat).reshape({2, 3}) / 4));
    } else {
      EXPECT_EQ(name, "conv.bias");
      EXPECT_TRUE(at::equal(t, at::tensor({-1.5f, 2.25f})));
    }
  }
  // Cut short: a clear error naming the file.
  fs::resize_file(file, fs::file_size(file) - 3);
  try {
    read_state_dict(file, "MODEL.pretrained");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr(file.string() + " is not a readable .safetensors file"));
  }
}

TEST(Export, TheSafetensorsReaderRefusesWhatDoesNotAddUp) {
  const fs::path dir = fresh_dir("vsr_safetensors_bad");
  auto write = [&](const std::string& header, std::size_t data_bytes) {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
    bytes += header + std::string(data_bytes, '\0');
    const fs::path p = dir / "x.safetensors";
    std::FILE* f = std::fopen(p.c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
    return p;
  };
  auto error = [&](const fs::path& p) {
    try {
      load_safetensors(p);
    } catch (const DataError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(error(write("[1]", 0)), HasSubstr("its header is not a JSON object"));
  EXPECT_THAT(
      error(write("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 8]}}", 8)),
      HasSubstr("F32 x 4 elements need 16 bytes"));
  EXPECT_THAT(error(write("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
                          "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
                          12)),
              HasSubstr("overlap"));
  EXPECT_THAT(
      error(write("{\"a\": {\"dtype\": \"C64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", 8)),
      HasSubstr("dtype C64, which vsr_flow does not read"));
  EXPECT_THAT(error(write("{\"a\": {\"dtype\": \"F32\", \"shape\": [4000000000, 4000000000], "
                          "\"data_offsets\": [0, 8]}}",
                          8)),
              HasSubstr("not a size within the file"));
  std::string huge(8, '\xff');
  const fs::path p = dir / "huge.safetensors";
  std::FILE* f = std::fopen(p.c_str(), "wb");
  std::fwrite(huge.data(), 1, huge.size(), f);
  std::fclose(f);
  EXPECT_THAT(error(p), HasSubstr("its header claims"));
}

}  // namespace
}  // namespace vsr
