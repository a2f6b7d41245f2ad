#include "common/validation.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

namespace vsr {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  const auto same = [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  };
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] =
          std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same(a[i - 1], b[j - 1]) ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& candidate : candidates) {
    const std::size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

std::string zero_padded(long long n, int width) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%0*lld", width, n);
  return buffer;
}

std::string number_text(double v) {
  char buffer[64];
  if (std::abs(v) < 1e15 && v == std::floor(v)) {
    std::snprintf(buffer, sizeof buffer, "%.0f", v);
  } else {
    std::snprintf(buffer, sizeof buffer, "%g", v);
  }
  return buffer;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? separator : "") + items[i];
  return out;
}

std::string quoted_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "'" : ", '") + i + "'";
  return out.empty() ? "<none>" : out;
}

std::string Range::text() const {
  if (hi == kInf) return (lo_open ? "> " : ">= ") + number_text(lo);
  if (lo == -kInf) return (hi_open ? "< " : "<= ") + number_text(hi);
  return (lo_open ? "(" : "[") + number_text(lo) + ", " + number_text(hi) + (hi_open ? ")" : "]");
}

std::string with_range(const std::string& what, const Range& range) {
  if (!range.bounded()) return what;
  return what + (range.hi == kInf || range.lo == -kInf ? " " : " in ") + range.text();
}

}  // namespace vsr
