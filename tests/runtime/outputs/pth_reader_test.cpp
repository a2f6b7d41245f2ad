// The .pth reader (runtime/outputs/pth_reader.h) and read_state_dict on what Python writes:
// files written at test time by Debian's torch 1.13 (/usr/bin/python3, from scripts/setup.sh) and
// by torch 2.15 (.venv-torch, from scripts/setup-libtorch2.sh; without it, and always in addition,
// the files of tests/runtime/outputs/pth_cases_torch2 that the same script wrote with it), in
// every layout the reader accepts; and hostile files: truncated, random, foreign, crafted.
#include "runtime/outputs/pth_reader.h"

#include <ATen/core/ivalue.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "common/errors.h"
#include "runtime/io/fileio.h"
#include "runtime/outputs/checkpoint.h"
#include "tests/support/temp_dir.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kSource = VSR_SOURCE_DIR;
const fs::path kScript = kSource / "tests/runtime/outputs/write_pth_cases.py";
const fs::path kTorch2Files = kSource / "tests/runtime/outputs/pth_cases_torch2";

using testing::fresh_dir;

std::string file_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

c10::IValue read(const std::string& bytes, const PthLimits& limits = {}) {
  return read_pth(bytes.data(), bytes.size(), limits);
}

// The message of the DataError that reading `bytes` throws ("" and a test failure otherwise).
std::string refusal(const std::string& bytes, const PthLimits& limits = {}) {
  try {
    read(bytes, limits);
  } catch (const DataError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a DataError: " << e.what();
    return "";
  }
  ADD_FAILURE() << "read without an error";
  return "";
}

// ---- files from Python ------------------------------------------------------------------

// The folder of cases for `source`: written now by that Python (once per test run), or the
// checked-in torch 2.15 files.
fs::path cases(const std::string& source) {
  if (source == "torch2_checked_in") return kTorch2Files;
  const fs::path python =
      source == "torch1_13" ? fs::path("/usr/bin/python3") : kSource / ".venv-torch/bin/python";
  if (source == "torch2_15" && !fs::exists(python)) return kTorch2Files;
  static std::map<std::string, fs::path> written;
  if (auto it = written.find(source); it != written.end()) return it->second;
  // One folder per process: ctest runs tests of this suite side by side.
  const fs::path dir = fresh_dir("vsr_pth_" + source + "_" + std::to_string(::getpid()));
  static struct Cleanup {
    std::vector<fs::path> dirs;
    ~Cleanup() {
      std::error_code ec;
      for (const auto& d : dirs) fs::remove_all(d, ec);
    }
  } cleanup;
  cleanup.dirs.push_back(dir);
  const std::string cmd = "'" + python.string() + "' '" + kScript.string() + "' '" + dir.string() +
                          "' 2>'" + (dir / "stderr.txt").string() + "'";
  if (std::system(cmd.c_str()) != 0) {
    throw std::runtime_error(python.string() + " could not write the cases (run scripts/setup.sh" +
                             " for Debian's python3-torch): " + file_text(dir / "stderr.txt"));
  }
  return written[source] = dir;
}

// The tensors write_pth_cases.py saves, `shift` added (1 for the EMA weights).
std::map<std::string, at::Tensor> expected_weights(double shift) {
  return {
      {"conv.weight", at::arange(54, at::kFloat).reshape({2, 3, 3, 3}) * 0.125 - 3 + shift},
      {"conv.bias", torch::tensor({0.5f, -0.25f}) + shift},
      {"extra.t", at::arange(6, at::kFloat).reshape({2, 3}).t() + shift},
      {"extra.off", (at::arange(10, at::kFloat) + shift).slice(0, 2, 5)},
  };
}

void expect_weights(const CheckpointData::Named& got, double shift, std::size_t count) {
  const auto want = expected_weights(shift);
  EXPECT_EQ(got.size(), count);
  for (const auto& [name, t] : got) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(want.count(name)) << "unexpected name";
    EXPECT_EQ(t.scalar_type(), at::kFloat);
    EXPECT_EQ(t.sizes(), want.at(name).sizes());
    EXPECT_TRUE(torch::equal(t, want.at(name))) << t << "\nexpected\n" << want.at(name);
  }
}

