#include "runtime/outputs/safetensors.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/errors.h"
#include "runtime/io/fileio.h"

namespace vsr {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

struct DtypeName {
  at::ScalarType type;
  const char* name;
};
constexpr DtypeName kDtypes[] = {{at::kFloat, "F32"},  {at::kHalf, "F16"}, {at::kBFloat16, "BF16"},
                                 {at::kDouble, "F64"}, {at::kLong, "I64"}, {at::kInt, "I32"},
                                 {at::kShort, "I16"},  {at::kChar, "I8"},  {at::kByte, "U8"},
                                 {at::kBool, "BOOL"}};

const char* dtype_name(at::ScalarType t) {
  for (const auto& d : kDtypes) {
    if (d.type == t) return d.name;
  }
  return nullptr;
}

}  // namespace

void save_safetensors(const fs::path& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> data;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const char* dtype = dtype_name(tensor.scalar_type());
    if (!dtype) {
      throw DataError("cannot write " + path.string() + ": tensor " + name + " has dtype " +
                      std::string(c10::toString(tensor.scalar_type())) +
                      ", which safetensors has no name for");
    }
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    const auto bytes = static_cast<std::uint64_t>(t.numel() * t.element_size());
    header[name] = {
        {"dtype", dtype}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(t));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string bytes(8 + text.size() + offset, '\0');
  const std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  std::memcpy(bytes.data() + 8, text.data(), text.size());
  char* out = bytes.data() + 8 + text.size();
  for (const auto& t : data) {  // this is a little-endian machine (x86-64, aarch64)
    const auto size = static_cast<std::size_t>(t.numel() * t.element_size());
    if (size) std::memcpy(out, t.data_ptr(), size);
    out += size;
  }
  write_file_atomic(path, bytes);
}

SafeTensors load_safetensors(const fs::path& path) {
  const std::vector<char> file = read_file_bytes(path);
  auto bad = [&](const std::string& what) -> DataError {
    return DataError(path.string() + " is not a readable .safetensors file: " + what,
                     path.string());
  };
  if (file.size() < 8) throw bad("shorter than its 8-byte header length");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(file[i]);
  if (n > kMaxHeaderBytes || n > file.size() - 8) {
    throw bad("its header claims " + std::to_string(n) + " bytes, the file has " +
              std::to_string(file.size()));
  }
  json header;
  try {
    header = json::parse(file.begin() + 8, file.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  } catch (const json::exception& e) {
    throw bad(std::string("its header is not JSON (") + e.what() + ")");
  }
  if (!header.is_object()) throw bad("its header is not a JSON object");
  const std::uint64_t data_size = file.size() - 8 - n;
  const char* data = file.data() + 8 + n;
  SafeTensors out;
  std::vector<std::tuple<std::uint64_t, std::uint64_t, std::string>> spans;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) throw bad("__metadata__ is not an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) throw bad("__metadata__." + k + " is not a string");
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor \"" + name + "\"";
    if (!entry.is_object() || !entry.contains("dtype") || !entry["dtype"].is_string() ||
        !entry.contains("shape") || !entry["shape"].is_array() || !entry.contains("data_offsets") ||
        !entry["data_offsets"].is_array() || entry["data_offsets"].size() != 2 ||
        !entry["data_offsets"][0].is_number_unsigned() ||
        !entry["data_offsets"][1].is_number_unsigned()) {
      throw bad(where + " needs dtype, shape and data_offsets [begin, end]");
    }
    const std::string dtype = entry["dtype"].get<std::string>();
    const DtypeName* type = nullptr;
    for (const auto& d : kDtypes) {
      if (dtype == d.name) type = &d;
    }
    if (!type) throw bad(where + " has dtype " + dtype + ", which vsr_flow does not read");
    std::vector<std::int64_t> shape;
    std::uint64_t numel = 1;
    if (entry["shape"].size() > 32) throw bad(where + " has more than 32 dimensions");
    for (const auto& d : entry["shape"]) {
      if (!d.is_number_unsigned() || d.get<std::uint64_t>() > data_size) {
        throw bad(where + " has a dimension that is not a size within the file");
      }
      shape.push_back(d.get<std::int64_t>());
      numel = shape.back() == 0 ? 0 : numel * d.get<std::uint64_t>();
      if (numel > data_size) throw bad(where + " claims more elements than the file holds");
    }
    const auto begin = entry["data_offsets"][0].get<std::uint64_t>();
    const auto end = entry["data_offsets"][1].get<std::uint64_t>();
    const std::uint64_t bytes = numel * c10::elementSize(type->type);
    if (begin > end || end > data_size || end - begin != bytes) {
      throw bad(where + " has data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                "], and " + dtype + " x " + std::to_string(numel) + " elements need " +
                std::to_string(bytes) + " bytes within the " + std::to_string(data_size) +
                " of data");
    }
    spans.emplace_back(begin, end, name);
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(type->type));
    if (bytes) std::memcpy(t.data_ptr(), data + begin, bytes);
    out.tensors.emplace_back(name, std::move(t));
  }
  std::sort(spans.begin(), spans.end());
  for (std::size_t i = 1; i < spans.size(); ++i) {
    if (std::get<0>(spans[i]) < std::get<1>(spans[i - 1])) {
      throw bad("tensors \"" + std::get<2>(spans[i - 1]) + "\" and \"" + std::get<2>(spans[i]) +
                "\" overlap");
    }
  }
  // In the file's data order, as written.
  std::map<std::string, std::uint64_t> begin_of;
  for (const auto& [b, e, name] : spans) begin_of[name] = b;
  std::stable_sort(out.tensors.begin(), out.tensors.end(), [&](const auto& x, const auto& y) {
    return begin_of[x.first] < begin_of[y.first];
  });
  return out;
}

}  // namespace vsr
