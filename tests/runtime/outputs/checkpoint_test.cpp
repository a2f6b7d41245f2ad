#include "runtime/outputs/checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>

#include "common/errors.h"
#include "tests/support/temp_dir.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using testing::fresh_dir;

CheckpointData::Named named_parameters(torch::nn::Module& m) {
  CheckpointData::Named out;
  for (const auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value().detach().clone());
  return out;
}

// A checkpoint of a Conv2d(3, 4, 3) under the names a Python `self.conv` would have.
CheckpointData conv_checkpoint() {
  torch::manual_seed(5);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 4, /*kernel_size=*/3));
  CheckpointData c;
  c.step = 1234;
  c.config = "MODEL:\n  base_channels: 4\n";
  c.base_channels = 4;
  c.num_blocks = 1;
  c.scale = 3;
  c.frames = 7;
  for (auto& [name, t] : named_parameters(*conv)) c.model.emplace_back("conv." + name, t);
  for (const auto& [name, t] : c.model) c.ema.emplace_back(name, t * 0.5);
  c.optimizer_type = "adamw";
  c.learning_rate = 2.5e-4;
  c.param_names = {"conv.weight", "conv.bias"};
  c.optimizer_state = {{"state.0.exp_avg", torch::randn({4, 3, 3, 3})},
                       {"state.0.exp_avg_sq", torch::rand({4, 3, 3, 3})},
                       {"state.0.step", torch::tensor(1234.0)},
                       {"state.1.exp_avg", torch::randn({4})}};
  c.loss_scale = 512;
  return c;
}

void expect_same_tensors(const CheckpointData::Named& a, const CheckpointData::Named& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Checkpoint, RoundTripKeepsEveryField) {
  const fs::path path = fresh_dir("vsr_ckpt_roundtrip") / "checkpoint_step_001234.pth";
  const CheckpointData saved = conv_checkpoint();
  save_checkpoint(path, saved);
  const CheckpointData loaded = load_checkpoint(path);
  EXPECT_EQ(loaded.format_version, kCheckpointFormatVersion);
  EXPECT_EQ(loaded.step, 1234);
  EXPECT_EQ(loaded.config, saved.config);
  EXPECT_EQ(loaded.base_channels, 4);
  EXPECT_EQ(loaded.num_blocks, 1);
  EXPECT_EQ(loaded.scale, 3);
  EXPECT_EQ(loaded.frames, 7);
  expect_same_tensors(loaded.model, saved.model);
  expect_same_tensors(loaded.ema, saved.ema);
  EXPECT_EQ(loaded.optimizer_type, "adamw");
  EXPECT_DOUBLE_EQ(loaded.learning_rate, 2.5e-4);
  EXPECT_EQ(loaded.param_names, saved.param_names);
  expect_same_tensors(loaded.optimizer_state, saved.optimizer_state);
  EXPECT_DOUBLE_EQ(loaded.loss_scale, 512);
}

TEST(Checkpoint, EmptyEmaAndNonContiguousTensors) {
  const fs::path path = fresh_dir("vsr_ckpt_views") / "c.pth";
  CheckpointData c;
  c.step = 7;
  const auto base = torch::arange(24, torch::kFloat).reshape({4, 6});
  c.model = {{"a", base.t()}, {"b", base.slice(1, 2, 4)}};  // views of one storage
  save_checkpoint(path, c);
  const CheckpointData loaded = load_checkpoint(path);
  EXPECT_TRUE(loaded.ema.empty());
  EXPECT_TRUE(loaded.optimizer_state.empty());
  expect_same_tensors(loaded.model, c.model);
}

TEST(Checkpoint, WriteIsAtomic) {
  const fs::path dir = fresh_dir("vsr_ckpt_atomic");
  const fs::path path = dir / "checkpoint_step_000001.pth";
  CheckpointData first = conv_checkpoint();
  first.step = 1;
  save_checkpoint(path, first);
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"checkpoint_step_000001.pth"});

  // Overwriting replaces the whole file; no temp file stays behind.
  CheckpointData second = conv_checkpoint();
  second.step = 2;
  save_checkpoint(path, second);
  EXPECT_EQ(load_checkpoint(path).step, 2);
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"checkpoint_step_000001.pth"});

  // A rename that fails (the real name is a non-empty folder) leaves neither a temp file nor
  // anything new under the real name.
  const fs::path blocked = dir / "blocked.pth";
  fs::create_directories(blocked / "x");
  try {
    save_checkpoint(blocked, first);
    FAIL() << "expected OutputError";
  } catch (const OutputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot write " + blocked.string() + ": renaming"));
  }
  EXPECT_TRUE(fs::is_directory(blocked));
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{"blocked.pth", "checkpoint_step_000001.pth"}));
}

