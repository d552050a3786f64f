// The second pass behind compute_metrics(): the decade histogram and the quantiles of |a - e| in
// one pass over the data that only counts and gathers. The histogram is the number of errors below
// each edge; each quantile's two order statistics are found among the errors inside a bracket read
// off a strided sample, given how many errors lie below the bracket. docs/metrics.md ("Quantiles
// and histogram") explains the design; radix_select.cc is the fallback when a bracket misses.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "validation/metrics/internal/elements.h"
#include "validation/metrics/internal/passes.h"
#include "validation/metrics/internal/x86_kernels.h"

namespace ttt::metrics_internal {

namespace {

// Errors sampled at evenly spaced positions to place the brackets; a tensor of at most this many
// elements is sampled whole, and its brackets are exact.
constexpr std::int64_t kSampleSize = std::int64_t{1} << 16;
// A bracket reaches this many binomial standard deviations (plus one value) beyond the sample rank
// of its order statistics; wider brackets gather more candidates, narrower ones miss more often.
constexpr double kBracketSigmas = 3.5;
constexpr std::uint64_t kLargestFiniteBits = 0x7fefffffffffffffull;

// Thresholds one pass counts against, in registers: the 9 edges of the default 10 bins plus one
// per quantile. More thresholds (more bins) take more passes.
constexpr std::size_t kPassThresholds = 12;

// The errors whose bit patterns lie in [low, high]. For non-negative doubles (every |a - e|, NaN
// included) the bit patterns order like the values, so the kernels compare integers.
struct Bracket {
  std::uint64_t low = 0;
  std::uint64_t high = kLargestFiniteBits;
};

// The errors gathered inside one bracket. The storage is left uninitialised (a zero-filled
// vector would write, and fault in, megabytes no error ever reaches): only what is gathered is
// written.
class Candidates {
 public:
  // Room for `count` more values at end().
  double* room_for(std::int64_t count) {
    const std::size_t needed = size_ + static_cast<std::size_t>(count);
    if (needed > capacity_) {
      const std::size_t capacity = std::max(needed, 2 * capacity_);
      std::unique_ptr<double[]> grown(new double[capacity]);
      std::copy_n(values_.get(), size_, grown.get());
      values_ = std::move(grown);
      capacity_ = capacity;
    }
    return end();
  }
  double* end() { return values_.get() + size_; }
  // Marks the values up to `end` as gathered.
  void gathered_to(const double* end) { size_ = static_cast<std::size_t>(end - values_.get()); }
  void push_back(double value) {
    *room_for(1) = value;
    ++size_;
  }
  double* begin() { return values_.get(); }
  std::int64_t size() const { return static_cast<std::int64_t>(size_); }

 private:
  std::unique_ptr<double[]> values_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

// What one pass counts and gathers: below[k] errors under thresholds[k] and, in inside[q], the
// errors in brackets[q]. Non-finite errors lie above every finite threshold and bracket.
struct Tally {
  std::array<std::int64_t, kPassThresholds> below{};
  std::array<Candidates, kQuantiles> inside;
};

// A pass's thresholds (unused ones 0: nothing is below) and brackets (unused ones empty).
struct PassPlan {
  std::array<std::uint64_t, kPassThresholds> thresholds{};
  std::array<Bracket, kQuantiles> brackets{};

