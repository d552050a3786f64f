// Numbers in reports: thresholds round-trip, measurements may be short.
#include "validation/markup/number.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <limits>
#include <string>

namespace ttt {
namespace {

TEST(FormatNumber, PrintsTheShortestTextThatRoundTrips) {
  // The bug of issue 12: %.6g printed this threshold as "1".
  EXPECT_EQ(format_number(0.9999999), "0.9999999");
  EXPECT_EQ(format_number(0.99), "0.99");
  EXPECT_EQ(format_number(1e-2), "0.01");
  EXPECT_EQ(format_number(1e-5), "1e-05");
  EXPECT_EQ(format_number(1.3e-6), "1.3e-06");
  EXPECT_EQ(format_number(4096.0), "4096");
  EXPECT_EQ(format_number(0.0), "0");
  EXPECT_EQ(format_number(-0.5), "-0.5");
  EXPECT_EQ(format_number(0x1p-5), "0.03125");
  // 0.1 + 0.2 is not 0.3; the text must say so, or reading it back would change the value.
  EXPECT_EQ(format_number(0.1 + 0.2), "0.30000000000000004");
}

TEST(FormatNumber, ReadsBackAsTheSameDouble) {
  for (const double value : {0.9999999, 1.0 / 3.0, 2.2250738585072014e-308, 1.7976931348623157e308,
                             -123456.789, 5e-324}) {
    const std::string text = format_number(value);
    EXPECT_EQ(std::strtod(text.c_str(), nullptr), value) << text;
  }
}

TEST(FormatNumber, NamesNonFiniteValues) {
  EXPECT_EQ(format_number(std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(format_number(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(format_number(-std::numeric_limits<double>::infinity()), "-inf");
}

TEST(FormatScaled, DropsTheNoiseOfArithmeticDoneForDisplay) {
  ASSERT_NE(0.07 * 100.0, 7.0);  // The noise this function exists for.
  EXPECT_EQ(format_scaled(0.07 * 100.0), "7");
  EXPECT_EQ(format_scaled(0.1 * 3.0), "0.3");
  EXPECT_EQ(format_scaled(99.99999 * 1.0), "99.99999");
}

TEST(FormatBeside, KeepsTheValueOnItsSideOfTheThreshold) {
  // Four digits when they suffice.
  EXPECT_EQ(format_beside(0.98123456, 0.99), "0.9812");
  // 0.99999 rounds to 1 at 4 digits, across a 0.9999999 threshold: more digits.
  EXPECT_EQ(format_beside(0.99999, 0.9999999), "0.99999");
  EXPECT_EQ(format_beside(0.99989, 0.9999), "0.99989");
  EXPECT_EQ(format_beside(0.010000001, 0.01), "0.010000001");
  // A value equal to its threshold prints equal to it.
  EXPECT_EQ(format_beside(0.9999999, 0.9999999), "0.9999999");
}

TEST(FormatSignificant, RoundsMeasurementsForTables) {
  EXPECT_EQ(format_significant(0.123456789, 4), "0.1235");
  EXPECT_EQ(format_significant(1234567.0, 3), "1.23e+06");
  EXPECT_THROW(format_significant(1.0, 0), std::invalid_argument);
  EXPECT_THROW(format_significant(1.0, 18), std::invalid_argument);
}

}  // namespace
}  // namespace ttt