class PythonFiles : public ::testing::TestWithParam<std::string> {};

TEST_P(PythonFiles, EveryLayoutLoadsWithTheValuesPythonWrote) {
  const fs::path dir = cases(GetParam());
  struct Case {
    const char* file;
    double shift;
    std::size_t count;
    const char* source;
  };
  const std::vector<Case> layouts = {
      {"plain.pth", 0, 4, "the top level"},
      {"params.pth", 0, 4, "\"params\""},
      {"params_ema.pth", 1, 4, "\"params_ema\""},
      {"state_dict.pth", 0, 4, "\"state_dict\""},
      {"model.pth", 0, 4, "\"model\""},
      {"module.pth", 0, 4, "the top level, prefix \"module.\" removed"},
      {"fp16.pth", 0, 4, "the top level"},
      {"bf16.pth", 0, 4, "\"params\""},
      {"fp64.pth", 0, 4, "the top level"},
      {"parameters.pth", 0, 2, "the top level"},
      {"checkpoint.pth", 1, 4, "\"ema\""},
      {"checkpoint_no_ema.pth", 0, 4, "\"model\""},
  };
  for (const Case& c : layouts) {
    SCOPED_TRACE(c.file);
    std::string source;
    expect_weights(read_state_dict(dir / c.file, "MODEL.pretrained", &source), c.shift, c.count);
    EXPECT_EQ(source, c.source);
  }
}

TEST_P(PythonFiles, OrderedDictsKeepTheirOrderAndDropMetadata) {
  const std::string bytes = file_text(cases(GetParam()) / "plain.pth");
  const c10::IValue v = read(bytes);
  ASSERT_TRUE(v.isGenericDict());
  std::vector<std::string> names;
  for (const auto& e : v.toGenericDict()) names.push_back(e.key().toStringRef());
  EXPECT_EQ(names, (std::vector<std::string>{"conv.weight", "conv.bias", "extra.t", "extra.off"}));
}

TEST_P(PythonFiles, ACheckpointWithOrderedDictsLoads) {
  const CheckpointData c = load_checkpoint(cases(GetParam()) / "checkpoint.pth");
  EXPECT_EQ(c.step, 9);
  EXPECT_EQ(c.config, "py");
  EXPECT_EQ(c.base_channels, 2);
  EXPECT_EQ(c.optimizer_type, "adam");
  EXPECT_EQ(c.param_names, (std::vector<std::string>{"conv.weight"}));
  expect_weights(c.model, 0, 4);
  expect_weights(c.ema, 1, 4);
}

TEST_P(PythonFiles, ForeignFilesAreRefusedClearly) {
  const fs::path dir = cases(GetParam());
  auto message = [&](const char* file) {
    try {
      read_state_dict(dir / file, "MODEL.pretrained");
    } catch (const DataError& e) {
      EXPECT_THAT(e.what(), HasSubstr(std::string("MODEL.pretrained: ") + (dir / file).string()));
      return std::string(e.what());
    }
    ADD_FAILURE() << file << " was read";
    return std::string();
  };
  EXPECT_THAT(message("forbidden_global.pth"),
              HasSubstr("global datetime.date is not allowed: only tensors, numbers"));
  EXPECT_THAT(message("legacy.pth"), HasSubstr("it is a bare pickle (torch.save before 1.6"));
  EXPECT_THAT(message("deflated.pth"),
              HasSubstr("data.pkl is compressed (zip method 8); torch writes stored entries"));
}

TEST_P(PythonFiles, EveryPrefixOfAFileIsRefused) {
  const std::string bytes = file_text(cases(GetParam()) / "params.pth");
  ASSERT_GT(bytes.size(), 1000u);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(refusal(bytes.substr(0, n)).empty()) << n << " bytes";
  }
  EXPECT_THAT(refusal(bytes.substr(0, bytes.size() - 1)), HasSubstr("end-of-directory record"));
}

