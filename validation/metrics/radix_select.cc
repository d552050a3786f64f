// The exact second pass by radix select (error_distribution's fallback, see passes.h): a pass
// that builds a 16-bit radix histogram of |a - e|, which also gives the decade histogram, then
// passes that gather the few candidate buckets of each order statistic.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <vector>

#include "validation/metrics/internal/elements.h"
#include "validation/metrics/internal/passes.h"

namespace ttt::metrics_internal {

namespace {

// Radix digits: 16 bits of the error's bit pattern per level.
constexpr int kDigitBits = 16;
constexpr std::uint64_t kDigits = std::uint64_t{1} << kDigitBits;
constexpr std::uint64_t kNonFiniteBucket = kNonFiniteBits >> (64 - kDigitBits);

// Exact order statistics of |a - e| over the finite pairs without materialising all errors: a
// radix select on the bit patterns, 16 bits per level, that gathers the candidates of a bucket
// into memory once it holds at most kGatherLimit values. The first level comes from the histogram
// of the top 16 bits that the first pass builds anyway.
class OrderStatistics {
 public:
  // `ranks` are 0-based ranks among the finite pairs; `top` the first-level histogram.
  OrderStatistics(const std::vector<std::int64_t>& ranks, const std::vector<std::int64_t>& top) {
    for (std::int64_t rank : ranks) {
      selections_.push_back(Selection{rank});
      advance(selections_.back(), top);
    }
  }

  // True while another pass over the data is needed.
  bool pending() const {
    return std::any_of(selections_.begin(), selections_.end(),
                       [](const Selection& s) { return !s.done; });
  }

  // Prepares the probes for the next pass: one per distinct (prefix, known bits, mode).
  void begin_pass() {
    probes_.clear();
    route_.clear();
    for (Selection& selection : selections_) {
      if (selection.done) continue;
      auto same = std::find_if(probes_.begin(), probes_.end(), [&](const Probe& probe) {
        return probe.prefix == selection.prefix && probe.known_bits == selection.known_bits &&
               probe.gathering == selection.gathering;
      });
      if (same == probes_.end()) {
        Probe probe;
        probe.prefix = selection.prefix;
        probe.known_bits = selection.known_bits;
        probe.gathering = selection.gathering;
        if (probe.gathering) {
          probe.gathered.reserve(static_cast<std::size_t>(selection.bucket_count));
        } else {
          probe.histogram.assign(kDigits, 0);
        }
        probes_.push_back(std::move(probe));
        same = probes_.end() - 1;
      }
      selection.probe = static_cast<std::size_t>(same - probes_.begin());
    }
    // Usually every probe is one first-level bucket: then a table routes each value in one step.
    const bool first_level_only = std::all_of(
        probes_.begin(), probes_.end(), [](const Probe& p) { return p.known_bits == kDigitBits; });
    if (first_level_only) {
      route_.assign(kDigits, -1);
      for (std::size_t i = 0; i < probes_.size(); ++i) {
        route_[probes_[i].prefix] = static_cast<std::int8_t>(i);
      }
    }
  }

  // One finite error's bit pattern.
  void observe(std::uint64_t bits) {
    if (!route_.empty()) {
      const std::int8_t probe = route_[bits >> (64 - kDigitBits)];
      if (probe >= 0) add(probes_[static_cast<std::size_t>(probe)], bits);
      return;
    }
    for (Probe& probe : probes_) {
      if ((bits >> (64 - probe.known_bits)) == probe.prefix) add(probe, bits);
    }
  }

  void end_pass() {
    for (Selection& selection : selections_) {
      if (selection.done) continue;
      Probe& probe = probes_[selection.probe];
      if (probe.gathering) {
        const auto nth = probe.gathered.begin() + selection.rank;
        std::nth_element(probe.gathered.begin(), nth, probe.gathered.end());
        selection.value = *nth;
        selection.done = true;
      } else {
        advance(selection, probe.histogram);
      }
    }
  }

  double value(std::size_t index) const { return selections_[index].value; }

 private:
  static constexpr std::int64_t kGatherLimit = std::int64_t{1} << 22;

  struct Selection {
    std::int64_t rank = 0;          // Among the values that share `prefix`.
    std::int64_t bucket_count = 0;  // How many values share `prefix`.
    std::uint64_t prefix = 0;
    int known_bits = 0;
    bool gathering = false;
    bool done = false;
    double value = 0.0;
    std::size_t probe = 0;
  };
  struct Probe {
    std::uint64_t prefix = 0;
    int known_bits = 0;
    bool gathering = false;
    std::vector<std::int64_t> histogram;
    std::vector<double> gathered;
  };

  static void add(Probe& probe, std::uint64_t bits) {
    if (probe.gathering) {
      probe.gathered.push_back(std::bit_cast<double>(bits));
    } else {
      ++probe.histogram[(bits >> (64 - probe.known_bits - kDigitBits)) & (kDigits - 1)];
    }
  }

