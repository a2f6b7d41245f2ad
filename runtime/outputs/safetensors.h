// .safetensors files (the format of the `safetensors` package, what chaiNNer/spandrel and most
// model hubs load): 8 bytes little-endian N, N bytes of JSON header, then the raw little-endian
// tensor bytes. The header maps each name to {"dtype": "F32", "shape": [..], "data_offsets":
// [begin, end]} (offsets into the data part) and "__metadata__" to a str -> str map.
//
//   save_safetensors("model.safetensors", weights, {{"arch", "{...}"}, {"scale", "3"}});
//   const SafeTensors st = load_safetensors("model.safetensors");   // bounded reader
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace vsr {

struct SafeTensors {
  std::vector<std::pair<std::string, at::Tensor>> tensors;  // in the file's data order
  std::map<std::string, std::string> metadata;
};

// Writes `tensors` (contiguous CPU copies are made; float32, float16, bfloat16, float64, int64,
// int32, int16, int8, uint8 and bool) in their order, atomically. Throws DataError for a dtype
// safetensors has no name for, OutputError when the file cannot be written.
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata);

// Reads a .safetensors file. The header is at most 100 MB and must be a JSON object; every
// tensor's offsets must lie in the file, match its dtype and shape, and not overlap another's.
// Throws DataError naming the file and what was wrong.
SafeTensors load_safetensors(const std::filesystem::path& path);

}  // namespace vsr
