#include "runtime/outputs/checkpoint.h"

#include <ATen/core/Dict.h>
#include <ATen/core/List.h>
#include <ATen/core/ivalue.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>

#include "common/errors.h"
#include "runtime/io/fileio.h"
#include "runtime/outputs/pth_reader.h"
#include "runtime/outputs/safetensors.h"

namespace vsr {

namespace fs = std::filesystem;

namespace {

using GenericDict = c10::impl::GenericDict;  // what read_pth returns for any dict

// The value of the .pth file `path` (runtime/outputs/pth_reader.h); `what` introduces the file in
// errors ("checkpoint x.pth").
c10::IValue read_pickle(const fs::path& path, const std::string& what) {
  const std::vector<char> bytes = read_file_bytes(path);
  try {
    return read_pth(bytes.data(), bytes.size());
  } catch (const std::exception& e) {
    std::string cause = e.what();
    cause = cause.substr(0, cause.find('\n'));  // c10::Error appends a C++ backtrace
    throw DataError(what + " is not a readable .pth file: " + cause, path.string());
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

std::string checkpoint_file_name(std::int64_t step) {
  char name[64];
  std::snprintf(name, sizeof(name), "checkpoint_step_%06lld.pth", static_cast<long long>(step));
  return name;
}

std::vector<std::pair<std::int64_t, fs::path>> list_step_checkpoints(const fs::path& dir) {
  std::vector<std::pair<std::int64_t, fs::path>> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return found;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    constexpr std::string_view kPrefix = "checkpoint_step_", kSuffix = ".pth";
    if (name.size() <= kPrefix.size() + kSuffix.size() || name.rfind(kPrefix, 0) != 0 ||
        name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
      continue;
    }
    const std::string digits =
        name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
    if (digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos ||
        !entry.is_regular_file(ec)) {
      continue;
    }
    found.emplace_back(std::stoll(digits), entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

void save_state_dicts(
    const fs::path& path,
    const std::vector<std::pair<std::string, const CheckpointData::Named*>>& parts) {
  GenericDict root = string_dict();
  for (const auto& [key, tensors] : parts) root.insert(key, to_dict(*tensors));
  write_file_atomic(path, write_pth(root));
}

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
  GenericDict resume = string_dict();
  resume.insert("loss_scale_growth", data.loss_scale_growth);
  resume.insert("nonfinite_streak", static_cast<std::int64_t>(data.nonfinite_streak));
  resume.insert("train_time_s", data.train_time_s);
  resume.insert("best_step", data.best_step);
  resume.insert("best_psnr", data.best_psnr);
  resume.insert("run", data.run_params);
  root.insert("resume", resume);

  // Our own writer: plain Python types only, so torch.load(weights_only=True) reads it.
  write_file_atomic(path, write_pth(root));
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
  const GenericDict resume = r.dict(r.get("resume", false), "resume");
  c.loss_scale_growth = r.integer(resume, "loss_scale_growth", "resume.", false);
  c.nonfinite_streak = static_cast<int>(r.integer(resume, "nonfinite_streak", "resume.", false));
  c.train_time_s = r.number(resume, "train_time_s", "resume.", 0.0);
  c.best_step = r.integer(resume, "best_step", "resume.", false);
  c.best_psnr = r.number(resume, "best_psnr", "resume.", 0.0);
  c.run_params = r.string(resume, "run", "resume.", false);
  return c;
}

namespace {

// "dict", "int", ... as Python would name the type of `v`.
std::string python_type(const c10::IValue& v) {
  if (v.isGenericDict()) return "dict";
  if (v.isList()) return "list";
  if (v.isTuple()) return "tuple";
  if (v.isString()) return "str";
  if (v.isBool()) return "bool";
  if (v.isInt()) return "int";
  if (v.isDouble()) return "float";
  if (v.isNone()) return "None";
  if (v.isTensor()) return "tensor";
  return v.tagKind();
}

// "a dict", "an int", "None".
std::string a_python(const c10::IValue& v) {
  const std::string type = python_type(v);
  if (type == "None") return type;
  return (type.find_first_of("aeiou") == 0 ? "an " : "a ") + type;
}

std::string quoted_key(const c10::IValue& key) {
  return key.isString() ? "\"" + key.toStringRef() + "\"" : a_python(key) + " key";
}

// Up to `n` of `items`, comma-separated, with the count when there are more.
std::string first_of(const std::vector<std::string>& items, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < items.size() && i < n; ++i) s += (i ? ", " : "") + items[i];
  if (items.size() > n) s += ", ... (" + std::to_string(items.size()) + " in all)";
  return s.empty() ? "none" : s;
}

// A "module." (DDP) or "netG." prefix shared by every name removed (noted in `where`), and
// float16, bfloat16 and float64 tensors made float32.
void canonicalize_weights(CheckpointData::Named& weights, std::string& where) {
  for (const std::string prefix : {"module.", "netG."}) {
    const bool all = std::all_of(weights.begin(), weights.end(), [&](const auto& w) {
      return w.first.compare(0, prefix.size(), prefix) == 0;
    });
    if (!all) continue;
    for (auto& w : weights) w.first.erase(0, prefix.size());
    where += ", prefix \"" + prefix + "\" removed";
  }
  for (auto& w : weights) {
    const at::ScalarType t = w.second.scalar_type();
    if (t == at::kHalf || t == at::kBFloat16 || t == at::kDouble) {
      w.second = w.second.to(at::kFloat);
    }
  }
}

}  // namespace

CheckpointData::Named read_state_dict(const fs::path& path, const std::string& key,
                                      std::string* source) {
  const std::string file = key + ": " + path.string();
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw DataError(file + " not found (or not a regular file)", path.string());
  }
  CheckpointData::Named weights;
  std::string where = "the top level";
  if (path.extension() == ".safetensors") {
    weights = load_safetensors(path).tensors;
    if (weights.empty()) throw DataError(file + " holds no tensors", path.string());
    where = "the .safetensors file";
    canonicalize_weights(weights, where);
    if (source) *source = where;
    return weights;
  }
  const c10::IValue value = read_pickle(path, file);
  if (!value.isGenericDict()) {
    throw DataError(
        file + " holds " + a_python(value) + ", expected a dict of name -> tensor (a state dict)",
        path.string());
  }
  const GenericDict root = value.toGenericDict();

  // The unwrapping of spandrel's canonicalize_state_dict: the first of these keys that holds a
  // dict, here a non-empty one (an EMA-less vsr_flow checkpoint has "ema": {}).
  const bool ours = root.contains("format_version");
  GenericDict dict = root;
  for (const char* k : {"model_state_dict", "state_dict", "params_ema", "params-ema", "params",
                        "ema", "model", "net"}) {
    if (std::string_view(k) == "ema" && !ours) continue;
    auto it = root.find(c10::IValue(k));
    if (it != root.end() && it->value().isGenericDict() && !it->value().toGenericDict().empty()) {
      dict = it->value().toGenericDict();
      where = std::string("\"") + k + "\"";
      break;
    }
  }

  std::vector<std::string> others;
  for (const auto& item : dict) {
    if (item.key().isString() && item.value().isTensor()) {
      weights.emplace_back(item.key().toStringRef(), item.value().toTensor());
    } else {
      others.push_back(quoted_key(item.key()) + " is " + a_python(item.value()));
    }
  }
  if (weights.empty() || !others.empty()) {
    std::vector<std::string> top;
    for (const auto& item : root) top.push_back(quoted_key(item.key()));
    throw DataError(file + " holds no state dict: at " + where + ", " +
                        (others.empty() ? "nothing" : first_of(others, 5)) +
                        " (top-level keys: " + first_of(top, 10) +
                        "); expected a dict of name -> tensor, at the top or under \"params_ema\", "
                        "\"params\", \"state_dict\", \"model\" or \"net\"",
                    path.string());
  }

  canonicalize_weights(weights, where);
  if (source) *source = where;
  return weights;
}

}  // namespace vsr