  // Narrows a selection by one digit, given the histogram of that digit within its prefix.
  static void advance(Selection& selection, const std::vector<std::int64_t>& histogram) {
    std::uint64_t digit = 0;
    while (selection.rank >= histogram[digit]) selection.rank -= histogram[digit++];
    selection.prefix = (selection.prefix << kDigitBits) | digit;
    selection.known_bits += kDigitBits;
    selection.bucket_count = histogram[digit];
    if (selection.known_bits == 64) {
      selection.value = std::bit_cast<double>(selection.prefix);
      selection.done = true;
    } else if (histogram[digit] <= kGatherLimit) {
      selection.gathering = true;
    }
  }

  std::vector<Selection> selections_;
  std::vector<Probe> probes_;
  std::vector<std::int8_t> route_;  // First-level bucket -> probe index, or -1; may be empty.
};

// The decade histogram of ErrorHistogram, mostly read off the first-level radix histogram: a
// 16-bit bucket lies inside one bin unless an edge cuts it, and only the values in the (at most
// bins - 1) cut buckets are binned one by one.
class DecadeHistogram {
 public:
  DecadeHistogram(double max_abs_error, int bins) : bins_(bins) {
    if (bins <= 0) return;
    const auto count = static_cast<std::size_t>(bins);
    histogram_.edges = decade_edges(max_abs_error, bins);
    histogram_.counts.assign(count, 0);
    cut_.assign(kDigits, false);
    for (std::size_t k = 1; k < count; ++k) {
      const auto bits = std::bit_cast<std::uint64_t>(histogram_.edges[k]);
      if ((bits & ((std::uint64_t{1} << (64 - kDigitBits)) - 1)) != 0) {
        cut_[bits >> (64 - kDigitBits)] = true;
      }
    }
  }

  bool cuts(std::uint64_t bucket) const { return bins_ > 0 && cut_[bucket]; }

  // A value from a cut bucket.
  void add(double abs_error) { ++histogram_.counts[bin_of(abs_error)]; }

  // The histogram, given the first-level counts of the finite errors.
  ErrorHistogram finish(const std::vector<std::int64_t>& top) {
    for (std::uint64_t bucket = 0; bucket < kNonFiniteBucket; ++bucket) {
      if (top[bucket] == 0 || cut_[bucket]) continue;
      histogram_.counts[bin_of(std::bit_cast<double>(bucket << (64 - kDigitBits)))] += top[bucket];
    }
    return std::move(histogram_);
  }

 private:
  std::size_t bin_of(double abs_error) const {
    const auto above =
        std::upper_bound(histogram_.edges.begin(), histogram_.edges.end(), abs_error);
    return static_cast<std::size_t>(
        std::clamp<std::ptrdiff_t>(above - histogram_.edges.begin() - 1, 0, bins_ - 1));
  }

  int bins_ = 0;
  ErrorHistogram histogram_;
  std::vector<bool> cut_;
};

}  // namespace

ErrorDistribution radix_error_distribution(const PassInput& input, std::int64_t finite_pairs,
                                           double max_abs_error, bool quantiles,
                                           int histogram_bins) {
  // First pass: the histogram of the top 16 bits of every error, which also gives the decade
  // histogram and the first radix level of the quantiles.
  std::vector<std::int64_t> top(kDigits, 0);
  DecadeHistogram decades(max_abs_error, histogram_bins);
  for_each_error_bits(input, [&](std::uint64_t bits) {
    const std::uint64_t bucket = bits >> (64 - kDigitBits);
    ++top[bucket];
    if (decades.cuts(bucket)) decades.add(std::bit_cast<double>(bits));
  });
  std::fill(top.begin() + kNonFiniteBucket, top.end(), 0);

  ErrorDistribution result;
  if (histogram_bins > 0) result.histogram = decades.finish(top);
  if (!quantiles) return result;
  ErrorQuantiles values;
  if (finite_pairs > 0) {
    const QuantileRanks quantile = quantile_ranks(finite_pairs);
    OrderStatistics order_statistics(quantile.ranks(), top);
    while (order_statistics.pending()) {
      order_statistics.begin_pass();
      for_each_error_bits(input, [&](std::uint64_t bits) {
        if (bits < kNonFiniteBits) order_statistics.observe(bits);
      });
      order_statistics.end_pass();
    }
    std::array<double, kQuantiles> low{};
    std::array<double, kQuantiles> high{};
    for (std::size_t q = 0; q < kQuantiles; ++q) {
      low[q] = order_statistics.value(2 * q);
      high[q] = order_statistics.value(2 * q + 1);
    }
    values = quantile.interpolate(low, high);
  }
  result.quantiles = values;
  return result;
}

}  // namespace ttt::metrics_internal