INSTANTIATE_TEST_SUITE_P(Torch, PythonFiles,
                         ::testing::Values("torch1_13", "torch2_15", "torch2_checked_in"),
                         [](const auto& info) { return info.param; });

// ---- our own checkpoints ----------------------------------------------------------------

CheckpointData small_checkpoint() {
  torch::manual_seed(3);
  CheckpointData c;
  c.step = 77;
  c.config = "MODEL:\n  base_channels: 4\n";
  c.base_channels = 4;
  c.num_blocks = 1;
  c.scale = 3;
  c.frames = 5;
  c.model = {{"conv.weight", torch::randn({4, 3, 3, 3})}, {"conv.bias", torch::randn({4})}};
  c.ema = {{"conv.weight", torch::randn({4, 3, 3, 3})}, {"conv.bias", torch::randn({4})}};
  c.optimizer_type = "adamw";
  c.learning_rate = 1e-4;
  c.param_names = {"conv.weight", "conv.bias"};
  c.optimizer_state = {{"state.0.exp_avg", torch::randn({4, 3, 3, 3})},
                       {"state.0.step", torch::tensor(3.0)}};
  return c;
}

TEST(PthReader, OurCheckpointsRoundTrip) {
  const fs::path path = fresh_dir("vsr_pth_own") / "checkpoint_step_000077.pth";
  const CheckpointData saved = small_checkpoint();
  save_checkpoint(path, saved);

  const c10::IValue v = read(file_text(path));
  ASSERT_TRUE(v.isGenericDict());
  const auto root = v.toGenericDict();
  EXPECT_EQ(root.at("step").toInt(), 77);
  EXPECT_EQ(root.at("arch").toGenericDict().at("frames").toInt(), 5);
  const auto names = root.at("optimizer").toGenericDict().at("param_names");
  ASSERT_TRUE(names.isList());
  EXPECT_EQ(names.toListRef().size(), 2u);

  const CheckpointData loaded = load_checkpoint(path);
  EXPECT_EQ(loaded.step, 77);
  EXPECT_EQ(loaded.frames, 5);
  EXPECT_EQ(loaded.param_names, saved.param_names);
  ASSERT_EQ(loaded.model.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(loaded.model[i].first, saved.model[i].first);
    EXPECT_TRUE(torch::equal(loaded.model[i].second, saved.model[i].second));
    EXPECT_TRUE(torch::equal(loaded.ema[i].second, saved.ema[i].second));
  }
  ASSERT_EQ(loaded.optimizer_state.size(), 2u);
  EXPECT_EQ(loaded.optimizer_state[1].second.dim(), 0);
  EXPECT_EQ(loaded.optimizer_state[1].second.item<float>(), 3.0f);

  std::string source;
  const CheckpointData::Named w = read_state_dict(path, "MODEL.pretrained", &source);
  EXPECT_EQ(source, "\"ema\"");
  ASSERT_EQ(w.size(), 2u);
  EXPECT_TRUE(torch::equal(w[0].second, saved.ema[0].second));
}

TEST(PthReader, EveryPrefixAndRandomDamageOfOurCheckpointIsRefused) {
  const fs::path path = fresh_dir("vsr_pth_prefix") / "c.pth";
  save_checkpoint(path, small_checkpoint());
  const std::string bytes = file_text(path);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(refusal(bytes.substr(0, n)).empty()) << n << " bytes";
  }
  // A changed byte anywhere: read (a byte nobody checks) or refused, never another error.
  std::mt19937 rng(11);
  for (int i = 0; i < 2000; ++i) {
    std::string damaged = bytes;
    damaged[rng() % damaged.size()] = static_cast<char>(rng());
    try {
      read(damaged);
    } catch (const DataError&) {
    }
  }
}

