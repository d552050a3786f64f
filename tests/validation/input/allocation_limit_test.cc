// validation/input/allocation_limit.h: the default limit, TTT_MAX_ALLOC_BYTES (suffixes, invalid
// values), set_allocation_limit, and check_allocation's message.
#include "validation/input/allocation_limit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>

namespace ttt {
namespace {

constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;

// allocation_limit() reads TTT_MAX_ALLOC_BYTES once per process, so each value is tried in a
// fresh process: a "threadsafe" death test re-executes this binary for its statement. Prints
// "limit=N" and exits 0, or prints the error and exits 3.
[[noreturn]] void print_limit_with(const char* value) {
  if (value == nullptr) {
    ::unsetenv("TTT_MAX_ALLOC_BYTES");
  } else {
    ::setenv("TTT_MAX_ALLOC_BYTES", value, 1);
  }
  try {
    std::fprintf(stderr, "limit=%llu\n", static_cast<unsigned long long>(allocation_limit()));
    std::exit(0);
  } catch (const std::invalid_argument& error) {
    std::fprintf(stderr, "%s\n", error.what());
    std::exit(3);
  }
}

// Half the physical memory, from /proc/meminfo (MemTotal is in KiB).
std::uint64_t half_the_memory() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  while (meminfo >> key >> kib && key != "MemTotal:") meminfo.ignore(256, '\n');
  return kib * 1024 / 2;
}

TEST(AllocationLimit, DefaultIsTheSmallerOf16GiBAndHalfTheMemory) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const std::uint64_t expected = std::min(16 * kGiB, half_the_memory());
  ASSERT_GT(expected, 0u);
  EXPECT_EXIT(print_limit_with(nullptr), ::testing::ExitedWithCode(0),
              "^limit=" + std::to_string(expected) + "\n$");
  EXPECT_EXIT(print_limit_with(""), ::testing::ExitedWithCode(0),
              "^limit=" + std::to_string(expected) + "\n$");  // Empty means unset.
}

TEST(AllocationLimit, EnvironmentOverridesWithBinarySuffixes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const auto expect_limit = [](const char* value, const char* bytes) {
    EXPECT_EXIT(print_limit_with(value), ::testing::ExitedWithCode(0),
                std::string("^limit=") + bytes + "\n$")
        << value;
  };
  expect_limit("1000", "1000");
  expect_limit("3K", "3072");
  expect_limit("5M", "5242880");
  expect_limit("64G", "68719476736");
  expect_limit("2T", "2199023255552");
  expect_limit("9999999999999999999", "9999999999999999999");  // 19 digits: the most read.
  expect_limit("16777215T", "18446742974197923840");           // (2^24 - 1) << 40.
}

TEST(AllocationLimit, InvalidEnvironmentValuesAreAnErrorNamingTheVariable) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  for (const char* value : {"0", "0G", "-1", "abc", "8g", "8GB", "8 G", " 8", "1.5G", "G",
                            "16777216T",  // 2^64 bytes.
                            "18446744073709551615", "99999999999999999999"}) {
    EXPECT_EXIT(print_limit_with(value), ::testing::ExitedWithCode(3),
                std::string("^TTT_MAX_ALLOC_BYTES='") + value +
                    "' is not a positive byte count \\(e\\.g\\. 8589934592 or 8G\\)\n$")
        << value;
  }
}

TEST(AllocationLimit, SetOverridesAndZeroRestoresTheDefault) {
  set_allocation_limit(4 * kGiB);
  EXPECT_EQ(allocation_limit(), 4 * kGiB);
  set_allocation_limit(1);
  EXPECT_EQ(allocation_limit(), 1u);
  set_allocation_limit(0);
  EXPECT_NE(allocation_limit(), 1u);
  EXPECT_GT(allocation_limit(), 0u);
}

TEST(AllocationLimit, CheckAllocationNamesWhatAndBothSizes) {
  set_allocation_limit(4 * kGiB);
  EXPECT_NO_THROW(check_allocation(4 * kGiB, "at the limit"));
  try {
    check_allocation(8 * kGiB, "weights.h5: /calls/000001/inputs/x: shape [2147483648] of float32");
    ADD_FAILURE() << "8 GiB passed a 4 GiB limit";
  } catch (const std::invalid_argument& error) {
    EXPECT_EQ(
        std::string(error.what()),
        "weights.h5: /calls/000001/inputs/x: shape [2147483648] of float32 needs 8.0 GiB "
        "(8589934592 bytes), more than the allocation limit of 4.0 GiB (TTT_MAX_ALLOC_BYTES)");
  }
  try {
    check_allocation(4 * kGiB + 1, "x");
    ADD_FAILURE() << "one byte over the limit passed";
  } catch (const std::invalid_argument& error) {
    EXPECT_EQ(std::string(error.what()),
              "x needs 4.0 GiB (4294967297 bytes), more than the allocation limit of 4.0 GiB "
              "(TTT_MAX_ALLOC_BYTES)");
  }
  set_allocation_limit(0);
}

TEST(AllocationLimit, BytesOfSaturatesAndFormatBytesPicksTheUnit) {
  EXPECT_EQ(bytes_of(std::uint64_t{1} << 31, 4), std::uint64_t{1} << 33);
  EXPECT_EQ(bytes_of(std::uint64_t{1} << 62, 8), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(bytes_of(std::numeric_limits<std::uint64_t>::max(), 0), 0u);
  EXPECT_EQ(format_bytes(1023), "1023 bytes");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(3 * kGiB), "3.0 GiB");
  EXPECT_EQ(format_bytes(std::uint64_t{1} << 40), "1.0 TiB");
}

}  // namespace
}  // namespace ttt
