#include "validation/metrics/metric_policy.h"

#include <utility>

#include "validation/markup/number.h"

namespace ttt {

std::string_view metric_rule_name(MetricRule rule) {
  switch (rule) {
    case MetricRule::exact:
      return "exact";
    case MetricRule::ulp:
      return "ulp";
    case MetricRule::nmse:
      return "nmse";
  }
  return "nmse";
}

MetricPolicy exact_policy(std::string reason) {
  return {.rule = MetricRule::exact, .reason = std::move(reason)};
}

MetricPolicy ulp_policy(double max_ulp, std::string reason) {
  return {.rule = MetricRule::ulp, .max_ulp = max_ulp, .reason = std::move(reason)};
}

MetricPolicy nmse_policy(std::string reason) {
  return {.rule = MetricRule::nmse, .reason = std::move(reason)};
}

std::string describe(const MetricPolicy& policy) {
  switch (policy.rule) {
    case MetricRule::exact:
      return "exact";
    case MetricRule::ulp:
      return "ulp <= " + format_number(policy.max_ulp);
    case MetricRule::nmse:
      return "nmse <= " + format_number(policy.nmse_factor) + " x emulation's";
  }
  return "";
}

}  // namespace ttt
