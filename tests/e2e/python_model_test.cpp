// vsr_flow's Python model (python/vsr_flow) against the C++ one, and the ONNX export run by
// onnxruntime: the same trained checkpoint, the same input, outputs compared.
//   - Python: Debian's torch 1.13 (/usr/bin/python3, installed by scripts/setup.sh) and, where
//     the LibTorch 2 setup made it, pip's torch 2.15 (.venv-torch); max abs difference < 1e-5.
//   - ONNX: `vsr_flow export --to X.onnx` traced with Debian's torch, run by the test venv's
//     onnxruntime on a frame size that is not a multiple of the flow pyramid's 4 and on another
//     size (H and W are dynamic); max abs difference from LibTorch < 1e-4.
// VSR_INTEROP_CHECKPOINT=PATH adds that checkpoint (e.g. the demo's) to the Python comparison.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/model/model.h"
#include "runtime/outputs/checkpoint.h"
#include "runtime/outputs/safetensors.h"
#include "tests/support/command.h"
#include "tests/support/temp_dir.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using testing::fresh_dir;
using ::testing::HasSubstr;
const fs::path kSource = VSR_SOURCE_DIR;
const std::string kBinary = VSR_BINARY;
// Debian's python3-torch; `python3` on PATH may be another Python.
const std::string kSystemPython = "/usr/bin/python3";

CheckpointData::Named state_of(torch::nn::Module& m) {
  CheckpointData::Named out;
  for (const auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value().detach().clone());
  return out;
}

// A VSRNet of 8 channels and 2 blocks, trained for a few Adam steps on random data so that
// every layer (also the zero-initialised last convs and the flow's) holds non-zero weights.
VSRNet trained_net(int frames, int scale, std::uint64_t seed) {
  torch::manual_seed(seed);
  VSRNet net(VSRNetOptions().base_channels(8).num_blocks(2).scale(scale).frames(frames));
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(1e-2));
  for (int step = 0; step < 4; ++step) {
    const torch::Tensor lr = torch::rand({2, frames, 3, 12, 12});
    const torch::Tensor gt = torch::rand({2, 3, 12 * scale, 12 * scale});
    adam.zero_grad();
    torch::l1_loss(net->forward(lr), gt).backward();
    adam.step();
  }
  return net;
}

// The checkpoint of `net` as training writes it: the trained weights as "model" and, as
// "ema", the same perturbed, so a loader that picks the wrong one is seen.
CheckpointData checkpoint_of(VSRNet& net, int frames, int scale) {
  CheckpointData c;
  c.step = 4;
  c.config = "MODEL:\n  base_channels: 8\n  num_blocks: 2\n";
  c.base_channels = 8;
  c.num_blocks = 2;
  c.scale = scale;
  c.frames = frames;
  c.model = state_of(*net);
  for (const auto& [name, t] : c.model) c.ema.emplace_back(name, t + 0.01 * torch::randn_like(t));
  return c;
}

// The VSRNet of a checkpoint's arch.
VSRNet net_for(const CheckpointData& c) {
  return VSRNet(VSRNetOptions()
                    .base_channels(c.base_channels)
                    .num_blocks(c.num_blocks)
                    .scale(c.scale)
                    .frames(c.frames));
}

void load_into(VSRNet& net, const CheckpointData::Named& weights) {
  load_named_weights(*net, weights, "test:");
}

// What python_model_check.py compares with: {"io": {input, ema_output, model_output}}, the
// outputs of `net` with the checkpoint's EMA (its model weights when it kept none) and model
// weights.
void write_io(const fs::path& path, VSRNet& net, const CheckpointData& c,
              const torch::Tensor& input) {
  torch::NoGradGuard no_grad;
  net->eval();
  load_into(net, c.ema.empty() ? c.model : c.ema);
  const torch::Tensor ema_out = net->forward(input);
  load_into(net, c.model);
  const torch::Tensor model_out = net->forward(input);
  const CheckpointData::Named io = {
      {"input", input}, {"ema_output", ema_out}, {"model_output", model_out}};
  save_state_dicts(path, {{"io", &io}});
}

nlohmann::json run_json(const std::string& command) {
  const testing::CommandResult r = testing::run_command(command + " 2>&1");
  EXPECT_EQ(r.code, 0) << command << "\n" << r.out;
  if (r.code != 0) return nullptr;
  const auto start = r.out.rfind("\n{");
  return nlohmann::json::parse(start == std::string::npos ? r.out : r.out.substr(start + 1));
}

