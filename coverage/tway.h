// t-way combinatorial coverage with the definitions of NIST's Combinatorial Coverage Measurement
// tool (CCM; Kuhn, Dominguez Mendoza, Kacker, Lei, "Combinatorial coverage measurement concepts
// and applications", 2013):
//
//   - a t-way combination is a set of t parameters; its value tuples are every assignment of a
//     domain value to each of them (minus the tuples a constraint rules out);
//   - a test covers a tuple when it assigns those values to those parameters;
//   - simple t-way combination coverage: the share of t-way combinations whose every valid tuple
//     is covered;
//   - total variable-value configuration coverage: covered valid tuples over all valid tuples,
//     summed over every t-way combination.
//
// Example: parameters a in {0, 1}, b in {0, 1}, c in {0, 1}, tests (0,0,0) and (1,1,0), t = 2.
// Combinations ab, ac, bc have 4 tuples each (12). ab covers (0,0), (1,1); ac covers (0,0),
// (1,0); bc covers (0,0), (1,0): 6 of 12 tuples (total coverage 50%), no combination complete
// (simple coverage 0%).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace ttt {

// A rule removing impossible tuples: when parameter `if_parameter` takes value `if_value`,
// parameter `then_parameter` takes only the values in `allowed` (indices into the domains).
struct TwayConstraint {
  std::size_t if_parameter = 0;
  std::size_t if_value = 0;
  std::size_t then_parameter = 0;
  std::vector<std::size_t> allowed;
};

// One parameter-value pair of a tuple: (parameter index, value index).
using TwayAssignment = std::pair<std::size_t, std::size_t>;

// The coverage of one t-way combination of parameters.
struct TwayCombination {
  std::vector<std::size_t> parameters;  // Ascending parameter indices.
  std::int64_t tuples = 0;              // Valid tuples.
  std::int64_t covered = 0;             // Valid tuples some test covers.
};

struct TwayCoverage {
  int strength = 0;                        // t (after clamping to the number of parameters).
  std::int64_t combinations = 0;           // t-way combinations with at least one valid tuple.
  std::int64_t complete_combinations = 0;  // Those whose every valid tuple is covered.
  std::int64_t tuples = 0;                 // Valid tuples over every combination.
  std::int64_t covered_tuples = 0;
  // complete_combinations / combinations, and covered_tuples / tuples, as fractions in [0, 1]
  // (1 when there is nothing to cover).
  double simple_coverage = 1.0;
  double total_coverage = 1.0;
  std::vector<TwayCombination> per_combination;  // In lexicographic order of parameters.
  // Every valid tuple no test covers, combination by combination, values in index order.
  std::vector<std::vector<TwayAssignment>> missing;
};

// Measures t-way coverage of `tests` over parameters with `domain_sizes[i]` values each.
// tests[k][i] is the value index test k gives parameter i, or nullopt when the test has no value
// in the domain for it (that test then covers no tuple involving parameter i). `strength` is
// clamped to [1, number of parameters]; with no parameters the result is empty with coverage 1.
// Throws std::invalid_argument when a test has the wrong number of entries or a value index is
// outside its domain, or a constraint names a parameter or value that does not exist.
TwayCoverage compute_tway_coverage(
    const std::vector<std::size_t>& domain_sizes,
    const std::vector<std::vector<std::optional<std::size_t>>>& tests, int strength,
    const std::vector<TwayConstraint>& constraints = {});

}  // namespace ttt