  PassPlan() {
    // low = high = 2^64 - 1: x - low wraps to x + 1 > 0 = high - low for every pattern x.
    for (Bracket& bracket : brackets) bracket = {~std::uint64_t{0}, ~std::uint64_t{0}};
  }
};

// The portable kernel over positions [begin, end); the vector kernels run it on their tails.
void portable_tally(const PassInput& input, std::int64_t begin, std::int64_t end,
                    const PassPlan& plan, Tally& tally) {
  for_each_error_bits(input, begin, end, [&](std::uint64_t bits) {
    for (std::size_t k = 0; k < kPassThresholds; ++k) {
      tally.below[k] += bits < plan.thresholds[k] ? 1 : 0;
    }
    for (std::size_t q = 0; q < kQuantiles; ++q) {
      const Bracket& bracket = plan.brackets[q];
      if (bits - bracket.low <= bracket.high - bracket.low) {
        tally.inside[q].push_back(std::bit_cast<double>(bits));
      }
    }
  });
}

#if TTT_METRICS_X86_KERNELS

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_pd(), which its own -Wuninitialized
// flags once inlined (as in passes.cc).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// Values per block of a vector kernel: before each block every bracket gets room for the whole
// block, so that the loop over the block calls nothing (a call would spill every vector register)
// and appends without checks.
constexpr std::int64_t kBlock = 2048;

// The vector kernels keep every count in a register (the loops over thresholds and brackets are
// unrolled), so that one pass over the data (two loads per vector) does all the work; an error
// inside a bracket is rare and leaves the fast path.

__attribute__((target("avx512f,avx512dq"))) void avx512_tally(const PassInput& input,
                                                              const PassPlan& plan, Tally& tally) {
  const auto* actual = static_cast<const float*>(input.actual);
  const auto* expected = static_cast<const float*>(input.expected);
  const __m512i one = _mm512_set1_epi64(1);
  __m512i thresholds[kPassThresholds];
  __m512i below[kPassThresholds];
  for (std::size_t k = 0; k < kPassThresholds; ++k) {
    thresholds[k] = _mm512_set1_epi64(static_cast<long long>(plan.thresholds[k]));
    below[k] = _mm512_setzero_si512();
  }
  __m512i lows[kQuantiles];
  __m512i widths[kQuantiles];
  for (std::size_t q = 0; q < kQuantiles; ++q) {
    const Bracket& bracket = plan.brackets[q];
    lows[q] = _mm512_set1_epi64(static_cast<long long>(bracket.low));
    widths[q] = _mm512_set1_epi64(static_cast<long long>(bracket.high - bracket.low));
  }
  const std::int64_t vector_count = input.numel - input.numel % 8;
  for (std::int64_t begin = 0; begin < vector_count; begin += kBlock) {
    const std::int64_t end = std::min(begin + kBlock, vector_count);
    double* next[kQuantiles];
    for (std::size_t q = 0; q < kQuantiles; ++q) next[q] = tally.inside[q].room_for(end - begin);
    for (std::int64_t i = begin; i < end; i += 8) {
      const __m512d a = _mm512_cvtps_pd(_mm256_loadu_ps(actual + i));
      const __m512d e = _mm512_cvtps_pd(_mm256_loadu_ps(expected + i));
      const __m512i errors = _mm512_castpd_si512(_mm512_abs_pd(_mm512_sub_pd(a, e)));
#pragma GCC unroll 16
      for (std::size_t k = 0; k < kPassThresholds; ++k) {
        below[k] = _mm512_mask_add_epi64(below[k], _mm512_cmplt_epu64_mask(errors, thresholds[k]),
                                         below[k], one);
      }
      __mmask8 inside[kQuantiles];
#pragma GCC unroll 16
      for (std::size_t q = 0; q < kQuantiles; ++q) {
        inside[q] = _mm512_cmple_epu64_mask(_mm512_sub_epi64(errors, lows[q]), widths[q]);
      }
      if ((inside[0] | inside[1] | inside[2]) != 0) [[unlikely]] {
#pragma GCC unroll 4
        for (std::size_t q = 0; q < kQuantiles; ++q) {
          _mm512_mask_compressstoreu_epi64(next[q], inside[q], errors);
          next[q] += std::popcount(static_cast<unsigned>(inside[q]));
        }
      }
    }
    for (std::size_t q = 0; q < kQuantiles; ++q) tally.inside[q].gathered_to(next[q]);
  }
  for (std::size_t k = 0; k < kPassThresholds; ++k) {
    tally.below[k] += _mm512_reduce_add_epi64(below[k]);
  }
  portable_tally(input, vector_count, input.numel, plan, tally);
}

// AVX2 compares signed 64-bit integers only: every error pattern is below 2^63 (no sign bit), and
// so is every threshold and bracket end but the empty bracket's, which becomes low 1 > high 0.
__attribute__((target("avx2,fma"))) void avx2_tally(const PassInput& input, const PassPlan& plan,
                                                    Tally& tally) {
  const auto* actual = static_cast<const float*>(input.actual);
  const auto* expected = static_cast<const float*>(input.expected);
  const __m256d sign = _mm256_set1_pd(-0.0);
  __m256i thresholds[kPassThresholds];
  __m256i below[kPassThresholds];
  for (std::size_t k = 0; k < kPassThresholds; ++k) {
    thresholds[k] = _mm256_set1_epi64x(static_cast<long long>(plan.thresholds[k]));
    below[k] = _mm256_setzero_si256();
  }
  __m256i lows[kQuantiles];
  __m256i highs[kQuantiles];
  for (std::size_t q = 0; q < kQuantiles; ++q) {
    const Bracket& bracket = plan.brackets[q];
    const bool empty = bracket.low > kLargestFiniteBits;
    lows[q] = _mm256_set1_epi64x(empty ? 1 : static_cast<long long>(bracket.low));
    highs[q] = _mm256_set1_epi64x(empty ? 0 : static_cast<long long>(bracket.high));
  }
  const std::int64_t vector_count = input.numel - input.numel % 4;
  alignas(32) std::array<std::uint64_t, 4> lanes{};
  for (std::int64_t begin = 0; begin < vector_count; begin += kBlock) {
    const std::int64_t end = std::min(begin + kBlock, vector_count);
    double* next[kQuantiles];
    for (std::size_t q = 0; q < kQuantiles; ++q) next[q] = tally.inside[q].room_for(end - begin);
    for (std::int64_t i = begin; i < end; i += 4) {
      const __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(actual + i));
      const __m256d e = _mm256_cvtps_pd(_mm_loadu_ps(expected + i));
      const __m256i errors = _mm256_castpd_si256(_mm256_andnot_pd(sign, _mm256_sub_pd(a, e)));
#pragma GCC unroll 16
      for (std::size_t k = 0; k < kPassThresholds; ++k) {
        // The compare gives -1 where the error is below: subtracting it counts.
        below[k] = _mm256_sub_epi64(below[k], _mm256_cmpgt_epi64(thresholds[k], errors));
      }
      unsigned inside[kQuantiles];
#pragma GCC unroll 16
      for (std::size_t q = 0; q < kQuantiles; ++q) {
        const __m256i outside = _mm256_or_si256(_mm256_cmpgt_epi64(lows[q], errors),
                                                _mm256_cmpgt_epi64(errors, highs[q]));
        inside[q] = ~static_cast<unsigned>(_mm256_movemask_pd(_mm256_castsi256_pd(outside))) & 0xfu;
      }
      if ((inside[0] | inside[1] | inside[2]) != 0) [[unlikely]] {
        _mm256_store_si256(reinterpret_cast<__m256i*>(lanes.data()), errors);
#pragma GCC unroll 4
        for (std::size_t q = 0; q < kQuantiles; ++q) {
          for (unsigned hits = inside[q]; hits != 0; hits &= hits - 1) {
            *next[q]++ = std::bit_cast<double>(lanes[std::countr_zero(hits)]);
          }
        }
      }
    }
    for (std::size_t q = 0; q < kQuantiles; ++q) tally.inside[q].gathered_to(next[q]);
  }
  for (std::size_t k = 0; k < kPassThresholds; ++k) {
    alignas(32) std::array<std::int64_t, 4> counts{};
    _mm256_store_si256(reinterpret_cast<__m256i*>(counts.data()), below[k]);
    tally.below[k] += counts[0] + counts[1] + counts[2] + counts[3];
  }
  portable_tally(input, vector_count, input.numel, plan, tally);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // TTT_METRICS_X86_KERNELS

// One pass over the data with the chosen kernel.
Tally tally_pass(const PassInput& input, Kernel kernel, const PassPlan& plan) {
  Tally tally;
#if TTT_METRICS_X86_KERNELS
  if (kernel == Kernel::avx512) {
    avx512_tally(input, plan, tally);
    return tally;
  }
  if (kernel == Kernel::avx2) {
    avx2_tally(input, plan, tally);
    return tally;
  }
#endif
  portable_tally(input, 0, input.numel, plan, tally);
  return tally;
}

// The finite errors at evenly spaced positions (every position when there are at most
// kSampleSize), as bit patterns.
std::vector<std::uint64_t> sample_errors(const PassInput& input) {
  const std::int64_t size = std::min(kSampleSize, input.numel);
  std::vector<std::uint64_t> sample;
  sample.reserve(static_cast<std::size_t>(size));
  for (std::int64_t j = 0; j < size; ++j) {
    const std::int64_t position = j * input.numel / size;  // < 2^16 * 2^47: no overflow.
    for_each_error_bits(input, position, position + 1, [&](std::uint64_t bits) {
      if (bits < kNonFiniteBits) sample.push_back(bits);
    });
  }
  return sample;
}

// One bracket per quantile around its two order statistics among the finite_pairs errors. With
// the whole tensor sampled, the brackets are the order statistics themselves.
std::vector<Bracket> quantile_brackets(const PassInput& input, std::int64_t finite_pairs,
                                       const QuantileRanks& ranks) {
  std::vector<std::uint64_t> sample = sample_errors(input);
  const auto n = static_cast<std::int64_t>(sample.size());
  const bool whole = input.numel <= kSampleSize;
  const auto pairs = static_cast<double>(finite_pairs);
  // Sample ranks per quantile: [lo, hi], -1 or n meaning "unbounded".
  std::array<std::int64_t, kQuantiles> lo{};
  std::array<std::int64_t, kQuantiles> hi{};
  for (std::size_t q = 0; q < kQuantiles; ++q) {
    if (whole) {
      lo[q] = ranks.low[q];
      hi[q] = ranks.high[q];
      continue;
    }
    const auto reach = [&](std::int64_t rank) {
      const double p = static_cast<double>(rank) / pairs;
      return std::pair{p * static_cast<double>(n),
                       kBracketSigmas * std::sqrt(static_cast<double>(n) * p * (1.0 - p)) + 1.0};
    };
    const auto [low_position, low_reach] = reach(ranks.low[q]);
    const auto [high_position, high_reach] = reach(ranks.high[q]);
    lo[q] =
        std::max<std::int64_t>(-1, static_cast<std::int64_t>(std::floor(low_position - low_reach)));
    hi[q] =
        std::min<std::int64_t>(n, static_cast<std::int64_t>(std::ceil(high_position + high_reach)));
  }
  // The sample's order statistics at those ranks, smallest rank first, each search confined to
  // the values above the previous one (which it reorders: each value is read when found).
  std::vector<std::int64_t> wanted;
  for (std::size_t q = 0; q < kQuantiles; ++q) {
    for (std::int64_t rank : {lo[q], hi[q]}) {
      if (rank >= 0 && rank < n) wanted.push_back(rank);
    }
  }
  std::sort(wanted.begin(), wanted.end());
  std::vector<std::uint64_t> found;
  auto from = sample.begin();
  for (std::int64_t rank : wanted) {
    const auto nth = sample.begin() + rank;
    std::nth_element(from, nth, sample.end());
    found.push_back(*nth);
    from = nth;
  }
  const auto at_rank = [&](std::int64_t rank) {
    return found[static_cast<std::size_t>(std::lower_bound(wanted.begin(), wanted.end(), rank) -
                                          wanted.begin())];
  };
  std::vector<Bracket> brackets(kQuantiles);
  for (std::size_t q = 0; q < kQuantiles; ++q) {
    if (lo[q] >= 0 && lo[q] < n) brackets[q].low = at_rank(lo[q]);
    if (hi[q] >= 0 && hi[q] < n) brackets[q].high = at_rank(hi[q]);
  }
  return brackets;
}

// The quantiles, given how many errors lie below each bracket and the errors inside it; nullopt
// when a bracket does not hold both of its order statistics.
std::optional<ErrorQuantiles> select_quantiles(const QuantileRanks& ranks,
                                               const std::array<std::int64_t, kQuantiles>& below,
                                               std::array<Candidates, kQuantiles>& inside) {
  std::array<double, kQuantiles> low{};
  std::array<double, kQuantiles> high{};
  for (std::size_t q = 0; q < kQuantiles; ++q) {
    Candidates& values = inside[q];
    if (below[q] > ranks.low[q] || ranks.high[q] >= below[q] + values.size()) return std::nullopt;
    double* const nth = values.begin() + (ranks.low[q] - below[q]);
    std::nth_element(values.begin(), nth, values.end());
    low[q] = *nth;
    // Every value after nth is at least *nth: the next order statistic is their minimum.
    high[q] = ranks.high[q] == ranks.low[q] ? low[q] : *std::min_element(nth + 1, values.end());
  }
  return ranks.interpolate(low, high);
}

// Bin j holds edges[j] <= |a - e| < edges[j + 1] (the last bin also |a - e| == M): the errors
// at or above edges[j] minus those at or above edges[j + 1], where `below` counts the errors under
// edges[1], ..., edges[bins - 1] (the edges ascend, so the counts do).
ErrorHistogram decade_histogram(std::vector<double> edges, const std::vector<std::int64_t>& below,
                                std::int64_t finite_pairs) {
  ErrorHistogram histogram;
  const std::size_t bins = edges.size() - 1;
  histogram.counts.assign(bins, 0);
  const auto at_or_above = [&](std::size_t edge) {
    return edge == 0 ? finite_pairs : finite_pairs - below[edge - 1];
  };
  for (std::size_t j = 0; j + 1 < bins; ++j)
    histogram.counts[j] = at_or_above(j) - at_or_above(j + 1);
  histogram.counts[bins - 1] = at_or_above(bins - 1);
  histogram.edges = std::move(edges);
  return histogram;
}

}  // namespace

ErrorDistribution error_distribution(const PassInput& input, std::int64_t finite_pairs,
                                     double max_abs_error, bool quantiles, int histogram_bins,
                                     Kernel kernel) {
  const Kernel chosen = choose_kernel(kernel, input, "error_distribution");
  // The first pass counts below the brackets' lows and gathers inside the brackets; the edges
  // follow, kPassThresholds per pass.
  const bool select = quantiles && finite_pairs > 0;
  QuantileRanks ranks;
  std::vector<std::uint64_t> thresholds;
  PassPlan first;
  if (select) {
    ranks = quantile_ranks(finite_pairs);
    const std::vector<Bracket> brackets = quantile_brackets(input, finite_pairs, ranks);
    for (std::size_t q = 0; q < kQuantiles; ++q) {
      first.brackets[q] = brackets[q];
      thresholds.push_back(brackets[q].low);
    }
  }
  const std::size_t first_edge = thresholds.size();
  std::vector<double> edges;
  if (histogram_bins > 0) {
    edges = decade_edges(max_abs_error, histogram_bins);
    for (std::size_t k = 1; k + 1 < edges.size(); ++k) {
      thresholds.push_back(std::bit_cast<std::uint64_t>(edges[k]));
    }
  }
  std::vector<std::int64_t> below(thresholds.size(), 0);
  std::array<Candidates, kQuantiles> inside;
  for (std::size_t start = 0; start == 0 || start < thresholds.size(); start += kPassThresholds) {
    PassPlan plan = start == 0 ? first : PassPlan();
    const std::size_t count = std::min(kPassThresholds, thresholds.size() - start);
    std::copy_n(thresholds.begin() + static_cast<std::ptrdiff_t>(start), count,
                plan.thresholds.begin());
    Tally tally = tally_pass(input, chosen, plan);
    std::copy_n(tally.below.begin(), count, below.begin() + static_cast<std::ptrdiff_t>(start));
    if (start == 0) inside = std::move(tally.inside);
  }

  ErrorDistribution result;
  if (histogram_bins > 0) {
    result.histogram =
        decade_histogram(std::move(edges),
                         std::vector<std::int64_t>(
                             below.begin() + static_cast<std::ptrdiff_t>(first_edge), below.end()),
                         finite_pairs);
  }
  if (quantiles) {
    std::optional<ErrorQuantiles> values = ErrorQuantiles{};
    if (select) {
      values = select_quantiles(ranks, {below[0], below[1], below[2]}, inside);
      if (!values) {
        values = radix_error_distribution(input, finite_pairs, max_abs_error, true, 0).quantiles;
      }
    }
    result.quantiles = values;
  }
  return result;
}

}  // namespace ttt::metrics_internal
