#include "validation/gtest/matchers.h"

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>

#include "validation/markup/number.h"

namespace ttt {
namespace {

std::string index_text(const Metrics& metrics, std::int64_t flat) {
  return flat >= 0 ? " at " + shape_to_string(unflatten_index(metrics.shape, flat)) : "";
}

MetricsOptions without_extras(std::optional<double> rtol = {}, std::optional<double> atol = {}) {
  MetricsOptions options;
  options.rtol = rtol;
  options.atol = atol;
  options.quantiles = false;
  options.histogram = false;
  return options;
}

// Computes the metrics; on a contract violation (shapes, undefined tensors) explains it instead.
std::optional<Metrics> metrics_or_explain(const Tensor& actual, const Tensor& expected,
                                          const MetricsOptions& options, std::ostream* os) {
  try {
    return compute_metrics(actual, expected, options);
  } catch (const std::invalid_argument& error) {
    if (os != nullptr) *os << error.what();
    return std::nullopt;
  }
}

class PccMatcher final : public ::testing::MatcherInterface<const Tensor&> {
 public:
  PccMatcher(Tensor expected, double min_pcc) : expected_(std::move(expected)), min_pcc_(min_pcc) {}

  bool MatchAndExplain(const Tensor& actual,
                       ::testing::MatchResultListener* listener) const override {
    return detail::match_pcc(actual, expected_, min_pcc_, listener->stream());
  }
  void DescribeTo(std::ostream* os) const override {
    *os << "has PCC >= " << format_number(min_pcc_) << " with ";
    PrintTo(expected_, os);
  }
  void DescribeNegationTo(std::ostream* os) const override {
    *os << "has PCC < " << format_number(min_pcc_) << " with ";
    PrintTo(expected_, os);
  }

 private:
  Tensor expected_;
  double min_pcc_;
};

class AllCloseMatcher final : public ::testing::MatcherInterface<const Tensor&> {
 public:
  AllCloseMatcher(Tensor expected, double rtol, double atol)
      : expected_(std::move(expected)), rtol_(rtol), atol_(atol) {}

  bool MatchAndExplain(const Tensor& actual,
                       ::testing::MatchResultListener* listener) const override {
    std::ostream* os = listener->stream();
    const std::optional<Metrics> metrics =
        metrics_or_explain(actual, expected_, without_extras(rtol_, atol_), os);
    if (!metrics.has_value()) return false;
    Tolerances tolerances;
    tolerances.require_allclose = true;
    const Verdict verdict = evaluate(*metrics, tolerances);
    if (os != nullptr) {
      if (verdict.passed) {
        *os << "all " << metrics->numel << " elements within " << thresholds();
      } else {
        *os << verdict.text() << " with " << thresholds() << "; greatest absolute difference "
            << format_significant(metrics->max_abs_error, 6)
            << index_text(*metrics, metrics->max_abs_error_index)
            << ", greatest relative difference " << format_significant(metrics->max_rel_error, 6);
      }
    }
    return verdict.passed;
  }
  void DescribeTo(std::ostream* os) const override {
    *os << "is close to ";
    PrintTo(expected_, os);
    *os << " (" << thresholds() << ")";
  }
  void DescribeNegationTo(std::ostream* os) const override {
    *os << "is not close to ";
    PrintTo(expected_, os);
    *os << " (" << thresholds() << ")";
  }

 private:
  std::string thresholds() const {
    return "rtol " + format_number(rtol_) + ", atol " + format_number(atol_);
  }

  Tensor expected_;
  double rtol_;
  double atol_;
};

class MetricsWithinMatcher final : public ::testing::MatcherInterface<const Tensor&> {
 public:
  MetricsWithinMatcher(Tensor expected, std::optional<Tolerances> tolerances)
      : expected_(std::move(expected)), tolerances_(std::move(tolerances)) {}

  bool MatchAndExplain(const Tensor& actual,
                       ::testing::MatchResultListener* listener) const override {
    std::ostream* os = listener->stream();
    MetricsOptions options;
    options.histogram = false;
    const std::optional<Metrics> metrics = metrics_or_explain(actual, expected_, options, os);
    if (!metrics.has_value()) return false;
    const Verdict verdict = evaluate(
        *metrics, tolerances_.value_or(default_tolerances(actual.dtype(), expected_.dtype())));
    if (os != nullptr) {
      *os << (verdict.passed ? "passes every threshold" : "fails: " + verdict.text()) << "\n"
          << format_metrics(*metrics);
    }
    return verdict.passed;
  }
  void DescribeTo(std::ostream* os) const override {
    *os << "has metrics within " << describe_tolerances() << " against ";
    PrintTo(expected_, os);
  }
  void DescribeNegationTo(std::ostream* os) const override {
    *os << "has metrics outside " << describe_tolerances() << " against ";
    PrintTo(expected_, os);
  }

 private:
  std::string describe_tolerances() const {
    return tolerances_.has_value() ? to_json(*tolerances_).dump()
                                   : "the default tolerances of its dtype (default_tolerances)";
  }

  Tensor expected_;
  std::optional<Tolerances> tolerances_;  // Unset: default_tolerances of the two dtypes.
};

}  // namespace

void PrintTo(const Tensor& tensor, std::ostream* os) {
  *os << (tensor.defined() ? tensor.summary() : std::string("Tensor(undefined)"));
}

::testing::Matcher<const Tensor&> PccAtLeast(Tensor expected, double min_pcc) {
  return ::testing::MakeMatcher(new PccMatcher(std::move(expected), min_pcc));
}

::testing::Matcher<const Tensor&> AllClose(Tensor expected, std::optional<double> rtol,
                                           std::optional<double> atol) {
  const AllcloseTolerance defaults =
      default_allclose_tolerance(expected.defined() ? expected.dtype() : DType::float32);
  return ::testing::MakeMatcher(new AllCloseMatcher(
      std::move(expected), rtol.value_or(defaults.rtol), atol.value_or(defaults.atol)));
}

::testing::Matcher<const Tensor&> MetricsWithin(Tensor expected,
                                                std::optional<Tolerances> tolerances) {
  return ::testing::MakeMatcher(
      new MetricsWithinMatcher(std::move(expected), std::move(tolerances)));
}

namespace detail {

bool match_pcc(const Tensor& actual, const Tensor& expected, double min_pcc, std::ostream* os) {
  const std::optional<Metrics> metrics = metrics_or_explain(actual, expected, without_extras(), os);
  if (!metrics.has_value()) return false;
  Tolerances tolerances;
  tolerances.pcc = min_pcc;
  const Verdict verdict = evaluate(*metrics, tolerances);
  if (os != nullptr) {
    if (verdict.passed) {
      *os << "pcc " << format_beside(metrics->pcc, min_pcc);
    } else {
      *os << verdict.text() << " (max_abs_error " << format_significant(metrics->max_abs_error, 6)
          << index_text(*metrics, metrics->max_abs_error_index) << ")";
    }
  }
  return verdict.passed;
}

void PccPairMatcher::DescribeTo(std::ostream* os) const {
  *os << "are two tensors with PCC >= " << format_number(min_pcc_);
}

void PccPairMatcher::DescribeNegationTo(std::ostream* os) const {
  *os << "are two tensors with PCC < " << format_number(min_pcc_);
}

}  // namespace detail
}  // namespace ttt
