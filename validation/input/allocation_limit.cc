#include "validation/input/allocation_limit.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <stdexcept>

namespace ttt {
namespace {

constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;
constexpr std::uint64_t kDefaultCeiling = 16 * kGiB;

std::atomic<std::uint64_t> override_bytes{0};

// "64G" -> 64 GiB; throws naming the variable for anything else.
std::uint64_t parse_byte_count(const std::string& text) {
  const auto fail = [&text]() -> std::uint64_t {
    throw std::invalid_argument("TTT_MAX_ALLOC_BYTES='" + text +
                                "' is not a positive byte count (e.g. 8589934592 or 8G)");
  };
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 19 || text.size() > digits + 1) return fail();
  const std::uint64_t number = std::stoull(text.substr(0, digits));
  int shift = 0;
  if (text.size() == digits + 1) {
    switch (text[digits]) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      case 'T': shift = 40; break;
      default: return fail();
    }
  }
  if (number == 0 || number > (std::numeric_limits<std::uint64_t>::max() >> shift)) return fail();
  return number << shift;
}

std::uint64_t default_limit() {
  if (const char* text = std::getenv("TTT_MAX_ALLOC_BYTES"); text != nullptr && *text != '\0') {
    return parse_byte_count(text);
  }
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return kDefaultCeiling;
  const std::uint64_t physical = static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size);
  return std::min(kDefaultCeiling, physical / 2);
}

}  // namespace

std::uint64_t allocation_limit() {
  if (const std::uint64_t set = override_bytes.load(std::memory_order_relaxed); set != 0) {
    return set;
  }
  static const std::uint64_t limit = default_limit();
  return limit;
}

void set_allocation_limit(std::uint64_t bytes) {
  override_bytes.store(bytes, std::memory_order_relaxed);
}

std::uint64_t bytes_of(std::uint64_t elements, std::uint64_t element_size) {
  if (element_size != 0 && elements > std::numeric_limits<std::uint64_t>::max() / element_size) {
    return std::numeric_limits<std::uint64_t>::max();
  }
  return elements * element_size;
}

std::string format_bytes(std::uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  int unit = 0;
  while (value >= 1024.0 && unit < 5) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", value, units[unit]);
  return text;
}

void check_allocation(std::uint64_t bytes, const std::string& what) {
  const std::uint64_t limit = allocation_limit();
  if (bytes <= limit) return;
  throw std::invalid_argument(what + " needs " + format_bytes(bytes) + " (" +
                              std::to_string(bytes) + " bytes), more than the allocation limit of " +
                              format_bytes(limit) + " (TTT_MAX_ALLOC_BYTES)");
}

}  // namespace ttt
