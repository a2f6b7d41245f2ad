#include "runtime/outputs/checkpoint.h"

#include <torch/csrc/jit/serialization/pickle.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "common/errors.h"
#include "runtime/io/fileio.h"

namespace vsr {

namespace fs = std::filesystem;

namespace {

using GenericDict = c10::impl::GenericDict;  // what pickle_load returns for any dict

// A str -> Any dict, the kind Python's pickle gives back.
// The pickled value of `path`; `what` introduces the file in errors ("checkpoint x.pth").
c10::IValue read_pickle(const fs::path& path, const std::string& what) {
  const std::vector<char> bytes = read_file_bytes(path);
  try {
    return torch::jit::pickle_load(bytes);
  } catch (const std::exception& e) {
    std::string cause = e.what();
    cause = cause.substr(0, cause.find('\n'));  // c10::Error appends a C++ backtrace
    throw DataError(what + " is corrupt or not a torch file: " + cause, path.string());
  }
}

GenericDict string_dict() { return GenericDict(c10::StringType::get(), c10::AnyType::get()); }

c10::Dict<std::string, at::Tensor> to_dict(const CheckpointData::Named& tensors) {
  c10::Dict<std::string, at::Tensor> dict;
  // Contiguous CPU copies keep the pickled storages to exactly the tensor's bytes.
  for (const auto& [name, t] : tensors) dict.insert_or_assign(name, t.cpu().contiguous());
  return dict;
}

// The parts of a loaded dict, with errors that say which key is wrong.
class Reader {
 public:
  Reader(const fs::path& path, GenericDict dict) : path_(path), dict_(std::move(dict)) {}

  c10::IValue get(const std::string& key, bool required = true) const {
    auto it = dict_.find(c10::IValue(key));
    if (it == dict_.end()) {
      if (required) bad("has no key \"" + key + "\"");
      return {};
    }
    return it->value();
  }
  std::int64_t integer(const GenericDict& d, const std::string& key, const std::string& where,
                       bool required = true) const {
    auto it = d.find(c10::IValue(key));
    if (it == d.end()) {
      if (required) bad("has no key \"" + where + key + "\"");
      return 0;
    }
    if (!it->value().isInt()) bad("key \"" + where + key + "\" is not an integer");
    return it->value().toInt();
  }
  double number(const GenericDict& d, const std::string& key, const std::string& where,
                double fallback) const {
    auto it = d.find(c10::IValue(key));
    if (it == d.end()) return fallback;
    if (it->value().isDouble()) return it->value().toDouble();
    if (it->value().isInt()) return static_cast<double>(it->value().toInt());
    bad("key \"" + where + key + "\" is not a number");
  }
  std::string string(const GenericDict& d, const std::string& key, const std::string& where,
                     bool required = true) const {
    auto it = d.find(c10::IValue(key));
    if (it == d.end()) {
      if (required) bad("has no key \"" + where + key + "\"");
      return {};
    }
    if (!it->value().isString()) bad("key \"" + where + key + "\" is not a string");
    return it->value().toStringRef();
  }
  GenericDict dict(const c10::IValue& v, const std::string& key) const {
    if (v.isNone()) return string_dict();
    if (!v.isGenericDict()) bad("key \"" + key + "\" is not a dict");
    return v.toGenericDict();
  }
  CheckpointData::Named tensors(const c10::IValue& v, const std::string& key) const {
    CheckpointData::Named out;
    if (v.isNone()) return out;
    if (!v.isGenericDict()) bad("key \"" + key + "\" is not a dict of tensors");
    for (const auto& entry : v.toGenericDict()) {
      if (!entry.key().isString() || !entry.value().isTensor()) {
        bad("key \"" + key + "\" must map names to tensors");
      }
      out.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
    }
    return out;
  }
  [[noreturn]] void bad(const std::string& what) const {
    throw DataError("checkpoint " + path_.string() + " " + what +
                    "; expected a file written by vsr_flow (see runtime/outputs/checkpoint.h)");
  }
  const GenericDict& root() const { return dict_; }