TEST(PthReader, RandomBytesAreRefused) {
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::string bytes(rng() % 3000, '\0');
    for (char& b : bytes) b = static_cast<char>(rng());
    if (i % 3 == 0 && bytes.size() >= 4) bytes.replace(0, 4, "PK\x03\x04");
    EXPECT_FALSE(refusal(bytes).empty());
  }
  EXPECT_THAT(refusal(""), HasSubstr("does not start like a zip archive (first bytes: none)"));
  EXPECT_THAT(refusal("not a checkpoint"),
              HasSubstr("does not start like a zip archive (first bytes: 0x6e 0x6f 0x74 0x20)"));
}

// What LibTorch 2's own pickle_save writes (the files of our checkpoints in the LibTorch 2 build),
// from torch 2.15's Python, which exposes it.
TEST(PthReader, WhatLibTorch2PickleSaveWritesLoads) {
  const fs::path dir = cases("torch2_15");
  auto value = [&](const std::string& name) {
    return read(file_text(dir / ("libtorch_" + name + ".pth")));
  };
  const auto dict = value("dict").toGenericDict();
  EXPECT_TRUE(torch::equal(dict.at("w").toTensor(), torch::ones({3, 2})));
  EXPECT_EQ(dict.at("w").toTensor().stride(0), 1);
  EXPECT_TRUE(torch::equal(dict.at("b").toTensor(), torch::zeros({2})));
  // toListRef and toTupleRef refer into the IValue: keep it alive.
  const auto strs_value = value("strs");
  const auto strs = strs_value.toListRef();
  ASSERT_EQ(strs.size(), 2u);
  EXPECT_EQ(strs[1].toStringRef(), "y");
  EXPECT_EQ(value("ints").toListRef().at(1).toInt(), 2);
  EXPECT_EQ(value("floats").toListRef().at(1).toDouble(), 2.5);
  EXPECT_FALSE(value("bools").toListRef().at(1).toBool());
  EXPECT_TRUE(torch::equal(value("tensors").toListRef().at(1).toTensor(), torch::ones({2})));
  const auto tuple_value = value("tuple");
  const auto tuple = tuple_value.toTupleRef().elements();
  ASSERT_EQ(tuple.size(), 2u);
  EXPECT_EQ(tuple[1].toStringRef(), "a");
  EXPECT_EQ(value("nested").toGenericDict().at("a").toGenericDict().at("b").toInt(), 1);
}

// ---- crafted archives -------------------------------------------------------------------

