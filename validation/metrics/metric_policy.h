// A block kind's metric policy: how its device output may differ from the emulation of its device
// numerics (the block's device path at the call's ImplConfig) when both compute the same thing.
//
// The policy depends on what the kind does to its data, not on its formats (docs/metrics.md "The
// metric policy of a block kind"):
//   exact  data movement (embedding lookups, all_gather, broadcast): values are copied, never
//          computed, so a device and its emulation agree bit for bit; any difference is a wrong
//          index, a lost shard or a wrong copy.
//   ulp    elementwise (RoPE, a scale): each output element comes from its own inputs through a
//          few operations, so the two differ by at most a few roundings of the output format.
//   nmse   reductions (matmuls, attention, norms, reducing collectives): long sums whose order and
//          rounding differ between a device and its emulation, so only a statistical distance
//          holds; PCC and NMSE are reported. The band is the emulation's own error against the
//          float64 reference, times `nmse_factor`, and at least what rounding to the output
//          format allows (default_tolerances).
// Block kinds declare their policy beside the kind (blocks/<family>/kinds.cc, BlockKind::
// metric_policy); bug_or_precision.h applies it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ttt {

enum class MetricRule : std::uint8_t { exact, ulp, nmse };

// "exact", "ulp", "nmse".
std::string_view metric_rule_name(MetricRule rule);

struct MetricPolicy {
  MetricRule rule = MetricRule::nmse;
  // ulp: how many units in the last place of the emulation's output format a device output may
  // differ by.
  double max_ulp = 0.0;
  // nmse: nmse(device, emulation) may reach nmse_factor * nmse(emulation, float64 reference):
  // 4 lets the device's RMS distance from the emulation be twice the emulation's own RMS error,
  // which two implementations rounding independently reach (their errors add in quadrature).
  double nmse_factor = 4.0;
  // Why this rule fits the kind (documentation and reports).
  std::string reason;
};

// The three rules with their parameters.
MetricPolicy exact_policy(std::string reason);
MetricPolicy ulp_policy(double max_ulp, std::string reason);
MetricPolicy nmse_policy(std::string reason);

// "exact", "ulp <= 4", "nmse <= 4 x emulation's".
std::string describe(const MetricPolicy& policy);

}  // namespace ttt
