// How every report of TTTv2 prints a number (docs/report-format.md, "Numbers").
//
// A threshold, a tolerance, or any value a reader compares against one prints with
// format_number: the shortest text that reads back as the same double. A 0.9999999 threshold
// prints "0.9999999", never "1" (which a six-significant-digit %g makes of it, so that a report
// said "pcc 0.999997 < 1"). Measurements in tables may be printed shorter with
// format_significant, because nothing is decided by their last digits.
#pragma once

#include <string>

namespace ttt {

// The shortest decimal text that parses back to exactly `value` (std::to_chars), in fixed or
// scientific notation, whichever is shorter: 0.9999999, 1e-05, 0.01, 1.3e-06, 4096.
// Non-finite values print as "nan", "inf" and "-inf".
std::string format_number(double value);

// A threshold after arithmetic done for display (a fraction shown as a percentage, nanoseconds
// shown as milliseconds): 15 significant digits, which keep every digit a user can have typed
// and drop the binary noise of the arithmetic (0.07 * 100 is 7.000000000000001; this prints 7).
std::string format_scaled(double value);

// A measured `value` printed beside the `threshold` it is compared against: 4 significant digits,
// more when fewer would move it onto or across the threshold, so that the printed pair orders as
// the exact pair does ("pcc 0.99989 < 0.9999", never "pcc 0.9999 < 0.9999" or "0.999997 < 1").
// Print the threshold itself with format_number.
std::string format_beside(double value, double threshold);

// `value` with at most `digits` significant digits (printf's %.<digits>g): for measurements in
// tables, where a reader wants a readable magnitude. REQUIRES: 1 <= digits <= 17.
std::string format_significant(double value, int digits);

}  // namespace ttt