std::string le(std::uint64_t v, int bytes) {
  std::string s;
  for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

std::uint32_t crc32(const std::string& s) { return pth_crc32(s.data(), s.size()); }

struct ZipEntry {
  std::string name;
  std::string data;
  int method = 0;
};

std::string local_record(const ZipEntry& e) {
  return "PK\x03\x04" + le(20, 2) + le(0, 2) + le(e.method, 2) + le(0, 4) + le(crc32(e.data), 4) +
         le(e.data.size(), 4) + le(e.data.size(), 4) + le(e.name.size(), 2) + le(0, 2) + e.name +
         e.data;
}

std::string central_record(const ZipEntry& e, std::size_t offset) {
  return "PK\x01\x02" + le(20, 2) + le(20, 2) + le(0, 2) + le(e.method, 2) + le(0, 4) +
         le(crc32(e.data), 4) + le(e.data.size(), 4) + le(e.data.size(), 4) + le(e.name.size(), 2) +
         le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(offset, 4) + e.name;
}

// A zip archive of `entries` as torch writes one (stored, no data descriptors), plus directory
// records of `extra` entries whose local records lie at the offsets given.
std::string make_zip(const std::vector<ZipEntry>& entries,
                     const std::vector<std::pair<ZipEntry, std::size_t>>& extra = {}) {
  std::string out, directory;
  for (const ZipEntry& e : entries) {
    directory += central_record(e, out.size());
    out += local_record(e);
  }
  for (const auto& [e, offset] : extra) directory += central_record(e, offset);
  const std::size_t count = entries.size() + extra.size();
  const std::size_t cd_offset = out.size();
  return out + directory + "PK\x05\x06" + le(0, 4) + le(count, 2) + le(count, 2) +
         le(directory.size(), 4) + le(cd_offset, 4) + le(0, 2);
}

// Pickle pieces.
std::string str(const std::string& s) { return "X" + le(s.size(), 4) + s; }
std::string i32(std::int32_t v) { return "J" + le(static_cast<std::uint32_t>(v), 4); }
std::string i64(std::int64_t v) { return "\x8a\x08" + le(static_cast<std::uint64_t>(v), 8); }
std::string ints(const std::vector<std::int64_t>& v) {
  std::string s = "(";
  for (const std::int64_t x : v) s += i64(x);
  return s + "t";
}
const std::string kProto = "\x80\x02";
const std::string kFalse = "\x89";

// {"w": tensor} over storage "0" (a FloatStorage of `numel` elements).
std::string tensor_pickle(std::int64_t numel, const std::vector<std::int64_t>& size,
                          const std::vector<std::int64_t>& stride, std::int64_t offset = 0) {
  return kProto + "}" + str("w") + "ctorch._utils\n_rebuild_tensor_v2\n((" + str("storage") +
         "ctorch\nFloatStorage\n" + str("0") + str("cpu") + i64(numel) + "tQ" + i64(offset) +
         ints(size) + ints(stride) + kFalse + "ccollections\nOrderedDict\n)RtRs.";
}

std::string floats(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

std::string archive(const std::string& pickle, const std::string& data0 = floats({1, 2, 3, 4})) {
  return make_zip({{"archive/data.pkl", pickle}, {"archive/data/0", data0}});
}

TEST(PthReader, CraftedTensorsWithinBoundsLoad) {
  const c10::IValue v = read(archive(tensor_pickle(4, {2, 2}, {1, 2})));
  const at::Tensor w = v.toGenericDict().at("w").toTensor();
  EXPECT_TRUE(torch::equal(w, torch::tensor({1.0f, 2.0f, 3.0f, 4.0f}).reshape({2, 2}).t()));
  // A tensor with no elements may sit at the end of its storage.
  EXPECT_EQ(
      read(archive(tensor_pickle(4, {0, 3}, {3, 1}, 4))).toGenericDict().at("w").toTensor().numel(),
      0);

  // Protocol 4's opcodes: FRAME, SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE.
  auto s = [](const std::string& x) { return "\x8c" + le(x.size(), 1) + x; };
  std::string p4 = "}" + s("w") + s("torch._utils") + s("_rebuild_tensor_v2") + "\x93\x94((" +
                   s("storage") + s("torch") + s("FloatStorage") + "\x93" + s("0") + s("cpu") +
                   i32(4) + "tQ" + i32(0) + "(" + i32(4) + "t(" + i32(1) + "t" + kFalse +
                   s("collections") + s("OrderedDict") + "\x93)RtRs.";
  p4 = "\x80\x04\x95" + le(p4.size(), 8) + p4;
  EXPECT_TRUE(torch::equal(read(archive(p4)).toGenericDict().at("w").toTensor(),
                           torch::tensor({1.0f, 2.0f, 3.0f, 4.0f})));
}

TEST(PthReader, CraftedPicklesAreRefusedClearly) {
  EXPECT_THAT(refusal(archive(kProto + "cos\nsystem\n(" + str("ls") + "tR.")),
              HasSubstr("archive/data.pkl at byte 2: global os.system is not allowed"));
  EXPECT_THAT(refusal(archive(kProto + "cnumpy.core.multiarray\n_reconstruct\n.")),
              HasSubstr("global numpy.core.multiarray._reconstruct is not allowed"));
  EXPECT_THAT(refusal(archive(kProto + "c__torch__.Net\nNet\n.")),
              HasSubstr("a TorchScript module from torch.jit.save"));
  // Sizes beyond what the file holds.
  EXPECT_THAT(refusal(archive(tensor_pickle(std::int64_t{1} << 40, {4}, {1}))),
              HasSubstr("storage 0 claims 1099511627776 elements of 4 bytes but archive/data/0 "
                        "holds 16 bytes"));
  EXPECT_THAT(refusal(archive(tensor_pickle(4, {1000}, {1}))),
              HasSubstr("a tensor of size [1000], stride [1] and offset 0 reaches beyond its "
                        "storage 0 of 4 elements"));
  EXPECT_THAT(refusal(archive(tensor_pickle(4, {2}, {1}, 3))), HasSubstr("reaches beyond"));
  EXPECT_THAT(refusal(archive(tensor_pickle(4, {3, 3}, {std::int64_t{1} << 62, 1}))),
              HasSubstr("overflows 64 bits"));
  EXPECT_THAT(refusal(archive(tensor_pickle(4, {-1}, {1}))), HasSubstr("negative size"));
  // A stride-0 view may repeat an element, but not into terabytes.
  EXPECT_EQ(read(archive(tensor_pickle(4, {1000}, {0}))).toGenericDict().at("w").toTensor().numel(),
            1000);
  EXPECT_THAT(refusal(archive(tensor_pickle(4, {std::int64_t{1} << 40}, {0}))),
              HasSubstr("bytes (4 times the file's size and 1 MiB): views that repeat"));
  EXPECT_THAT(refusal(archive(tensor_pickle(4, std::vector<std::int64_t>(40, 1),
                                            std::vector<std::int64_t>(40, 1)))),
              HasSubstr("more than 32 dimensions"));
  EXPECT_THAT(refusal(archive(kProto + "X" + le(0xfffffff0u, 4) + "ab")),
              HasSubstr("the pickle ends inside an opcode (the file is truncated)"));
  EXPECT_THAT(refusal(archive(kProto + "]")), HasSubstr("ends inside an opcode"));
  // Shapes of the object graph.
  EXPECT_THAT(refusal(archive(kProto + std::string(300, ']') + std::string(299, 'a') + ".")),
              HasSubstr("containers nested deeper than 128 levels"));
  EXPECT_THAT(refusal(archive(kProto + "]q" + le(0, 1) + "h" + le(0, 1) + "a.")),
              HasSubstr("a container holds itself"));
  EXPECT_THAT(refusal(archive(kProto + "}(" + str("a") + "N" + "Nt" + "Ns.")),
              HasSubstr("a dict key that is a tuple"));
  PthLimits small;
  small.max_stack = 100;
  small.max_items = 10;
  EXPECT_THAT(refusal(archive(kProto + std::string(200, 'N')), small),
              HasSubstr("more than 100 entries on the pickle stack"));
  EXPECT_THAT(refusal(archive(kProto + "](" + std::string(20, 'N') + "e."), small),
              HasSubstr("more than 10 container items"));
  small.max_pickle_bytes = 8;
  EXPECT_THAT(refusal(archive(kProto + std::string(20, 'N') + "."), small),
              HasSubstr("archive/data.pkl is 23 bytes, more than the limit of 8"));
  // Opcodes and stack discipline.
  EXPECT_THAT(refusal(archive(kProto + "i")),
              HasSubstr("opcode 0x69 is not one that torch.save writes"));
  EXPECT_THAT(refusal(archive(kProto + ".")), HasSubstr("takes a value from an empty stack"));
  EXPECT_THAT(refusal(archive(kProto + "N(a.")), HasSubstr("takes a value from an empty stack"));
  EXPECT_THAT(refusal(archive(kProto + "e.")), HasSubstr("needs a MARK"));
  EXPECT_THAT(refusal(archive(kProto + "h" + le(5, 1) + ".")),
              HasSubstr("memo entry 5 was never stored"));
  EXPECT_THAT(refusal(archive(kProto + "NNa.")), HasSubstr("the target of APPEND is None"));
  EXPECT_THAT(refusal(archive(kProto + "Q.")), HasSubstr("empty stack"));
  EXPECT_THAT(refusal(archive(kProto + "(" + str("storage") + "tQ.")),
              HasSubstr("a persistent id that is not ('storage', type, key, location, size)"));
  EXPECT_THAT(refusal(archive(kProto + "ccollections\nOrderedDict\n.")),
              HasSubstr("a global collections.OrderedDict stands where a value belongs"));
  EXPECT_THAT(refusal(archive(kProto + "ctorch\nFloatStorage\n)R.")),
              HasSubstr("may only name the type of a storage"));
  std::string missing = tensor_pickle(4, {4}, {1});
  missing.replace(missing.find(str("0")), str("0").size(), str("9"));
  EXPECT_THAT(refusal(archive(missing)),
              HasSubstr("storage 9 has no entry archive/data/9 in the archive"));
}

TEST(PthReader, CraftedZipsAreRefusedClearly) {
  const std::string pickle = tensor_pickle(4, {4}, {1});
  EXPECT_THAT(refusal(make_zip({{"archive/data.pkl", pickle, 8}})),
              HasSubstr("entry archive/data.pkl is compressed (zip method 8)"));
  // Entry data/1 holds the whole local record of data/0, which the directory lists too: the
  // same bytes twice.
  const ZipEntry inner{"archive/data/0", floats({1, 2, 3, 4})};
  const ZipEntry outer{"archive/data/1", local_record(inner)};
  EXPECT_THAT(refusal(make_zip({{"archive/data.pkl", pickle}, outer},
                               {{inner, local_record({"archive/data.pkl", pickle}).size() + 30 +
                                            outer.name.size()}})),
              HasSubstr("two zip entries overlap: the file is damaged"));
  EXPECT_THAT(refusal(make_zip({{"x/y", "z"}})),
              HasSubstr("it is a zip archive without x/data.pkl, so not a file from torch.save "
                        "(entries: x/y)"));
  EXPECT_THAT(refusal(make_zip({{"data.pkl", pickle}})),
              HasSubstr("a zip archive but not a torch one (entries: data.pkl)"));
  EXPECT_THAT(refusal(make_zip({})), HasSubstr("not a torch one (entries: none)"));

  std::string zip64 = archive(pickle);
  zip64.replace(zip64.size() - 12, 2, le(0xffff, 2));
  EXPECT_THAT(refusal(zip64), HasSubstr("zip64"));

  std::string damaged = archive(pickle);
  damaged[damaged.find("storage") + 1] = 'X';
  EXPECT_THAT(refusal(damaged), HasSubstr("entry archive/data.pkl fails its CRC-32 check"));

  std::string outside = archive(pickle);
  outside.replace(outside.size() - 6, 4, le(1u << 30, 4));
  EXPECT_THAT(refusal(outside), HasSubstr("lies outside the file"));

  EXPECT_THAT(refusal(make_zip({{"archive/data.pkl", pickle}, {"archive/byteorder", "big"}})),
              HasSubstr("its tensors are stored big-endian"));
}

TEST(PthReader, StateDictErrorsNameTheFileTheKeysAndWhatIsNotATensor) {
  const fs::path dir = fresh_dir("vsr_pth_not_weights");
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("epoch", std::int64_t{3});
  d.insert("optimizer", c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get()));
  d.insert("weight", torch::ones({2}));
  const std::vector<char> bytes = torch::jit::pickle_save(d);
  write(dir / "trainer.pth", std::string(bytes.begin(), bytes.end()));
  try {
    read_state_dict(dir / "trainer.pth", "MODEL.pretrained");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("MODEL.pretrained: " + (dir / "trainer.pth").string() +
                          " holds no state dict: at the top level, \"epoch\" is an int, "
                          "\"optimizer\" is a dict (top-level keys: \"epoch\", "
                          "\"optimizer\", \"weight\"); expected a dict of name -> tensor"));
  }
  const std::vector<char> list = torch::jit::pickle_save(c10::List<std::int64_t>({1, 2}));
  write(dir / "list.pth", std::string(list.begin(), list.end()));
  try {
    read_state_dict(dir / "list.pth", "MODEL.pretrained");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("list.pth holds a list, expected a dict of name -> tensor"));
  }
  write(dir / "text.pth", "hello");
  try {
    read_state_dict(dir / "text.pth", "MODEL.pretrained");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("text.pth is not a readable .pth file: it does not start "
                                    "like a zip archive"));
  }
}

}  // namespace
}  // namespace vsr