std::vector<std::string> pythons_with_torch() {
  std::vector<std::string> out = {kSystemPython};
  if (fs::exists(kSource / ".venv-torch/bin/python")) {
    out.push_back((kSource / ".venv-torch/bin/python").string());
  }
  return out;
}

TEST(PythonModel, GivesTheCppModelsOutputsFor5And7FramesAndScales2To4) {
  const fs::path root = fresh_dir("vsr_python_model");
  std::vector<std::string> cases;
  for (const int frames : {5, 7}) {
    for (const int scale : {2, 3, 4}) {
      const std::string name = "t" + std::to_string(frames) + "_x" + std::to_string(scale);
      const fs::path dir = root / name;
      fs::create_directories(dir);
      VSRNet net = trained_net(frames, scale, 10 * frames + scale);
      const CheckpointData c = checkpoint_of(net, frames, scale);
      save_checkpoint(dir / "ckpt.pth", c);
      // 13x10: not a multiple of the flow pyramid's 4, so padding and cropping are compared.
      write_io(dir / "io.pth", net, c, torch::rand({2, frames, 3, 13, 10}));
      if (frames == 7 && scale == 3) {
        const testing::CommandResult r =
            testing::run_command(kBinary + " export " + (dir / "ckpt.pth").string() + " --to " +
                                 (dir / "export.pth").string() + " 2>&1");
        ASSERT_EQ(r.code, 0) << r.out;
      }
      cases.push_back(name);
    }
  }
  const char* extra = std::getenv("VSR_INTEROP_CHECKPOINT");
  if (extra && *extra) {
    // A checkpoint of a real run: its EMA (or model) weights on a 37x29 input.
    const CheckpointData c = load_checkpoint(extra);
    const fs::path dir = root / "given";
    fs::create_directories(dir);
    fs::copy_file(extra, dir / "ckpt.pth");
    VSRNet net = net_for(c);
    torch::manual_seed(3);
    write_io(dir / "io.pth", net, c, torch::rand({1, c.frames, 3, 37, 29}));
    cases.push_back("given");
  }
  std::string dirs;
  for (const auto& name : cases) dirs += " " + (root / name).string();
  for (const auto& python : pythons_with_torch()) {
    const nlohmann::json seen =
        run_json(python + " " + (kSource / "tests/e2e/python_model_check.py").string() + dirs);
    ASSERT_FALSE(seen.is_null()) << python;
    std::cout << python << " (torch " << seen.at("torch").get<std::string>() << "):";
    for (const auto& name : cases) {
      const auto& r = seen.at("cases").at(name);
      EXPECT_LT(r.at("ema").get<double>(), 1e-5) << python << " " << name;
      EXPECT_LT(r.at("model").get<double>(), 1e-5) << python << " " << name;
      EXPECT_TRUE(r.at("same_names_in_order").get<bool>()) << python << " " << name;
      if (r.contains("export_pth")) {
        EXPECT_LT(r.at("export_pth").get<double>(), 1e-5) << python << " " << name;
      }
      std::cout << " " << name << " " << r.at("ema").get<double>();
    }
    std::cout << "\n";
    if (!seen.at("cases").contains("t7_x3")) continue;
    const auto& r = seen.at("cases").at("t7_x3");
    EXPECT_EQ(
        r.at("arch"),
        nlohmann::json({{"base_channels", 8}, {"num_blocks", 2}, {"scale", 3}, {"frames", 7}}));
    EXPECT_EQ(r.at("output_shape"), nlohmann::json({2, 3, 39, 30}));
    EXPECT_TRUE(r.contains("export_pth"));
  }
}

