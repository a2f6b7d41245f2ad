// The text of validation messages, shared by the config checker (runtime/config) and the spec
// checker (graph/spec): closest-match suggestions, numeric ranges and lists.
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <vector>

namespace vsr {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Case-insensitive Levenshtein distance.
std::size_t edit_distance(const std::string& a, const std::string& b);
// The candidate closest to `word` when it is close enough to be a likely typo, else "".
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

// 3 -> "3", 0.25 -> "0.25", 1e9 -> "1000000000".
std::string number_text(double v);

// n in decimal, zeros in front to `width` digits: (12, 6) -> "000012"; wider numbers as they are.
std::string zero_padded(long long n, int width);
// "a, b, c" with the given separator.
std::string join(const std::vector<std::string>& items, const std::string& separator = ", ");
// "'a', 'b'", or "<none>".
std::string quoted_list(const std::vector<std::string>& items);

// A numeric range; either end may be open or unbounded.
struct Range {
  double lo = -kInf;
  double hi = kInf;
  bool lo_open = false;
  bool hi_open = false;

  static Range closed(double lo, double hi) { return {lo, hi, false, false}; }
  static Range closed_open(double lo, double hi) { return {lo, hi, false, true}; }
  static Range open_closed(double lo, double hi) { return {lo, hi, true, false}; }
  static Range at_least(double lo) { return {lo, kInf, false, false}; }
  static Range above(double lo) { return {lo, kInf, true, false}; }

  bool bounded() const { return lo != -kInf || hi != kInf; }
  bool contains(double v) const {
    return (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  }
  // "[8, 512]", "(0, 1]", ">= 0", "> 0", "<= 5".
  std::string text() const;
};

// "an integer in [8, 512]", "a number >= 0", "an integer" (unbounded).
std::string with_range(const std::string& what, const Range& range);

}  // namespace vsr
