#include "runtime/outputs/pth_reader.h"

#include <ATen/core/ivalue.h>
#include <ATen/ops/empty.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/errors.h"

namespace vsr {

namespace {

using Bytes = const unsigned char*;

[[noreturn]] void fail(const std::string& what) { throw DataError(what); }

std::uint16_t le16(Bytes p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
std::uint32_t le32(Bytes p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
std::uint64_t le64(Bytes p) {
  return static_cast<std::uint64_t>(le32(p)) | (static_cast<std::uint64_t>(le32(p + 4)) << 32);
}

std::string hex_byte(unsigned value) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", value & 0xffu);
  return buf;
}

// A name as found in the file, made printable and short for an error message.
std::string printable(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < 80; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > 80) out += "...";
  return out;
}

// "a str", "an int", "None".
std::string a(const std::string& what) {
  if (what == "None") return what;
  return (what.find_first_of("aeiou") == 0 ? "an " : "a ") + what;
}

std::uint32_t crc32(Bytes p, std::size_t n) { return pth_crc32(p, n); }

}  // namespace

std::uint32_t pth_crc32(const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xffffffffu;
  for (std::size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xffu] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

namespace {

// ---- zip -------------------------------------------------------------------------------

struct Entry {
  std::uint64_t header = 0;  // offset of the local header
  std::uint64_t data = 0;    // offset of the data
  std::uint64_t size = 0;
  std::uint32_t crc = 0;
};

// The entries of a zip archive of stored (uncompressed) files, as torch writes them.
class Zip {
 public:
  Zip(Bytes data, std::size_t size, bool check_crc)
      : data_(data), size_(size), check_crc_(check_crc) {
    if (size >= 2 && data[0] == 0x80 && data[1] <= 5) {
      fail(
          "it is a bare pickle (torch.save before 1.6, or _use_new_zipfile_serialization=False); "
          "re-save it with torch.save in torch 1.6 or later");
    }
    if (size < 4 || data[0] != 'P' || data[1] != 'K') {
      std::string head;
      for (std::size_t i = 0; i < size && i < 4; ++i) head += (i ? " " : "") + hex_byte(data[i]);
      fail("it does not start like a zip archive (first bytes: " + (head.empty() ? "none" : head) +
           "); a .pth file from torch.save is one");
    }
    read_directory();
  }

  const Entry* find(const std::string& name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
  }
  const std::string& first_name() const { return first_; }
  std::string some_names() const {
    std::string s;
    int n = 0;
    for (const auto& [name, e] : entries_) {
      if (n++ == 5) return s + ", ... (" + std::to_string(entries_.size()) + " in all)";
      s += (s.empty() ? "" : ", ") + printable(name);
    }
    return s.empty() ? "none" : s;
  }
  // The bytes of `e`, after checking their CRC-32.
  std::string_view read(const std::string& name, const Entry& e) const {
    Bytes p = data_ + e.data;
    if (check_crc_ && crc32(p, e.size) != e.crc) {
      fail("entry " + printable(name) + " fails its CRC-32 check (the file is damaged)");
    }
    return {reinterpret_cast<const char*>(p), e.size};
  }

 private:
  void read_directory() {
    // The end of central directory record: 22 bytes and a comment of up to 65535.
    constexpr std::size_t kEocd = 22;
    if (size_ < kEocd)
      fail("it is too short for a zip archive (" + std::to_string(size_) + " bytes)");
    std::size_t eocd = std::string::npos;
    const std::size_t lowest = size_ - kEocd > 0xffff ? size_ - kEocd - 0xffff : 0;
    for (std::size_t pos = size_ - kEocd + 1; pos-- > lowest;) {
      if (le32(data_ + pos) == 0x06054b50u && pos + kEocd + le16(data_ + pos + 20) <= size_) {
        eocd = pos;
        break;
      }
    }
    if (eocd == std::string::npos) {
      fail("it has no zip end-of-directory record: the file is truncated or not a zip archive");
    }
    Bytes r = data_ + eocd;
    const std::uint16_t disk = le16(r + 4), cd_disk = le16(r + 6);
    const std::uint16_t count_here = le16(r + 8), count = le16(r + 10);
    const std::uint32_t cd_size = le32(r + 12), cd_offset = le32(r + 16);
    if (count == 0xffff || cd_size == 0xffffffffu || cd_offset == 0xffffffffu) {
      fail("it is a zip64 archive (over 4 GiB or 65535 entries), which this reader does not read");
    }
    if (disk != 0 || cd_disk != 0 || count_here != count) fail("it is a multi-part zip archive");
    if (std::uint64_t{cd_offset} + cd_size > eocd) {
      fail("its zip directory (" + std::to_string(cd_size) + " bytes at " +
           std::to_string(cd_offset) + ") lies outside the file: the file is truncated or damaged");
    }
    std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;  // local header .. data end
    std::uint64_t pos = cd_offset;
    const std::uint64_t cd_end = std::uint64_t{cd_offset} + cd_size;
    for (unsigned i = 0; i < count; ++i) {
      if (pos + 46 > cd_end || le32(data_ + pos) != 0x02014b50u) {
        fail("its zip directory is damaged at entry " + std::to_string(i));
      }
      Bytes c = data_ + pos;
      const std::uint16_t flags = le16(c + 8), method = le16(c + 10);
      const std::uint32_t crc = le32(c + 16), csize = le32(c + 20), usize = le32(c + 24);
      const std::uint16_t name_len = le16(c + 28), extra_len = le16(c + 30),
                          note_len = le16(c + 32);
      const std::uint32_t header = le32(c + 42);
      if (pos + 46 + name_len + extra_len + note_len > cd_end) {
        fail("its zip directory is damaged at entry " + std::to_string(i));
      }
      std::string name(reinterpret_cast<const char*>(c + 46), name_len);
      pos += 46u + name_len + extra_len + note_len;
      if (flags & 1u) fail("entry " + printable(name) + " is encrypted");
      if (method != 0) {
        fail("entry " + printable(name) + " is compressed (zip method " + std::to_string(method) +
             "); torch writes stored entries, so this is not a file from torch.save");
      }
      if (csize == 0xffffffffu || usize == 0xffffffffu || header == 0xffffffffu) {
        fail("entry " + printable(name) + " uses zip64 sizes, which this reader does not read");
      }
      if (csize != usize) fail("entry " + printable(name) + " has two different sizes");
      if (std::uint64_t{header} + 30 > cd_offset || le32(data_ + header) != 0x04034b50u) {
        fail("entry " + printable(name) + " has no local header where the directory says (" +
             std::to_string(header) + "): the file is damaged");
      }
      Bytes l = data_ + header;
      const std::uint64_t start = std::uint64_t{header} + 30 + le16(l + 26) + le16(l + 28);
      if (le16(l + 26) != name_len || std::uint64_t{header} + 30 + name_len > cd_offset ||
          std::memcmp(l + 30, name.data(), name_len) != 0) {
        fail("entry " + printable(name) + " has another name in its local header");
      }
      if (start + usize > cd_offset) {
        fail("entry " + printable(name) + " (" + std::to_string(usize) + " bytes at " +
             std::to_string(start) + ") runs past the data of the archive: the file is truncated");
      }
      if (first_.empty()) first_ = name;
      spans.emplace_back(header, start + usize);
      if (!entries_.emplace(name, Entry{header, start, usize, crc}).second) {
        fail("entry " + printable(name) + " appears twice in the zip directory");
      }
    }
    // Entries that share bytes would let a small file claim any number of tensor bytes.
    std::sort(spans.begin(), spans.end());
    for (std::size_t i = 1; i < spans.size(); ++i) {
      if (spans[i].first < spans[i - 1].second)
        fail("two zip entries overlap: the file is damaged");
    }
  }

  Bytes data_;
  std::size_t size_;
  bool check_crc_;
  std::map<std::string, Entry> entries_;
  std::string first_;
};

// ---- pickle ----------------------------------------------------------------------------

enum class Global {
  kOrderedDict,
  kRebuildTensor,
  kRebuildParameter,
  kRebuildParameterWithState,
  kStorage,   // a torch.*Storage class: only inside persistent ids
  kFirstArg,  // LibTorch's restore_type_tag(value, type) and build_*list(list)
};

std::pair<Global, at::ScalarType> lookup_global(const std::string& module,
                                                const std::string& name) {
  static const std::map<std::string, at::ScalarType> storages = {
      {"DoubleStorage", at::kDouble},
      {"FloatStorage", at::kFloat},
      {"HalfStorage", at::kHalf},
      {"BFloat16Storage", at::kBFloat16},
      {"LongStorage", at::kLong},
      {"IntStorage", at::kInt},
      {"ShortStorage", at::kShort},
      {"CharStorage", at::kChar},
      {"ByteStorage", at::kByte},
      {"BoolStorage", at::kBool},
      {"ComplexFloatStorage", at::kComplexFloat},
      {"ComplexDoubleStorage", at::kComplexDouble},
      {"UntypedStorage", at::kByte},
  };
  if (module == "collections" && name == "OrderedDict") return {Global::kOrderedDict, at::kByte};
  if (module == "torch._utils") {
    if (name == "_rebuild_tensor_v2") return {Global::kRebuildTensor, at::kByte};
    if (name == "_rebuild_parameter") return {Global::kRebuildParameter, at::kByte};
    if (name == "_rebuild_parameter_with_state") {
      return {Global::kRebuildParameterWithState, at::kByte};
    }
  }
  if (module == "torch") {
    auto it = storages.find(name);
    if (it != storages.end()) return {Global::kStorage, it->second};
  }
  if (module == "torch.jit._pickle" &&
      (name == "restore_type_tag" || name == "build_intlist" || name == "build_doublelist" ||
       name == "build_boollist" || name == "build_tensorlist")) {
    return {Global::kFirstArg, at::kByte};
  }
  std::string hint;
  if (module.rfind("__torch__", 0) == 0) {
    hint = " (a TorchScript module from torch.jit.save: save its state_dict() with torch.save)";
  }
  fail("global " + printable(module) + "." + printable(name) +
       " is not allowed: only tensors, numbers, strings, lists, tuples and dicts are read, no "
       "code runs" +
       hint);
}

enum class Kind : std::uint8_t { kNone, kBool, kInt, kFloat, kObj };

// A pickle value: scalars inline, everything else an index into the machine's objects.
struct Ref {
  Kind kind = Kind::kNone;
  std::int64_t i = 0;  // bool, int, object index
  double d = 0;
};

enum class ObjKind : std::uint8_t { kStr, kTuple, kList, kDict, kGlobal, kStorage, kTensor };

struct Obj {
  explicit Obj(ObjKind k) : kind(k) {}
  ObjKind kind;
  Global global = Global::kFirstArg;
  at::ScalarType dtype = at::kByte;  // of a storage class or a storage
  std::string s;                     // str; "module.name" of a global; a storage's key
  std::vector<Ref> items;            // tuple, list; dict keys and values interleaved
  at::Tensor tensor;                 // a storage (1-D) or a tensor
};

const char* kind_name(const Obj& o) {
  switch (o.kind) {
    case ObjKind::kStr:
      return "str";
    case ObjKind::kTuple:
      return "tuple";
    case ObjKind::kList:
      return "list";
    case ObjKind::kDict:
      return "dict";
    case ObjKind::kGlobal:
      return "global";
    case ObjKind::kStorage:
      return "storage";
    case ObjKind::kTensor:
      return "tensor";
  }
  return "object";
}

// Runs the pickle `p` of `zip` (whose tensors are <prefix>/data/<key>) to its STOP.
class Machine {
 public:
  Machine(const Zip& zip, std::size_t file_size, std::string prefix, std::string_view p,
          const PthLimits& limits)
      : zip_(zip),
        file_size_(file_size),
        prefix_(std::move(prefix)),
        p_(reinterpret_cast<Bytes>(p.data())),
        size_(p.size()),
        limits_(limits) {}

  c10::IValue run() {
    const Ref result = execute();
    state_.assign(objs_.size(), 0);
    values_.resize(objs_.size());
    return convert(result, 0);
  }

 private:
  [[noreturn]] void bad(const std::string& what) const {
    fail(prefix_ + "/data.pkl at byte " + std::to_string(op_pos_) + ": " + what);
  }
  Bytes take(std::uint64_t n) {
    if (n > size_ - pos_) bad("the pickle ends inside an opcode (the file is truncated)");
    Bytes at = p_ + pos_;
    pos_ += static_cast<std::size_t>(n);
    return at;
  }
  std::string line() {
    std::string s;
    for (;;) {
      const char c = static_cast<char>(*take(1));
      if (c == '\n') return s;
      if (s.size() == 256) bad("a GLOBAL name longer than 256 bytes");
      s += c;
    }
  }

  void push(Ref r) {
    if (stack_.size() >= limits_.max_stack) {
      bad("more than " + std::to_string(limits_.max_stack) + " entries on the pickle stack");
    }
    stack_.push_back(r);
  }
  std::size_t frame() const { return marks_.empty() ? 0 : marks_.back(); }
  Ref pop() {
    if (stack_.size() <= frame()) bad("an opcode takes a value from an empty stack");
    Ref r = stack_.back();
    stack_.pop_back();
    return r;
  }
  Ref& top() {
    if (stack_.size() <= frame()) bad("an opcode takes a value from an empty stack");
    return stack_.back();
  }
  std::vector<Ref> pop_mark() {
    if (marks_.empty()) bad("an opcode needs a MARK that is not there");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Ref> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }

  Ref make(Obj o) {
    if (objs_.size() >= limits_.max_objects) {
      bad("more than " + std::to_string(limits_.max_objects) + " objects");
    }
    count_items(o.items.size());
    objs_.push_back(std::move(o));
    return Ref{Kind::kObj, static_cast<std::int64_t>(objs_.size() - 1), 0};
  }
  void count_items(std::size_t n) {
    items_ += n;
    if (items_ > limits_.max_items) {
      bad("more than " + std::to_string(limits_.max_items) + " container items");
    }
  }
  Obj* obj(const Ref& r) {
    return r.kind == Kind::kObj ? &objs_[static_cast<std::size_t>(r.i)] : nullptr;
  }
  Obj& obj(const Ref& r, ObjKind want, const char* role) {
    Obj* o = obj(r);
    if (!o || o->kind != want) bad(std::string(role) + " is " + a(describe(r)));
    return *o;
  }
  std::string describe(const Ref& r) {
    switch (r.kind) {
      case Kind::kNone:
        return "None";
      case Kind::kBool:
        return "bool";
      case Kind::kInt:
        return "int";
      case Kind::kFloat:
        return "float";
      case Kind::kObj: {
        const Obj& o = objs_[static_cast<std::size_t>(r.i)];
        return o.kind == ObjKind::kGlobal ? "global " + o.s : kind_name(o);
      }
    }
    return "value";
  }
  Ref str(Bytes b, std::uint64_t n) {
    Obj o{ObjKind::kStr};
    o.s.assign(reinterpret_cast<const char*>(b), static_cast<std::size_t>(n));
    return make(std::move(o));
  }
  Ref tuple(std::vector<Ref> items) {
    Obj o{ObjKind::kTuple};
    o.items = std::move(items);
    return make(std::move(o));
  }
  void memo_put(std::uint64_t key) {
    if (memo_.size() >= limits_.max_objects && !memo_.count(key)) bad("too many memo entries");
    memo_[key] = top();
  }
  Ref memo_get(std::uint64_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) bad("memo entry " + std::to_string(key) + " was never stored");
    return it->second;
  }
  static Ref integer(std::int64_t v) { return Ref{Kind::kInt, v, 0}; }
  Ref long_int(std::uint64_t n) {
    Bytes b = take(n);
    if (n > 8) bad("an integer of " + std::to_string(n) + " bytes (more than 64 bits)");
    std::uint64_t v = 0;
    for (std::uint64_t k = 0; k < n; ++k) v |= static_cast<std::uint64_t>(b[k]) << (8 * k);
    if (n > 0 && n < 8 && (b[n - 1] & 0x80)) v |= ~std::uint64_t{0} << (8 * n);  // sign
    return integer(static_cast<std::int64_t>(v));
  }

  Ref execute() {
    while (true) {
      op_pos_ = pos_;
      const unsigned char op = *take(1);
      switch (op) {
        case 0x80:  // PROTO
          if (*take(1) > 5) bad("pickle protocol above 5");
          break;
        case 0x95:  // FRAME: a length hint only
          take(8);
          break;
        case '.':  // STOP
          return pop();
        case 'N':
          push(Ref{});
          break;
        case 0x88:  // NEWTRUE
          push(Ref{Kind::kBool, 1, 0});
          break;
        case 0x89:  // NEWFALSE
          push(Ref{Kind::kBool, 0, 0});
          break;
        case 'J':  // BININT
          push(integer(static_cast<std::int32_t>(le32(take(4)))));
          break;
        case 'K':  // BININT1
          push(integer(*take(1)));
          break;
        case 'M':  // BININT2
          push(integer(le16(take(2))));
          break;
        case 0x8a:  // LONG1
          push(long_int(*take(1)));
          break;
        case 0x8b: {  // LONG4
          const auto n = static_cast<std::int32_t>(le32(take(4)));
          if (n < 0) bad("a negative length");
          push(long_int(static_cast<std::uint64_t>(n)));
          break;
        }
        case 'G': {  // BINFLOAT, big-endian
          Bytes b = take(8);
          std::uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | b[k];
          double d;
          std::memcpy(&d, &bits, sizeof d);
          push(Ref{Kind::kFloat, 0, d});
          break;
        }
        case 'X':    // BINUNICODE
        case 'B': {  // BINBYTES
          const std::uint32_t n = le32(take(4));
          push(str(take(n), n));
          break;
        }
        case 'T': {  // BINSTRING
          const auto n = static_cast<std::int32_t>(le32(take(4)));
          if (n < 0) bad("a negative length");
          push(str(take(static_cast<std::uint64_t>(n)), static_cast<std::uint64_t>(n)));
          break;
        }
        case 0x8c:   // SHORT_BINUNICODE
        case 'U':    // SHORT_BINSTRING
        case 'C': {  // SHORT_BINBYTES
          const std::uint8_t n = *take(1);
          push(str(take(n), n));
          break;
        }
        case 0x8d:    // BINUNICODE8
        case 0x8e: {  // BINBYTES8
          const std::uint64_t n = le64(take(8));
          push(str(take(n), n));
          break;
        }
        case ')':
          push(tuple({}));
          break;
        case 0x85:    // TUPLE1
        case 0x86:    // TUPLE2
        case 0x87: {  // TUPLE3
          std::vector<Ref> items(static_cast<std::size_t>(op - 0x84));
          for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
          push(tuple(std::move(items)));
          break;
        }
        case 't':
          push(tuple(pop_mark()));
          break;
        case ']':
          push(make(Obj{ObjKind::kList}));
          break;
        case 'l': {  // LIST
          Obj o{ObjKind::kList};
          o.items = pop_mark();
          push(make(std::move(o)));
          break;
        }
        case '}':
          push(make(Obj{ObjKind::kDict}));
          break;
        case 'd': {  // DICT
          Obj o{ObjKind::kDict};
          o.items = pop_mark();
          if (o.items.size() % 2) bad("DICT with an odd number of items");
          push(make(std::move(o)));
          break;
        }
        case 'a': {  // APPEND
          const Ref v = pop();
          count_items(1);
          obj(top(), ObjKind::kList, "the target of APPEND").items.push_back(v);
          break;
        }
        case 'e': {  // APPENDS
          std::vector<Ref> vs = pop_mark();
          count_items(vs.size());
          auto& items = obj(top(), ObjKind::kList, "the target of APPENDS").items;
          items.insert(items.end(), vs.begin(), vs.end());
          break;
        }
        case 's': {  // SETITEM
          const Ref v = pop();
          const Ref k = pop();
          count_items(2);
          auto& items = obj(top(), ObjKind::kDict, "the target of SETITEM").items;
          items.push_back(k);
          items.push_back(v);
          break;
        }
        case 'u': {  // SETITEMS
          std::vector<Ref> kvs = pop_mark();
          if (kvs.size() % 2) bad("SETITEMS with an odd number of items");
          count_items(kvs.size());
          auto& items = obj(top(), ObjKind::kDict, "the target of SETITEMS").items;
          items.insert(items.end(), kvs.begin(), kvs.end());
          break;
        }
        case '(':
          if (marks_.size() >= limits_.max_stack) bad("too many MARKs");
          marks_.push_back(stack_.size());
          break;
        case '0':  // POP
          pop();
          break;
        case '1':  // POP_MARK
          pop_mark();
          break;
        case '2':  // DUP
          push(top());
          break;
        case 'q':  // BINPUT
          memo_put(*take(1));
          break;
        case 'r':  // LONG_BINPUT
          memo_put(le32(take(4)));
          break;
        case 0x94:  // MEMOIZE
          memo_put(memo_.size());
          break;
        case 'h':  // BINGET
          push(memo_get(*take(1)));
          break;
        case 'j':  // LONG_BINGET
          push(memo_get(le32(take(4))));
          break;
        case 'c': {  // GLOBAL
          const std::string module = line();
          const std::string name = line();
          push(global(module, name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          const Ref name = pop();
          const Ref module = pop();
          push(global(obj(module, ObjKind::kStr, "the module of STACK_GLOBAL").s,
                      obj(name, ObjKind::kStr, "the name of STACK_GLOBAL").s));
          break;
        }
        case 'R':     // REDUCE
        case 0x81: {  // NEWOBJ
          const Ref args = pop();
          const Ref callable = pop();
          push(call(callable, args));
          break;
        }
        case 'b': {  // BUILD: OrderedDict's state is its _metadata attribute, which we drop
          const Ref state = pop();
          const Obj* target = obj(top());
          const Obj* s = obj(state);
          if (!target || target->kind != ObjKind::kDict ||
              !(state.kind == Kind::kNone || (s && s->kind == ObjKind::kDict))) {
            bad("BUILD of " + a(describe(top())) + " from " + a(describe(state)) +
                " is not supported");
          }
          break;
        }
        case 'Q':  // BINPERSID
          push(persistent(pop()));
          break;
        default:
          bad("opcode " + hex_byte(op) + " is not one that torch.save writes for data");
      }
    }
  }

  Ref global(const std::string& module, const std::string& name) {
    std::pair<Global, at::ScalarType> found;
    try {
      found = lookup_global(module, name);
    } catch (const DataError& e) {
      bad(e.what());
    }
    const auto [g, dtype] = found;
    const std::string full = module + "." + name;
    auto it = globals_.find(full);
    if (it != globals_.end()) return it->second;
    Obj o{ObjKind::kGlobal};
    o.global = g;
    o.dtype = dtype;
    o.s = full;
    return globals_[full] = make(std::move(o));
  }

  std::int64_t int_arg(const Ref& r, const char* role) {
    if (r.kind != Kind::kInt) bad(std::string(role) + " is " + a(describe(r)) + ", not an int");
    return r.i;
  }
  std::vector<std::int64_t> ints(const Ref& r, const char* role) {
    const Obj& t = obj(r, ObjKind::kTuple, role);
    if (t.items.size() > static_cast<std::size_t>(limits_.max_dims)) {
      bad(std::string(role) + " has more than " + std::to_string(limits_.max_dims) + " dimensions");
    }
    std::vector<std::int64_t> out;
    for (const Ref& x : t.items) out.push_back(int_arg(x, role));
    return out;
  }

  Ref call(const Ref& callable, const Ref& args_ref) {
    const Obj* f = obj(callable);
    if (!f || f->kind != ObjKind::kGlobal) bad("REDUCE calls " + a(describe(callable)));
    const std::vector<Ref> args = obj(args_ref, ObjKind::kTuple, "the arguments of REDUCE").items;
    auto want = [&](std::size_t lo, std::size_t hi) {
      if (args.size() < lo || args.size() > hi) {
        bad(f->s + " called with " + std::to_string(args.size()) + " arguments");
      }
    };
    switch (f->global) {
      case Global::kOrderedDict: {
        want(0, 0);
        return make(Obj{ObjKind::kDict});
      }
      case Global::kRebuildTensor:
        want(6, 7);
        return rebuild_tensor(args);
      case Global::kRebuildParameter:
      case Global::kRebuildParameterWithState:
        want(f->global == Global::kRebuildParameter ? 3 : 4, 4);
        obj(args[0], ObjKind::kTensor, "the data of a parameter");
        return args[0];
      case Global::kFirstArg:
        want(1, 2);
        return args[0];
      case Global::kStorage:
        break;
    }
    bad(f->s + " may only name the type of a storage in a persistent id");
  }

  Ref rebuild_tensor(const std::vector<Ref>& args) {
    const Obj& storage = obj(args[0], ObjKind::kStorage, "the storage of a tensor");
    const std::int64_t offset = int_arg(args[1], "the storage offset of a tensor");
    const std::vector<std::int64_t> sizes = ints(args[2], "the size of a tensor");
    const std::vector<std::int64_t> strides = ints(args[3], "the stride of a tensor");
    if (sizes.size() != strides.size()) bad("a tensor's size and stride differ in length");
    const std::int64_t numel = storage.tensor.numel();
    std::int64_t last = offset;  // the last element the tensor reads
    std::int64_t count = 1;
    bool empty = false;
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      if (sizes[k] < 0 || strides[k] < 0) bad("a tensor with a negative size or stride");
      if (sizes[k] == 0) empty = true;
      std::int64_t step = 0;
      if (sizes[k] > 0 && (__builtin_mul_overflow(sizes[k] - 1, strides[k], &step) ||
                           __builtin_add_overflow(last, step, &last) ||
                           __builtin_mul_overflow(count, sizes[k], &count))) {
        bad("a tensor whose size overflows 64 bits");
      }
    }
    if (empty) count = 0;
    if (offset < 0 || offset > numel || (!empty && last >= numel)) {
      bad("a tensor of size " + c10::str(c10::IntArrayRef(sizes)) + ", stride " +
          c10::str(c10::IntArrayRef(strides)) + " and offset " + std::to_string(offset) +
          " reaches beyond its storage " + storage.s + " of " + std::to_string(numel) +
          " elements");
    }
    std::uint64_t bytes = 0;
    if (__builtin_mul_overflow(static_cast<std::uint64_t>(count),
                               static_cast<std::uint64_t>(storage.tensor.element_size()), &bytes) ||
        __builtin_add_overflow(view_bytes_, bytes, &view_bytes_)) {
      view_bytes_ = std::numeric_limits<std::uint64_t>::max();
    }
    const std::uint64_t most =
        static_cast<std::uint64_t>(limits_.max_view_ratio) * file_size_ + (std::uint64_t{1} << 20);
    if (view_bytes_ > most) {
      bad("the tensors come to more than " + std::to_string(most) + " bytes (" +
          std::to_string(limits_.max_view_ratio) +
          " times the file's size and 1 MiB): views that repeat their storage's elements");
    }
    Obj o{ObjKind::kTensor};
    o.tensor = storage.tensor.as_strided(sizes, strides, offset);
    return make(std::move(o));
  }

  // A ('storage', torch.XStorage, key, location, numel) persistent id: <prefix>/data/<key>.
  Ref persistent(const Ref& pid) {
    const Obj& t = obj(pid, ObjKind::kTuple, "a persistent id");
    const Obj* tag = t.items.empty() ? nullptr : obj(t.items[0]);
    if (t.items.size() != 5 || !tag || tag->kind != ObjKind::kStr || tag->s != "storage") {
      bad("a persistent id that is not ('storage', type, key, location, size)");
    }
    const Obj& type = obj(t.items[1], ObjKind::kGlobal, "the type of a storage");
    if (type.global != Global::kStorage) bad(type.s + " is not a storage type");
    const std::string key = obj(t.items[2], ObjKind::kStr, "the key of a storage").s;
    obj(t.items[3], ObjKind::kStr, "the location of a storage");
    const std::int64_t n = int_arg(t.items[4], "the size of a storage");

    auto cached = storages_.find(key);
    if (cached != storages_.end()) {
      const Obj& s = objs_[static_cast<std::size_t>(cached->second.i)];
      if (s.dtype != type.dtype || s.tensor.numel() != n) {
        bad("storage " + printable(key) + " is used with two types or sizes");
      }
      return cached->second;
    }
    const std::string name = prefix_ + "/data/" + key;
    const Entry* e = zip_.find(name);
    if (!e)
      bad("storage " + printable(key) + " has no entry " + printable(name) + " in the archive");
    const auto elem = static_cast<std::int64_t>(c10::elementSize(type.dtype));
    if (n < 0 || static_cast<std::uint64_t>(n) != e->size / static_cast<std::uint64_t>(elem) ||
        e->size % static_cast<std::uint64_t>(elem) != 0) {
      bad("storage " + printable(key) + " claims " + std::to_string(n) + " elements of " +
          std::to_string(elem) + " bytes but " + printable(name) + " holds " +
          std::to_string(e->size) + " bytes");
    }
    const std::string_view bytes = zip_.read(name, *e);
    Obj o{ObjKind::kStorage};
    o.dtype = type.dtype;
    o.s = printable(key);
    o.tensor = at::empty({n}, at::TensorOptions().dtype(type.dtype));
    if (!bytes.empty()) std::memcpy(o.tensor.data_ptr(), bytes.data(), bytes.size());
    return storages_[key] = make(std::move(o));
  }

  c10::IValue convert(const Ref& r, int depth) {
    switch (r.kind) {
      case Kind::kNone:
        return {};
      case Kind::kBool:
        return c10::IValue(r.i != 0);
      case Kind::kInt:
        return c10::IValue(r.i);
      case Kind::kFloat:
        return c10::IValue(r.d);
      case Kind::kObj:
        break;
    }
    const auto index = static_cast<std::size_t>(r.i);
    if (state_[index] == 2) return values_[index];
    if (state_[index] == 1) fail(prefix_ + "/data.pkl: a container holds itself");
    if (depth > limits_.max_depth) {
      fail(prefix_ + "/data.pkl: containers nested deeper than " +
           std::to_string(limits_.max_depth) + " levels");
    }
    state_[index] = 1;
    const Obj& o = objs_[index];
    c10::IValue v;
    switch (o.kind) {
      case ObjKind::kStr:
        v = c10::IValue(o.s);
        break;
      case ObjKind::kTensor:
        v = c10::IValue(o.tensor);
        break;
      case ObjKind::kTuple: {
        std::vector<c10::IValue> items;
        items.reserve(o.items.size());
        for (const Ref& x : o.items) items.push_back(convert(x, depth + 1));
        v = c10::ivalue::Tuple::create(std::move(items));
        break;
      }
      case ObjKind::kList: {
        c10::impl::GenericList list(c10::AnyType::get());
        list.reserve(o.items.size());
        for (const Ref& x : o.items) list.push_back(convert(x, depth + 1));
        v = c10::IValue(std::move(list));
        break;
      }
      case ObjKind::kDict:
        v = convert_dict(o, depth);
        break;
      case ObjKind::kGlobal:
      case ObjKind::kStorage:
        fail(prefix_ + "/data.pkl: a " + std::string(kind_name(o)) + " " + o.s +
             " stands where a value belongs");
    }
    state_[index] = 2;
    values_[index] = v;
    return v;
  }

  c10::IValue convert_dict(const Obj& o, int depth) {
    bool all_str = true, all_int = true;
    std::vector<c10::IValue> keys;
    keys.reserve(o.items.size() / 2);
    for (std::size_t k = 0; k < o.items.size(); k += 2) {
      const Ref& key = o.items[k];
      const Obj* ko = obj(key);
      const bool is_str = ko && ko->kind == ObjKind::kStr;
      if (!is_str && key.kind != Kind::kInt && key.kind != Kind::kBool &&
          key.kind != Kind::kFloat) {
        fail(prefix_ + "/data.pkl: a dict key that is " + a(describe(key)) +
             " (keys may be str, int, float or bool)");
      }
      if (is_str && ko->s.size() > limits_.max_key_bytes) {
        fail(prefix_ + "/data.pkl: a dict key of " + std::to_string(ko->s.size()) +
             " bytes (at most " + std::to_string(limits_.max_key_bytes) + ")");
      }
      all_str = all_str && is_str;
      all_int = all_int && key.kind == Kind::kInt;
      keys.push_back(convert(key, depth + 1));
    }
    c10::TypePtr key_type = c10::AnyType::get();
    if (!keys.empty() && all_str) key_type = c10::StringType::get();
    if (!keys.empty() && all_int) key_type = c10::IntType::get();
    c10::impl::GenericDict dict(key_type, c10::AnyType::get());
    dict.reserve(keys.size());
    for (std::size_t k = 0; k < keys.size(); ++k) {
      dict.insert_or_assign(std::move(keys[k]), convert(o.items[2 * k + 1], depth + 1));
    }
    return c10::IValue(std::move(dict));
  }

  const Zip& zip_;
  std::uint64_t file_size_;
  std::uint64_t view_bytes_ = 0;
  std::string prefix_;
  Bytes p_;
  std::size_t size_;
  const PthLimits& limits_;
  std::size_t pos_ = 0;
  std::size_t op_pos_ = 0;
  std::size_t items_ = 0;
  std::vector<Ref> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, Ref> memo_;
  std::vector<Obj> objs_;
  std::map<std::string, Ref> globals_;
  std::map<std::string, Ref> storages_;
  std::vector<std::uint8_t> state_;  // of conversion: 0 not yet, 1 under way, 2 done
  std::vector<c10::IValue> values_;
};

}  // namespace

c10::IValue read_pth(const char* data, std::size_t size, const PthLimits& limits) {
  const Zip zip(reinterpret_cast<Bytes>(data), size, limits.check_crc);
  // As torch does: the archive's folder is that of its first entry.
  const std::string& first = zip.first_name();
  const std::size_t slash = first.find('/');
  if (slash == std::string::npos || slash == 0) {
    fail("it is a zip archive but not a torch one (entries: " + zip.some_names() + ")");
  }
  const std::string prefix = first.substr(0, slash);
  const Entry* pickle = zip.find(prefix + "/data.pkl");
  if (!pickle) {
    fail("it is a zip archive without " + printable(prefix) +
         "/data.pkl, so not a file from torch.save (entries: " + zip.some_names() + ")");
  }
  if (const Entry* order = zip.find(prefix + "/byteorder")) {
    const std::string_view v = zip.read(prefix + "/byteorder", *order);
    if (v != "little") fail("its tensors are stored " + printable(v) + "-endian");
  }
  if (pickle->size > limits.max_pickle_bytes) {
    fail(printable(prefix) + "/data.pkl is " + std::to_string(pickle->size) +
         " bytes, more than the limit of " + std::to_string(limits.max_pickle_bytes));
  }
  const std::string_view p = zip.read(prefix + "/data.pkl", *pickle);
  return Machine(zip, size, printable(prefix), p, limits).run();
}

}  // namespace vsr
