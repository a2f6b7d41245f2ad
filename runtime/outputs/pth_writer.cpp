// write_pth (runtime/outputs/pth_reader.h): what Python's torch.save writes, from an IValue.
#include <ATen/ATen.h>
#include <ATen/core/ivalue.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/errors.h"
#include "runtime/outputs/pth_reader.h"

namespace vsr {

namespace {

// Pickle opcodes (Python's Lib/pickle.py), protocol 2.
constexpr char kProto = '\x80', kStop = '.', kNone = 'N', kTrue = '\x88', kFalse = '\x89',
               kBinInt = 'J', kBinInt1 = 'K', kLong1 = '\x8a', kBinFloat = 'G', kBinUnicode = 'X',
               kEmptyDict = '}', kEmptyList = ']', kEmptyTuple = ')', kMark = '(', kSetItems = 'u',
               kAppends = 'e', kTuple = 't', kGlobal = 'c', kReduce = 'R', kBinPersId = 'Q';

const char* storage_class(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return "FloatStorage";
    case at::kHalf:
      return "HalfStorage";
    case at::kBFloat16:
      return "BFloat16Storage";
    case at::kDouble:
      return "DoubleStorage";
    case at::kLong:
      return "LongStorage";
    case at::kInt:
      return "IntStorage";
    case at::kShort:
      return "ShortStorage";
    case at::kChar:
      return "CharStorage";
    case at::kByte:
      return "ByteStorage";
    case at::kBool:
      return "BoolStorage";
    default:
      return nullptr;
  }
}

class Pickler {
 public:
  std::string out;
  std::vector<at::Tensor> storages;  // archive/data/<index>

  void value(const c10::IValue& v, int depth = 0) {
    if (depth > 100) throw DataError("cannot write a .pth: the value nests deeper than 100 levels");
    if (v.isNone()) {
      out += kNone;
    } else if (v.isBool()) {
      out += v.toBool() ? kTrue : kFalse;
    } else if (v.isInt()) {
      integer(v.toInt());
    } else if (v.isDouble()) {
      floating(v.toDouble());
    } else if (v.isString()) {
      string(v.toStringRef());
    } else if (v.isTensor()) {
      tensor(v.toTensor());
    } else if (v.isGenericDict()) {
      out += kEmptyDict;
      const auto dict = v.toGenericDict();
      if (dict.empty()) return;
      out += kMark;
      for (const auto& item : dict) {
        value(item.key(), depth + 1);
        value(item.value(), depth + 1);
      }
      out += kSetItems;
    } else if (v.isList()) {
      out += kEmptyList;
      const auto list = v.toListRef();
      if (list.empty()) return;
      out += kMark;
      for (const auto& item : list) value(item, depth + 1);
      out += kAppends;
    } else if (v.isTuple()) {
      out += kMark;
      for (const auto& item : v.toTupleRef().elements()) value(item, depth + 1);
      out += kTuple;
    } else {
      throw DataError(std::string("cannot write a .pth: a ") + v.tagKind() +
                      " is not a plain Python value");
    }
  }