// Exports `checkpoint` (whose EMA weights `net` holds) to ONNX and runs it with onnxruntime on
// `sizes` (h, w), comparing with LibTorch.
void check_onnx(const fs::path& checkpoint, VSRNet& net,
                const std::vector<std::pair<int, int>>& sizes) {
  const fs::path venv_python = kSource / ".venv-test/bin/python";
  ASSERT_TRUE(fs::exists(venv_python)) << venv_python << " is missing: run scripts/setup.sh";
  const int frames = static_cast<int>(net->options().frames());
  const int scale = static_cast<int>(net->options().scale());
  const fs::path dir = checkpoint.parent_path();
  const testing::CommandResult r = testing::run_command(
      "VSR_FLOW_PYTHON=" + kSystemPython + " " + kBinary + " export " + checkpoint.string() +
      " --to " + (dir / "model.onnx").string() + " 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("weights) -> " + (dir / "model.onnx").string()));
  EXPECT_THAT(r.out, HasSubstr("input [1, " + std::to_string(3 * frames) + ", H, W], opset 17"));
  EXPECT_EQ(fs::status(dir / "model.onnx").permissions() & fs::perms::others_read,
            fs::perms::others_read);

  torch::NoGradGuard no_grad;
  net->eval();
  std::vector<std::pair<std::string, at::Tensor>> io;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    const auto [h, w] = sizes[k];
    const torch::Tensor input = torch::rand({1, frames, 3, h, w});
    io.emplace_back("input_" + std::to_string(k), input.reshape({1, frames * 3, h, w}));
    io.emplace_back("output_" + std::to_string(k), net->forward(input));
  }
  save_safetensors(dir / "io.safetensors", io, {});
  const nlohmann::json seen =
      run_json(venv_python.string() + " " + (kSource / "tests/e2e/onnx_check.py").string() + " " +
               (dir / "model.onnx").string() + " " + (dir / "io.safetensors").string());
  ASSERT_FALSE(seen.is_null());
  EXPECT_EQ(seen.at("inputs"),
            nlohmann::json::parse(R"([{"name": "input", "shape": [1, )" +
                                  std::to_string(3 * frames) + R"(, "height", "width"]}])"));
  ASSERT_EQ(seen.at("outputs").size(), 1u);
  EXPECT_EQ(seen.at("outputs")[0].at("name"), "output");
  EXPECT_GE(seen.at("opset").at("ai.onnx").get<int>(), 17);
  ASSERT_EQ(seen.at("runs").size(), sizes.size());
  std::cout << "onnxruntime " << seen.at("onnxruntime").get<std::string>() << ", "
            << checkpoint.string() << " (" << frames << " frames x" << scale << "):";
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    const auto& run = seen.at("runs")[k];
    const auto [h, w] = sizes[k];
    EXPECT_EQ(run.at("shape"), nlohmann::json({1, 3, h * scale, w * scale}));
    ASSERT_TRUE(run.at("max_abs_diff").is_number()) << run;
    EXPECT_LT(run.at("max_abs_diff").get<double>(), 1e-4) << run;
    std::cout << " " << h << "x" << w << " max abs diff " << run.at("max_abs_diff");
  }
  std::cout << "\n";
}

TEST(OnnxExport, RunsInOnnxRuntimeLikeLibTorchOnSizesThePyramidDoesNotDivide) {
  for (const auto& [frames, scale] : std::vector<std::pair<int, int>>{{7, 3}, {5, 4}}) {
    const fs::path dir = fresh_dir("vsr_onnx_t" + std::to_string(frames));
    VSRNet net = trained_net(frames, scale, 100 + frames);
    const CheckpointData c = checkpoint_of(net, frames, scale);
    save_checkpoint(dir / "ckpt.pth", c);
    load_into(net, c.ema);
    // 13x10: not a multiple of the flow pyramid's 4; 24x20 another size of the same graph.
    check_onnx(dir / "ckpt.pth", net, {{13, 10}, {24, 20}});
  }
  const char* extra = std::getenv("VSR_INTEROP_CHECKPOINT");
  if (extra && *extra) {
    const fs::path dir = fresh_dir("vsr_onnx_given");
    fs::copy_file(extra, dir / "ckpt.pth");
    const CheckpointData c = load_checkpoint(dir / "ckpt.pth");
    VSRNet net = net_for(c);
    load_into(net, c.ema.empty() ? c.model : c.ema);
    check_onnx(dir / "ckpt.pth", net, {{37, 29}, {90, 160}});
  }
}

TEST(OnnxExport, SaysWhatIsMissingWhenPythonOrTorchIsNot) {
  const fs::path dir = fresh_dir("vsr_onnx_errors");
  VSRNet net = trained_net(5, 2, 1);
  save_checkpoint(dir / "ckpt.pth", checkpoint_of(net, 5, 2));
  const std::string tail = " " + kBinary + " export " + (dir / "ckpt.pth").string() + " --to " +
                           (dir / "m.onnx").string() + " 2>&1";
  testing::CommandResult r = testing::run_command("VSR_FLOW_PYTHON=/no/such/python" + tail);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("needs a Python 3 with torch, but '/no/such/python' could not be "
                               "started (No such file or directory); set VSR_FLOW_PYTHON"));
  // The test venv has no torch.
  r = testing::run_command("VSR_FLOW_PYTHON=" + (kSource / ".venv-test/bin/python").string() +
                           tail);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("cannot import torch (No module named 'torch')"));
  EXPECT_THAT(r.out, HasSubstr("m.onnx was not written"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("Traceback")));
  EXPECT_FALSE(fs::exists(dir / "m.onnx"));
}

}  // namespace
}  // namespace vsr