TEST(Checkpoint, LoadErrorsNameTheFile) {
  const fs::path dir = fresh_dir("vsr_ckpt_errors");
  try {
    load_checkpoint(dir / "missing.pth");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("missing.pth"));
    EXPECT_THAT(e.what(), HasSubstr("not found"));
  }

  const fs::path corrupt = dir / "corrupt.pth";
  save_checkpoint(corrupt, conv_checkpoint());
  const auto size = fs::file_size(corrupt);
  fs::resize_file(corrupt, size / 2);
  try {
    load_checkpoint(corrupt);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("corrupt.pth"));
  }

  const fs::path text = dir / "text.pth";
  std::ofstream(text) << "not a checkpoint";
  EXPECT_THROW(load_checkpoint(text), DataError);

  const fs::path future = dir / "future.pth";
  CheckpointData c = conv_checkpoint();
  c.format_version = 99;
  save_checkpoint(future, c);
  try {
    load_checkpoint(future);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("future.pth"));
    EXPECT_THAT(e.what(), HasSubstr("format_version 99"));
  }
}

bool python_torch_available() {
  return std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
}

// Debian's torch 1.13, and pip's 2.15 where scripts/setup-libtorch2.sh installed it (the
// LibTorch 2 build and its CI phase).
std::vector<std::string> pythons_with_torch() {
  std::vector<std::string> out = {"/usr/bin/python3"};
  const fs::path venv = fs::path(VSR_SOURCE_DIR) / ".venv-torch/bin/python";
  if (fs::exists(venv)) out.push_back(venv.string());
  return out;
}

int run_python(const fs::path& script, const std::string& body,
               const std::string& python = "/usr/bin/python3") {
  std::ofstream(script) << body;
  return std::system((python + " " + script.string()).c_str());
}

// The spec's promise: Python's torch.load reads a checkpoint, and load_state_dict accepts
// its "model" for a Python model with the same names.
TEST(Checkpoint, PythonTorchLoadsItAndLoadStateDictAccepts) {
  ASSERT_TRUE(python_torch_available())
      << "/usr/bin/python3 with torch is not installed: run scripts/setup.sh (python3-torch)";
  const fs::path dir = fresh_dir("vsr_ckpt_python");
  const fs::path path = dir / "checkpoint_step_001234.pth";
  const CheckpointData c = conv_checkpoint();
  save_checkpoint(path, c);
  const double weight_sum = c.model[0].second.sum().item<double>();
  const std::string script = R"(
import torch
# weights_only=True: torch 2.6's default, the restricted unpickler (plain types only); torch
# 1.13's version of it has no BINFLOAT, so it cannot read any float (Python's own files neither).
weights_only = int(torch.__version__.split(".")[0]) >= 2
c = torch.load(')" + path.string() +
                             R"(', weights_only=weights_only)
class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
m = M()
m.load_state_dict(c["model"])  # strict: same names and shapes
assert abs(m.conv.weight.sum().item() - )" +
                             std::to_string(weight_sum) + R"() < 1e-4
assert c["format_version"] == 1 and c["step"] == 1234, c
assert c["config"].startswith("MODEL:")
assert c["arch"] == {"base_channels": 4, "num_blocks": 1, "scale": 3, "frames": 7}
m.load_state_dict(c["ema"])
o = c["optimizer"]
assert o["type"] == "adamw" and abs(o["lr"] - 2.5e-4) < 1e-12
assert o["param_names"] == ["conv.weight", "conv.bias"]
assert o["state"]["state.0.exp_avg"].shape == (4, 3, 3, 3)
assert c["loss_scale"] == 512.0
torch.save({"format_version": 1, "step": 9, "config": "py", "model": dict(m.state_dict()),
            "ema": {}, "optimizer": {"type": "adam", "lr": 1e-3, "param_names": [],
            "state": {}}, "loss_scale": 1.0}, ')" +
                             (dir / "from_python.pth").string() + R"(')
)";
  for (const auto& python : pythons_with_torch()) {
    ASSERT_EQ(run_python(dir / "check.py", script, python), 0)
        << python << ": the check failed, see the output above";
  }

  // And the other way: C++ reads what Python's torch.save wrote in the same structure.
  const CheckpointData py = load_checkpoint(dir / "from_python.pth");
  EXPECT_EQ(py.step, 9);
  EXPECT_EQ(py.optimizer_type, "adam");
  ASSERT_EQ(py.model.size(), 2u);
  EXPECT_EQ(py.model[0].first, "conv.weight");
  EXPECT_TRUE(torch::equal(py.model[0].second, c.ema[0].second));  // m last loaded "ema"
}

}  // namespace
}  // namespace vsr