 private:
  void le(std::uint64_t x, int bytes) {
    for (int i = 0; i < bytes; ++i) out += static_cast<char>((x >> (8 * i)) & 0xFF);
  }
  void integer(std::int64_t x) {
    if (x >= 0 && x < 256) {
      out += kBinInt1;
      out += static_cast<char>(x);
    } else if (x >= INT32_MIN && x <= INT32_MAX) {
      out += kBinInt;
      le(static_cast<std::uint32_t>(static_cast<std::int32_t>(x)), 4);
    } else {
      out += kLong1;
      out += '\x08';
      le(static_cast<std::uint64_t>(x), 8);
    }
  }
  void floating(double x) {
    std::uint64_t bits;
    std::memcpy(&bits, &x, 8);
    out += kBinFloat;
    for (int i = 7; i >= 0; --i) out += static_cast<char>((bits >> (8 * i)) & 0xFF);
  }
  void string(const std::string& s) {
    out += kBinUnicode;
    le(s.size(), 4);
    out += s;
  }
  void global(const char* module, const char* name) {
    out += kGlobal;
    out += module;
    out += '\n';
    out += name;
    out += '\n';
  }
  void tensor(const at::Tensor& t) {
    const char* storage = storage_class(t.scalar_type());
    if (!storage) {
      throw DataError(std::string("cannot write a .pth: tensors of ") +
                      c10::toString(t.scalar_type()) + " have no storage class");
    }
    const at::Tensor c = t.detach().to(at::kCPU).contiguous();
    const std::string key = std::to_string(storages.size());
    storages.push_back(c);
    // torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)
    global("torch._utils", "_rebuild_tensor_v2");
    out += kMark;
    out += kMark;  // the persistent id: ('storage', torch.FloatStorage, key, 'cpu', numel)
    string("storage");
    global("torch", storage);
    string(key);
    string("cpu");
    integer(c.numel());
    out += kTuple;
    out += kBinPersId;
    integer(0);
    out += kMark;
    for (const auto s : c.sizes()) integer(s);
    out += kTuple;
    out += kMark;
    for (const auto s : c.strides()) integer(s);
    out += kTuple;
    out += kFalse;
    global("collections", "OrderedDict");
    out += kEmptyTuple;
    out += kReduce;
    out += kTuple;
    out += kReduce;
  }
};

// A zip of stored entries, each one's data 64-byte aligned (as torch.save writes them, so that
// torch.load can map them).
class ZipWriter {
 public:
  void add(const std::string& name, const char* data, std::size_t size) {
    const std::size_t header = 30 + name.size();
    std::size_t pad = (64 - (out_.size() + header + 4) % 64) % 64;  // 4: the extra field's head
    const std::uint32_t crc = pth_crc32(data, size);
    if (out_.size() + header + 4 + pad + size > 0xFFFFFFFFull) {
      throw DataError("cannot write a .pth past 4 GiB (zip64 is not written)");
    }
    Entry e{name, crc, static_cast<std::uint32_t>(size), static_cast<std::uint32_t>(out_.size())};
    u32(0x04034b50);
    u16(20);    // version needed
    u16(0);     // flags
    u16(0);     // stored
    u16(0);     // time
    u16(0x21);  // date: 1980-01-01
    u32(crc);
    u32(e.size);
    u32(e.size);
    u16(static_cast<std::uint16_t>(name.size()));
    u16(static_cast<std::uint16_t>(4 + pad));
    out_ += name;
    u16(0x4246);  // "FB", torch's padding field
    u16(static_cast<std::uint16_t>(pad));
    out_.append(pad, 'Z');
    out_.append(data, size);
    entries_.push_back(std::move(e));
  }
  std::string finish() {
    const auto directory = static_cast<std::uint32_t>(out_.size());
    for (const auto& e : entries_) {
      u32(0x02014b50);
      u16(20);  // made by
      u16(20);  // needed
      u16(0);
      u16(0);
      u16(0);
      u16(0x21);
      u32(e.crc);
      u32(e.size);
      u32(e.size);
      u16(static_cast<std::uint16_t>(e.name.size()));
      u16(0);  // extra
      u16(0);  // comment
      u16(0);  // disk
      u16(0);  // internal attributes
      u32(0);  // external attributes
      u32(e.offset);
      out_ += e.name;
    }
    const auto size = static_cast<std::uint32_t>(out_.size() - directory);
    u32(0x06054b50);
    u16(0);
    u16(0);
    u16(static_cast<std::uint16_t>(entries_.size()));
    u16(static_cast<std::uint16_t>(entries_.size()));
    u32(size);
    u32(directory);
    u16(0);
    return std::move(out_);
  }

 private:
  struct Entry {
    std::string name;
    std::uint32_t crc, size, offset;
  };
  void u16(std::uint16_t x) {
    out_ += static_cast<char>(x & 0xFF);
    out_ += static_cast<char>(x >> 8);
  }
  void u32(std::uint32_t x) {
    for (int i = 0; i < 4; ++i) out_ += static_cast<char>((x >> (8 * i)) & 0xFF);
  }
  std::string out_;
  std::vector<Entry> entries_;
};

}  // namespace

std::string write_pth(const c10::IValue& value) {
  Pickler p;
  p.out += kProto;
  p.out += '\x02';
  p.value(value);
  p.out += kStop;
  if (p.storages.size() > 65000) throw DataError("cannot write a .pth of more than 65000 tensors");
  ZipWriter zip;
  zip.add("archive/data.pkl", p.out.data(), p.out.size());
  static const char kLittle[] = "little";
  zip.add("archive/byteorder", kLittle, sizeof(kLittle) - 1);
  for (std::size_t i = 0; i < p.storages.size(); ++i) {
    const at::Tensor& t = p.storages[i];
    zip.add("archive/data/" + std::to_string(i), static_cast<const char*>(t.data_ptr()),
            static_cast<std::size_t>(t.numel() * t.element_size()));
  }
  static const char kVersion[] = "3\n";
  zip.add("archive/version", kVersion, sizeof(kVersion) - 1);
  return zip.finish();
}

}  // namespace vsr