 private:
  fs::path path_;
  GenericDict dict_;
};

}  // namespace

void save_checkpoint(const fs::path& path, const CheckpointData& data) {
  GenericDict optimizer = string_dict();
  optimizer.insert("type", data.optimizer_type);
  optimizer.insert("lr", data.learning_rate);
  c10::List<std::string> names;
  for (const auto& n : data.param_names) names.push_back(n);
  optimizer.insert("param_names", names);
  optimizer.insert("state", to_dict(data.optimizer_state));

  c10::Dict<std::string, std::int64_t> arch;
  arch.insert("base_channels", data.base_channels);
  arch.insert("num_blocks", data.num_blocks);
  arch.insert("scale", data.scale);
  arch.insert("frames", data.frames);

  GenericDict root = string_dict();
  root.insert("format_version", static_cast<std::int64_t>(data.format_version));
  root.insert("step", data.step);
  root.insert("config", data.config);
  root.insert("arch", arch);
  root.insert("model", to_dict(data.model));
  root.insert("ema", to_dict(data.ema));
  root.insert("optimizer", optimizer);
  root.insert("loss_scale", data.loss_scale);

  std::vector<char> bytes;
  try {
    bytes = torch::jit::pickle_save(root);
  } catch (const std::exception& e) {
    throw DataError("cannot serialise checkpoint " + path.string() + ": " + e.what());
  }

  write_file_atomic(path, bytes.data(), bytes.size());
}

CheckpointData load_checkpoint(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw DataError("checkpoint " + path.string() + " not found (or not a regular file)");
  }
  const c10::IValue value = read_pickle(path, "checkpoint " + path.string());
  if (!value.isGenericDict()) {
    throw DataError("checkpoint " + path.string() + " holds a " + value.tagKind() +
                    ", expected a dict written by vsr_flow");
  }
  Reader r(path, value.toGenericDict());

  CheckpointData c;
  c.format_version = static_cast<int>(r.integer(r.root(), "format_version", ""));
  if (c.format_version != kCheckpointFormatVersion) {
    throw DataError("checkpoint " + path.string() + " has format_version " +
                    std::to_string(c.format_version) + "; this build reads version " +
                    std::to_string(kCheckpointFormatVersion));
  }
  c.step = r.integer(r.root(), "step", "");
  c.config = r.string(r.root(), "config", "", /*required=*/false);
  const GenericDict arch = r.dict(r.get("arch", false), "arch");
  c.base_channels = static_cast<int>(r.integer(arch, "base_channels", "arch.", false));
  c.num_blocks = static_cast<int>(r.integer(arch, "num_blocks", "arch.", false));
  c.scale = static_cast<int>(r.integer(arch, "scale", "arch.", false));
  c.frames = static_cast<int>(r.integer(arch, "frames", "arch.", false));
  c.model = r.tensors(r.get("model"), "model");
  c.ema = r.tensors(r.get("ema", false), "ema");
  const GenericDict opt = r.dict(r.get("optimizer", false), "optimizer");
  c.optimizer_type = r.string(opt, "type", "optimizer.", /*required=*/false);
  c.learning_rate = r.number(opt, "lr", "optimizer.", 0.0);
  auto names = opt.find(c10::IValue("param_names"));
  if (names != opt.end()) {
    if (!names->value().isList()) r.bad("key \"optimizer.param_names\" is not a list");
    for (const auto& n : names->value().toListRef()) {
      if (!n.isString()) r.bad("key \"optimizer.param_names\" must hold strings");
      c.param_names.push_back(n.toStringRef());
    }
  }
  auto state = opt.find(c10::IValue("state"));
  if (state != opt.end()) c.optimizer_state = r.tensors(state->value(), "optimizer.state");
  c.loss_scale = r.number(r.root(), "loss_scale", "", 1.0);
  return c;
}

CheckpointData::Named read_state_dict(const fs::path& path, const std::string& key) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw DataError(key + ": " + path.string() + " not found (or not a regular file)",
                    path.string());
  }
  const c10::IValue value = read_pickle(path, key + ": " + path.string());
  if (!value.isGenericDict()) {
    throw DataError(key + ": " + path.string() + " does not hold a dict of tensors", path.string());
  }
  GenericDict dict = value.toGenericDict();
  if (dict.contains("model") && dict.at("model").isGenericDict()) {
    dict = dict.at("model").toGenericDict();
  }
  CheckpointData::Named weights;
  for (const auto& item : dict) {
    if (item.key().isString() && item.value().isTensor()) {
      weights.emplace_back(item.key().toStringRef(), item.value().toTensor());
    }
  }
  return weights;
}

}  // namespace vsr
