// A bounded reader of PyTorch .pth files: the zip archive that Python's torch.save (1.6 and
// later, torch 2.x included) and LibTorch's torch::pickle_save write. It replaces LibTorch 1.13's
// unpickler, which cannot read an OrderedDict or a one-key dict from Python and crashes on some
// malformed files.
//
// Our own zip reader (stored entries only, every offset and size checked against the file,
// entries may not overlap, CRC-32 checked) and our own pickle machine: the opcodes of pickle
// protocols 2 to 5 that build data, no code. Globals are a whitelist: collections.OrderedDict,
// torch._utils._rebuild_tensor_v2 / _rebuild_parameter / _rebuild_parameter_with_state, the
// torch.*Storage classes and torch.UntypedStorage in persistent ids, and what LibTorch's pickler
// writes for typed containers (torch.jit._pickle.restore_type_tag, build_*list). Anything else,
// a truncated or random file, or a size beyond a limit below, is a DataError saying what was
// found.
//
//   const std::vector<char> bytes = read_file_bytes(path);
//   c10::IValue v = read_pth(bytes.data(), bytes.size());  // v.toGenericDict().at("model")
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace c10 {
struct IValue;
}

namespace vsr {

// What read_pth allows; the defaults are far above any real checkpoint (a state dict of 10000
// tensors needs about 100000 objects and a pickle of 1 MB) and keep the memory a hostile file can
// make the reader use to a few hundred MB.
struct PthLimits {
  std::size_t max_pickle_bytes = std::size_t{64} << 20;  // the data.pkl entry
  std::size_t max_objects = std::size_t{1} << 21;        // strings, containers, tensors made
  std::size_t max_stack = std::size_t{1} << 22;          // entries on the pickle stack
  std::size_t max_items = std::size_t{1} << 22;          // list, tuple and dict items in all
  std::size_t max_key_bytes = 4096;                      // length of a dict key string
  int max_depth = 128;                                   // nesting of containers
  int max_dims = 32;                                     // dimensions of a tensor
  // The bytes of all tensors together, as a multiple of the file's size: views share storages
  // (tied weights, a transposed copy), but a stride-0 view of 2^40 elements is refused.
  int max_view_ratio = 4;
  bool check_crc = true;  // false lets a fuzzer's mutations reach the pickle machine
};

// The object stored in a .pth file held in memory: dicts (plain or OrderedDict) as GenericDict
// (keys str, int, float or bool), lists as GenericList, tuples, str (bytes too), int, float,
// bool, None and CPU tensors (whatever device they were saved from). Throws DataError saying
// what is wrong; the message does not name the file (callers add it).
c10::IValue read_pth(const char* data, std::size_t size, const PthLimits& limits = {});

// The .pth bytes of `value` as Python's torch.save writes them (a zip of stored entries,
// archive/data.pkl a protocol-2 pickle, archive/data/<n> each tensor's storage, 64-byte
// aligned): dicts (str, int or bool keys), lists, tuples, strings, ints, floats, bools, None and
// CPU or other tensors (saved as contiguous CPU copies). Plain Python types only, no LibTorch
// type tags, so torch.load(weights_only=True), torch 2.6's default, and spandrel's restricted
// unpickler read it. Throws DataError for a value it cannot write (or a file past 4 GiB).
std::string write_pth(const c10::IValue& value);

// CRC-32 (zip's, IEEE 802.3).
std::uint32_t pth_crc32(const void* data, std::size_t size);

}  // namespace vsr
