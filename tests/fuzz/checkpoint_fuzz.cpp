// Fuzzes the checkpoint loader's .pth reader (runtime/outputs/pth_reader.h): any bytes give a
// value or a DataError, never a crash, a hang or an allocation beyond what the input holds.
//
// Each input is read three times: as given; with CRC-32 checks off, so that mutations of a zip
// reach the pickle machine instead of stopping at the CRC; and, when it is not a zip, as the
// data.pkl of an archive that also holds storages "0" and "1", so that the fuzzer can mutate
// pickles directly (the seeds of tests/fuzz/corpus/checkpoint hold both kinds).
#include <ATen/core/ivalue.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/errors.h"
#include "runtime/outputs/pth_reader.h"

namespace {

std::string le(std::uint64_t v, int bytes) {
  std::string s;
  for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

std::uint32_t crc32(const std::string& s) { return vsr::pth_crc32(s.data(), s.size()); }

// A stored zip of `entries` (name, data), as torch writes one.
std::string make_zip(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out, directory;
  for (const auto& [name, data] : entries) {
    const std::string common = le(0, 2) + le(0, 2) + le(0, 4) + le(crc32(data), 4) +
                               le(data.size(), 4) + le(data.size(), 4) + le(name.size(), 2) +
                               le(0, 2);
    directory += "PK\x01\x02" + le(20, 2) + le(20, 2) + common + le(0, 2) + le(0, 2) + le(0, 2) +
                 le(0, 4) + le(out.size(), 4) + name;
    out += "PK\x03\x04" + le(20, 2) + common + name + data;
  }
  const std::size_t offset = out.size();
  return out + directory + "PK\x05\x06" + le(0, 4) + le(entries.size(), 2) + le(entries.size(), 2) +
         le(directory.size(), 4) + le(offset, 4) + le(0, 2);
}

void read(const std::string& bytes, const vsr::PthLimits& limits) {
  try {
    (void)vsr::read_pth(bytes.data(), bytes.size(), limits);
  } catch (const vsr::DataError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  vsr::PthLimits limits;
  read(bytes, limits);
  limits.check_crc = false;
  if (bytes.rfind("PK", 0) == 0) {
    read(bytes, limits);
  } else {
    read(make_zip({{"archive/data.pkl", bytes},
                   {"archive/data/0", std::string(64, '\1')},
                   {"archive/data/1", std::string(6, '\2')}}),
         limits);
  }
  return 0;
}
