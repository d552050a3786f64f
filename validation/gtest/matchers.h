// GoogleMock matchers for tensors, with mismatch text built from the metrics.
//
//   EXPECT_THAT(out, ttt::PccAtLeast(expected, 0.999));
//   EXPECT_THAT(out, ttt::AllClose(expected));               // torch.testing defaults per dtype.
//   EXPECT_THAT(out, ttt::AllClose(expected, 1e-3, 1e-5));   // rtol, atol.
//   EXPECT_THAT(out, ttt::MetricsWithin(expected));  // default_tolerances of the dtypes.
//   EXPECT_THAT(out, ttt::MetricsWithin(expected, Tolerances{.pcc = 0.99, .max_abs_error = 0.05}));
//   EXPECT_THAT(outs, ::testing::Pointwise(ttt::PccAtLeast(0.99), expected_outs));
//
// A failure says what failed, by how much and against which threshold, e.g.
//   Value of: out
//   Expected: has PCC >= 0.999 with Tensor(shape=[4, 64], dtype=float32, ...)
//     Actual: Tensor(shape=[4, 64], dtype=bfloat16, ...), pcc 0.9812 < 0.999 (max_abs_error 0.31
//             at [2, 17])
// A shape mismatch is a mismatch ("shapes differ: actual [2, 3], expected [3, 2]"), not a crash.
#pragma once

#include <gmock/gmock.h>

#include <optional>
#include <ostream>
#include <tuple>

#include "validation/metrics/metrics.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// Prints a Tensor in GoogleTest messages as its summary (shape, dtype, min, max, mean).
void PrintTo(const Tensor& tensor, std::ostream* os);

// Matches a tensor whose PCC against `expected` is at least `min_pcc`.
::testing::Matcher<const Tensor&> PccAtLeast(Tensor expected, double min_pcc);

// Matches a tensor close to `expected` elementwise: |actual - expected| <= atol + rtol * |expected|
// everywhere, non-finite values matching exactly. Unset rtol/atol: default_allclose_tolerance of
// the expected dtype (torch.testing.assert_close's table). The mismatch text gives the number and
// share of mismatched elements, the worst one, and the greatest absolute and relative errors.
::testing::Matcher<const Tensor&> AllClose(Tensor expected, std::optional<double> rtol = {},
                                           std::optional<double> atol = {});

// Matches a tensor whose metrics against `expected` pass every threshold set in `tolerances`
// (Default: default_tolerances of the two dtypes, the policy of docs/metrics.md;
// Tolerances::tt_metal_default() is the earlier default). The mismatch text lists every failed
// threshold and the full metrics table.
::testing::Matcher<const Tensor&> MetricsWithin(Tensor expected,
                                                std::optional<Tolerances> tolerances = {});

namespace detail {

// Shared by the matchers: computes the metrics, writes the explanation to `os` (may be null) and
// returns whether they pass.
bool match_pcc(const Tensor& actual, const Tensor& expected, double min_pcc, std::ostream* os);

// PccAtLeast(min_pcc) for (actual, expected) tuples, as ::testing::Pointwise passes them.
class PccPairMatcher {
 public:
  explicit PccPairMatcher(double min_pcc) : min_pcc_(min_pcc) {}

  template <typename Pair>
  bool MatchAndExplain(const Pair& pair, ::testing::MatchResultListener* listener) const {
    return match_pcc(std::get<0>(pair), std::get<1>(pair), min_pcc_, listener->stream());
  }
  void DescribeTo(std::ostream* os) const;
  void DescribeNegationTo(std::ostream* os) const;

 private:
  double min_pcc_;
};

}  // namespace detail

// Matches an (actual, expected) pair of tensors whose PCC is at least `min_pcc`; for
// ::testing::Pointwise over lists of outputs, or EXPECT_THAT(std::tie(out, ref), PccAtLeast(x)).
inline ::testing::PolymorphicMatcher<detail::PccPairMatcher> PccAtLeast(double min_pcc) {
  return ::testing::MakePolymorphicMatcher(detail::PccPairMatcher(min_pcc));
}

}  // namespace ttt
