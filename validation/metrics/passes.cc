// The fused single pass behind compute_metrics() (AVX-512 and AVX2 kernels for float32 pairs, a
// portable kernel for everything else and for chunks holding non-finite values) and the rescans
// that locate the maxima. The second pass, for quantiles and the histogram, is distribution.cc.
// docs/metrics.md ("How the fused pass works") explains the design.
#include "validation/metrics/internal/passes.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <string>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "validation/metrics/internal/elements.h"
#include "validation/metrics/internal/x86_kernels.h"
#include "validation/tensor/formats.h"

namespace ttt::metrics_internal {

namespace {

// Values per chunk. A chunk is summed on its own, shifted by its first value, and chunks are merged
// with Chan's parallel formula: cancellation in the Pearson sums stays local to 16384 values. The
// maxima are located afterwards by rescanning only the chunk that holds them.
constexpr std::int64_t kChunk = 16384;
constexpr double kEpsilon = std::numeric_limits<double>::epsilon();
constexpr double kNegativeInfinity = -std::numeric_limits<double>::infinity();

// What the fused pass needs besides the data.
struct KernelParams {
  double rtol = 0.0;
  double atol = 0.0;
  int ulp_mantissa_bits = 23;
  int ulp_min_exponent = -126;
};

// One chunk's contribution; see PassTotals for the meaning of the fields.
struct ChunkStats : ElementCounts {
  std::int64_t count = 0;
  // Pearson sums of the masked values minus the chunk's first masked value (the shift).
  double shift_actual = 0.0;
  double shift_expected = 0.0;
  double sum_x = 0.0;
  double sum_y = 0.0;
  double sum_xx = 0.0;
  double sum_yy = 0.0;
  double sum_xy = 0.0;
  bool actual_nonzero = false;
  bool expected_nonzero = false;
  bool masked_equal = true;
  // Over finite pairs.
  double sum_abs = 0.0;
  double sum_squared = 0.0;
  double sum_actual_squared = 0.0;
  double sum_expected_squared = 0.0;
  double sum_product = 0.0;
  double max_abs = -1.0;  // -1 when the chunk has no finite pair.
  double max_rel = 0.0;
  double max_ulp = 0.0;
  std::int64_t mismatched = 0;
  double worst_excess = kNegativeInfinity;  // Largest |a-e| - rtol|e|; a mismatch exceeds atol.
};

// |a - e| in ULPs of e under the ieee rule. Multiplying by a power of two is exact, so this equals
// the AVX-512 kernel's result bit for bit. `expected` is finite; a float32 widened to double is a
// normal double (subnormal float32 values included), so its exponent field is exact. A float64
// expected value below 2^-1022 reads with exponent 0, under min_exponent, so it is exact too.
double ieee_ulps(double abs_error, double expected, const KernelParams& params) {
  int exponent = params.ulp_min_exponent;
  if (expected != 0.0) {
    const auto biased = static_cast<int>((std::bit_cast<std::uint64_t>(expected) >> 52) & 0x7ff);
    exponent = std::max(biased - 1023, params.ulp_min_exponent);
  }
  const int scale_exponent = params.ulp_mantissa_bits - exponent;
  if (scale_exponent > 1023) {
    // Only float64 ULPs (down to 2^-1074) need a scale past double's range: finite, at most the
    // largest double.
    return std::min(std::ldexp(abs_error, scale_exponent), std::numeric_limits<double>::max());
  }
  const auto scale_bits = static_cast<std::uint64_t>(1023 + scale_exponent) << 52;
  return abs_error * std::bit_cast<double>(scale_bits);
}

// |a - e| - rtol |e|: a pair is an allclose mismatch when this exceeds atol, and the worst
// mismatch is the pair where it is largest.
double tolerance_excess(double abs_error, double abs_expected, const KernelParams& params) {
  return abs_error - params.rtol * abs_expected;
}

// The portable kernel: any element types, any values. Also runs the chunks where the AVX-512
// kernel met a non-finite value.
template <typename TA, typename TE>
ChunkStats portable_chunk(const TA* actual, const TE* expected, std::int64_t begin,
                          std::int64_t count, const KernelParams& params) {
  ChunkStats s;
  s.count = count;
  const auto masked = [](double value) { return std::isfinite(value) ? value : 0.0; };
  s.shift_actual = masked(as_double(actual[begin]));
  s.shift_expected = masked(as_double(expected[begin]));
  for (std::int64_t i = begin; i < begin + count; ++i) {
    const double a = as_double(actual[i]);
    const double e = as_double(expected[i]);
    const bool a_finite = std::isfinite(a);
    const bool e_finite = std::isfinite(e);
    if (!a_finite) ++(std::isnan(a) ? s.nan_actual : s.inf_actual);
    if (!e_finite) ++(std::isnan(e) ? s.nan_expected : s.inf_expected);
    s.actual_nonzero = s.actual_nonzero || a != 0.0;  // NaN != 0 is true, as in torch's bool().
    s.expected_nonzero = s.expected_nonzero || e != 0.0;
    const double masked_a = a_finite ? a : 0.0;
    const double masked_e = e_finite ? e : 0.0;
    const double difference = a_finite && e_finite ? difference_of(actual[i], expected[i]) : 0.0;
    s.masked_equal =
        s.masked_equal && (a_finite && e_finite ? difference == 0.0 : masked_a == masked_e);
    const double x = masked_a - s.shift_actual;
    const double y = masked_e - s.shift_expected;
    s.sum_x += x;
    s.sum_y += y;
    s.sum_xx += x * x;
    s.sum_yy += y * y;
    s.sum_xy += x * y;
    if (a_finite && e_finite) {
      ++s.finite_pairs;
      const double abs_error = std::fabs(difference);
      const double abs_expected = std::fabs(e);
      s.sum_abs += abs_error;
      s.sum_squared += difference * difference;
      s.sum_actual_squared += a * a;
      s.sum_expected_squared += e * e;
      s.sum_product += a * e;
      s.max_abs = std::max(s.max_abs, abs_error);
      s.max_rel = std::max(s.max_rel, abs_error / (abs_expected == 0.0 ? kEpsilon : abs_expected));
      s.max_ulp = std::max(s.max_ulp, ieee_ulps(abs_error, e, params));
      const double excess = tolerance_excess(abs_error, abs_expected, params);
      s.worst_excess = std::max(s.worst_excess, excess);
      if (excess > params.atol) ++s.mismatched;
    } else if (!(std::isnan(a) && std::isnan(e)) && a != e) {
      // Equal infinities (same sign) and NaN facing NaN match; anything else does not.
      ++s.nonfinite_mismatched;
      if (s.first_nonfinite_mismatch < 0) s.first_nonfinite_mismatch = i;
    }
  }
  return s;
}

// Pearson moments of a set of positions, merged with Chan et al.'s parallel formula.
struct Moments {
  double n = 0.0;
  double mean_x = 0.0;
  double mean_y = 0.0;
  double m2_x = 0.0;
  double m2_y = 0.0;
  double co_moment = 0.0;

  static Moments of_chunk(const ChunkStats& s) {
    Moments m;
    m.n = static_cast<double>(s.count);
    m.mean_x = s.shift_actual + s.sum_x / m.n;
    m.mean_y = s.shift_expected + s.sum_y / m.n;
    m.m2_x = std::max(0.0, s.sum_xx - s.sum_x * s.sum_x / m.n);
    m.m2_y = std::max(0.0, s.sum_yy - s.sum_y * s.sum_y / m.n);
    m.co_moment = s.sum_xy - s.sum_x * s.sum_y / m.n;
    return m;
  }

  void merge(const Moments& other) {
    if (other.n == 0.0) return;
    if (n == 0.0) {
      *this = other;
      return;
    }
    const double total = n + other.n;
    const double delta_x = other.mean_x - mean_x;
    const double delta_y = other.mean_y - mean_y;
    const double weight = n * other.n / total;
    m2_x += other.m2_x + delta_x * delta_x * weight;
    m2_y += other.m2_y + delta_y * delta_y * weight;
    co_moment += other.co_moment + delta_x * delta_y * weight;
    mean_x += delta_x * other.n / total;
    mean_y += delta_y * other.n / total;
    n = total;
  }
};

// The fields of a vector kernel's chunk that follow from its sums. All values are finite there: a
// side is nonzero unless it is constant at zero (a sum of squared shifted values is zero exactly
// when every value equals the shift), and the sides are equal exactly when the largest difference
// is zero. The raw sums follow from the shifted ones (sum a^2 = M2 + n mean^2, sum ae = C + n
// mean_a mean_e), which saves three multiply-adds per step and keeps their accuracy.
void finish_vector_chunk(ChunkStats& s) {
  s.actual_nonzero = !(s.sum_xx == 0.0 && s.shift_actual == 0.0);
  s.expected_nonzero = !(s.sum_yy == 0.0 && s.shift_expected == 0.0);
  s.masked_equal = s.max_abs == 0.0;
  const Moments moments = Moments::of_chunk(s);
  s.sum_actual_squared = moments.m2_x + moments.n * moments.mean_x * moments.mean_x;
  s.sum_expected_squared = moments.m2_y + moments.n * moments.mean_y * moments.mean_y;
  s.sum_product = moments.co_moment + moments.n * moments.mean_x * moments.mean_y;
}

#if TTT_METRICS_X86_KERNELS

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_pd(), a deliberately uninitialised
// register, which its own -Wuninitialized flags once inlined here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// The fast kernel for float32 pairs, 8 values per step, widened to double. It assumes every value
// is finite and returns false (stats unusable) when the chunk holds a non-finite value: any NaN or
// Inf makes a - e non-finite, and two finite float32 values never overflow a double difference, so
// a finite sum of |a - e| proves the chunk finite. Every accumulator is updated once per step by a
// single add, multiply-add or max, so no dependency chain longer than one instruction crosses
// steps. REQUIRES: count > 0 and count % 8 == 0.
__attribute__((target("avx512f,avx512dq,popcnt"))) bool avx512_chunk(const float* actual,
                                                                     const float* expected,
                                                                     std::int64_t count,
                                                                     const KernelParams& params,
                                                                     ChunkStats& s) {
  const __m512d zero = _mm512_setzero_pd();
  const __m512d shift_a = _mm512_set1_pd(static_cast<double>(actual[0]));
  const __m512d shift_e = _mm512_set1_pd(static_cast<double>(expected[0]));
  const __m512d rtol = _mm512_set1_pd(params.rtol);
  const __m512d atol = _mm512_set1_pd(params.atol);
  const __m512d epsilon = _mm512_set1_pd(kEpsilon);
  // ULP scaling on the bits of |e| as a double: its exponent field alone is 2^E, clamped below at
  // 2^min_exponent; (2046 + mantissa_bits) << 52 minus that is the bit pattern of
  // 2^(mantissa_bits - E), exact, and cheaper than getexp/scalef.
  const __m512i exponent_mask = _mm512_set1_epi64(0x7ff0000000000000ll);
  const __m512i smallest_power = _mm512_set1_epi64(
      static_cast<long long>(static_cast<std::uint64_t>(1023 + params.ulp_min_exponent) << 52));
  const __m512i scale_base = _mm512_set1_epi64(
      static_cast<long long>(static_cast<std::uint64_t>(2046 + params.ulp_mantissa_bits) << 52));
  __m512d sum_abs = zero, sum_squared = zero, max_abs = zero;
  __m512d sum_x = zero, sum_y = zero, sum_xx = zero, sum_yy = zero, sum_xy = zero;
  __m512d max_rel = zero;
  __m512d max_ulp = zero;
  __m512d worst_excess = _mm512_set1_pd(kNegativeInfinity);
  std::int64_t mismatched = 0;
  for (std::int64_t i = 0; i < count; i += 8) {
    const __m512d a = _mm512_cvtps_pd(_mm256_loadu_ps(actual + i));
    const __m512d e = _mm512_cvtps_pd(_mm256_loadu_ps(expected + i));
    const __m512d difference = _mm512_sub_pd(a, e);
    const __m512d abs_error = _mm512_abs_pd(difference);
    sum_abs = _mm512_add_pd(sum_abs, abs_error);
    sum_squared = _mm512_fmadd_pd(difference, difference, sum_squared);
    max_abs = _mm512_max_pd(max_abs, abs_error);

    const __m512d x = _mm512_sub_pd(a, shift_a);
    const __m512d y = _mm512_sub_pd(e, shift_e);
    sum_x = _mm512_add_pd(sum_x, x);
    sum_y = _mm512_add_pd(sum_y, y);
    sum_xx = _mm512_fmadd_pd(x, x, sum_xx);
    sum_yy = _mm512_fmadd_pd(y, y, sum_yy);
    sum_xy = _mm512_fmadd_pd(x, y, sum_xy);

    const __m512d abs_expected = _mm512_abs_pd(e);
    const __m512d denominator = _mm512_mask_mov_pd(
        abs_expected, _mm512_cmp_pd_mask(abs_expected, zero, _CMP_EQ_OQ), epsilon);
    max_rel = _mm512_max_pd(max_rel, _mm512_div_pd(abs_error, denominator));

    const __m512i power =
        _mm512_max_epi64(_mm512_and_si512(_mm512_castpd_si512(e), exponent_mask), smallest_power);
    const __m512d ulp_scale = _mm512_castsi512_pd(_mm512_sub_epi64(scale_base, power));
    max_ulp = _mm512_max_pd(max_ulp, _mm512_mul_pd(abs_error, ulp_scale));

    const __m512d excess = _mm512_fnmadd_pd(rtol, abs_expected, abs_error);
    worst_excess = _mm512_max_pd(worst_excess, excess);
    mismatched +=
        std::popcount(static_cast<unsigned>(_mm512_cmp_pd_mask(excess, atol, _CMP_GT_OQ)));
  }
  s.sum_abs = _mm512_reduce_add_pd(sum_abs);
  if (!std::isfinite(s.sum_abs)) return false;
  s.count = count;
  s.finite_pairs = count;
  s.shift_actual = static_cast<double>(actual[0]);
  s.shift_expected = static_cast<double>(expected[0]);
  s.sum_x = _mm512_reduce_add_pd(sum_x);
  s.sum_y = _mm512_reduce_add_pd(sum_y);
  s.sum_xx = _mm512_reduce_add_pd(sum_xx);
  s.sum_yy = _mm512_reduce_add_pd(sum_yy);
  s.sum_xy = _mm512_reduce_add_pd(sum_xy);
  s.sum_squared = _mm512_reduce_add_pd(sum_squared);
  s.max_abs = _mm512_reduce_max_pd(max_abs);
  s.max_rel = _mm512_reduce_max_pd(max_rel);
  s.max_ulp = _mm512_reduce_max_pd(max_ulp);
  s.worst_excess = _mm512_reduce_max_pd(worst_excess);
  s.mismatched = mismatched;
  finish_vector_chunk(s);
  return true;
}

// An AVX-512 accumulator's eight lanes as two AVX2 halves, reduced in the order
// _mm512_reduce_add_pd uses: hi + lo, then the upper two lanes plus the lower two, then lane 0 +
// lane 1 (and the same for the maxima, where order does not matter).
struct Avx2Lanes {
  __m256d lo;
  __m256d hi;
};

__attribute__((target("avx2,fma"))) inline double avx2_reduce_add(const Avx2Lanes& v) {
  const __m256d half = _mm256_add_pd(v.hi, v.lo);
  const __m128d quarter = _mm_add_pd(_mm256_extractf128_pd(half, 1), _mm256_castpd256_pd128(half));
  return _mm_cvtsd_f64(quarter) + _mm_cvtsd_f64(_mm_unpackhi_pd(quarter, quarter));
}

__attribute__((target("avx2,fma"))) inline double avx2_reduce_max(const Avx2Lanes& v) {
  const __m256d half = _mm256_max_pd(v.hi, v.lo);
  const __m128d quarter = _mm_max_pd(_mm256_extractf128_pd(half, 1), _mm256_castpd256_pd128(half));
  return std::max(_mm_cvtsd_f64(quarter), _mm_cvtsd_f64(_mm_unpackhi_pd(quarter, quarter)));
}

// One half of every accumulator of avx2_chunk: lanes 0-3 (`actual` and `expected` at the chunk's
// start) or 4-7 (4 values further), each half summed over the whole chunk on its own (the lanes
// are independent), so that its eleven accumulators stay in registers.
struct Avx2Half {
  __m256d sum_abs, sum_squared, max_abs, sum_x, sum_y, sum_xx, sum_yy, sum_xy, max_rel, max_ulp,
      worst_excess;
  std::int64_t mismatched = 0;
};

__attribute__((target("avx2,fma"))) Avx2Half avx2_half(const float* actual, const float* expected,
                                                      std::int64_t count, double shift_actual,
                                                      double shift_expected,
                                                      const KernelParams& params) {
  const __m256d zero = _mm256_setzero_pd();
  const __m256d sign = _mm256_set1_pd(-0.0);
  const __m256d shift_a = _mm256_set1_pd(shift_actual);
  const __m256d shift_e = _mm256_set1_pd(shift_expected);
  const __m256d rtol = _mm256_set1_pd(params.rtol);
  const __m256d atol = _mm256_set1_pd(params.atol);
  const __m256d epsilon = _mm256_set1_pd(kEpsilon);
  const __m256i exponent_mask = _mm256_set1_epi64x(0x7ff0000000000000ll);
  const __m256i smallest_power = _mm256_set1_epi64x(
      static_cast<long long>(static_cast<std::uint64_t>(1023 + params.ulp_min_exponent) << 52));
  const __m256i scale_base = _mm256_set1_epi64x(
      static_cast<long long>(static_cast<std::uint64_t>(2046 + params.ulp_mantissa_bits) << 52));
  __m256d sum_abs = zero, sum_squared = zero, max_abs = zero;
  __m256d sum_x = zero, sum_y = zero, sum_xx = zero, sum_yy = zero, sum_xy = zero;
  __m256d max_rel = zero;
  __m256d max_ulp = zero;
  __m256d worst_excess = _mm256_set1_pd(kNegativeInfinity);
  std::int64_t mismatched = 0;
  for (std::int64_t i = 0; i < count; i += 8) {
    const __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(actual + i));
    const __m256d e = _mm256_cvtps_pd(_mm_loadu_ps(expected + i));
    const __m256d difference = _mm256_sub_pd(a, e);
    const __m256d abs_error = _mm256_andnot_pd(sign, difference);
    sum_abs = _mm256_add_pd(sum_abs, abs_error);
    sum_squared = _mm256_fmadd_pd(difference, difference, sum_squared);
    max_abs = _mm256_max_pd(max_abs, abs_error);

    const __m256d x = _mm256_sub_pd(a, shift_a);
    const __m256d y = _mm256_sub_pd(e, shift_e);
    sum_x = _mm256_add_pd(sum_x, x);
    sum_y = _mm256_add_pd(sum_y, y);
    sum_xx = _mm256_fmadd_pd(x, x, sum_xx);
    sum_yy = _mm256_fmadd_pd(y, y, sum_yy);
    sum_xy = _mm256_fmadd_pd(x, y, sum_xy);

    const __m256d abs_expected = _mm256_andnot_pd(sign, e);
    const __m256d denominator = _mm256_blendv_pd(abs_expected, epsilon,
                                                 _mm256_cmp_pd(abs_expected, zero, _CMP_EQ_OQ));
    max_rel = _mm256_max_pd(max_rel, _mm256_div_pd(abs_error, denominator));

    // Both operands are non-negative, so the signed compare gives the 64-bit max.
    const __m256i exponent = _mm256_and_si256(_mm256_castpd_si256(e), exponent_mask);
    const __m256i power = _mm256_blendv_epi8(smallest_power, exponent,
                                             _mm256_cmpgt_epi64(exponent, smallest_power));
    const __m256d ulp_scale = _mm256_castsi256_pd(_mm256_sub_epi64(scale_base, power));
    max_ulp = _mm256_max_pd(max_ulp, _mm256_mul_pd(abs_error, ulp_scale));

    const __m256d excess = _mm256_fnmadd_pd(rtol, abs_expected, abs_error);
    worst_excess = _mm256_max_pd(worst_excess, excess);
    mismatched += std::popcount(
        static_cast<unsigned>(_mm256_movemask_pd(_mm256_cmp_pd(excess, atol, _CMP_GT_OQ))));
  }
  return {sum_abs, sum_squared, max_abs, sum_x,   sum_y,        sum_xx,
          sum_yy,  sum_xy,      max_rel, max_ulp, worst_excess, mismatched};
}

// The AVX-512 kernel on AVX2 machines, giving its bits: the same operations lane by lane (the same
// multiply-adds included) on the same eight lanes, reduced in the same order. REQUIRES: count > 0
// and count % 8 == 0.
__attribute__((target("avx2,fma"))) bool avx2_chunk(const float* actual, const float* expected,
                                                    std::int64_t count,
                                                    const KernelParams& params, ChunkStats& s) {
  const auto shift_actual = static_cast<double>(actual[0]);
  const auto shift_expected = static_cast<double>(expected[0]);
  const Avx2Half low = avx2_half(actual, expected, count, shift_actual, shift_expected, params);
  const Avx2Half high =
      avx2_half(actual + 4, expected + 4, count, shift_actual, shift_expected, params);
  const auto lanes = [&](__m256d Avx2Half::*field) { return Avx2Lanes{low.*field, high.*field}; };
  s.sum_abs = avx2_reduce_add(lanes(&Avx2Half::sum_abs));
  if (!std::isfinite(s.sum_abs)) return false;
  s.count = count;
  s.finite_pairs = count;
  s.shift_actual = shift_actual;
  s.shift_expected = shift_expected;
  s.sum_x = avx2_reduce_add(lanes(&Avx2Half::sum_x));
  s.sum_y = avx2_reduce_add(lanes(&Avx2Half::sum_y));
  s.sum_xx = avx2_reduce_add(lanes(&Avx2Half::sum_xx));
  s.sum_yy = avx2_reduce_add(lanes(&Avx2Half::sum_yy));
  s.sum_xy = avx2_reduce_add(lanes(&Avx2Half::sum_xy));
  s.sum_squared = avx2_reduce_add(lanes(&Avx2Half::sum_squared));
  s.max_abs = avx2_reduce_max(lanes(&Avx2Half::max_abs));
  s.max_rel = avx2_reduce_max(lanes(&Avx2Half::max_rel));
  s.max_ulp = avx2_reduce_max(lanes(&Avx2Half::max_ulp));
  s.worst_excess = avx2_reduce_max(lanes(&Avx2Half::worst_excess));
  s.mismatched = low.mismatched + high.mismatched;
  finish_vector_chunk(s);
  return true;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // TTT_METRICS_X86_KERNELS

// A range of positions: the chunk a maximum came from.
struct Range {
  std::int64_t begin = -1;
  std::int64_t count = 0;
};

// Folds chunks, in order, into the totals.
class Accumulator {
 public:
  void add(const ChunkStats& s, std::int64_t begin) {
    PassTotals& t = totals_;
    if (t.numel == 0) {
      t.actual_value = s.shift_actual;
      t.expected_value = s.shift_expected;
    }
    t.numel += s.count;
    t.add(s);
    t.actual_constant = t.actual_constant && s.sum_xx == 0.0 && s.shift_actual == t.actual_value;
    t.expected_constant =
        t.expected_constant && s.sum_yy == 0.0 && s.shift_expected == t.expected_value;
    t.actual_nonzero = t.actual_nonzero || s.actual_nonzero;
    t.expected_nonzero = t.expected_nonzero || s.expected_nonzero;
    t.masked_equal = t.masked_equal && s.masked_equal;
    moments_.merge(Moments::of_chunk(s));
    t.sum_abs_error += s.sum_abs;
    t.sum_squared_error += s.sum_squared;
    t.sum_actual_squared += s.sum_actual_squared;
    t.sum_expected_squared += s.sum_expected_squared;
    t.sum_product += s.sum_product;
    if (s.max_abs > best_abs_) {
      best_abs_ = s.max_abs;
      abs_range_ = {begin, s.count};
    }
    t.max_rel_error = std::max(t.max_rel_error, s.max_rel);
    t.max_ulp_error = std::max(t.max_ulp_error, s.max_ulp);
    t.mismatched += s.mismatched;
    if (s.mismatched > 0 && s.worst_excess > worst_excess_) {
      worst_excess_ = s.worst_excess;
      worst_range_ = {begin, s.count};
    }
  }

  // The totals, with the maxima located by rescanning the chunks that hold them.
  template <typename TA, typename TE>
  PassTotals finish(const TA* actual, const TE* expected, const KernelParams& params) {
    PassTotals t = totals_;
    t.mean_actual = moments_.mean_x;
    t.mean_expected = moments_.mean_y;
    t.m2_actual = moments_.m2_x;
    t.m2_expected = moments_.m2_y;
    t.co_moment = moments_.co_moment;
    if (best_abs_ >= 0.0) {
      t.max_abs_error = best_abs_;
      t.max_abs_error_index = first_argmax(
          actual, expected, abs_range_, [](double difference, double) { return std::fabs(difference); });
    }
    if (t.mismatched > 0) {
      t.worst_mismatch_index =
          first_argmax(actual, expected, worst_range_, [&](double difference, double e) {
            return tolerance_excess(std::fabs(difference), std::fabs(e), params);
          });
    }
    return t;
  }

 private:
  // The first finite pair in `range` where `value(a - e, e)` is largest. The kernels may round the
  // value differently (fused multiply-add), so the chunk is searched for its own maximum.
  template <typename TA, typename TE, typename Value>
  static std::int64_t first_argmax(const TA* actual, const TE* expected, Range range,
                                   Value&& value) {
    std::int64_t best_index = -1;
    double best = kNegativeInfinity;
    for (std::int64_t i = range.begin; i < range.begin + range.count; ++i) {
      const double a = as_double(actual[i]);
      const double e = as_double(expected[i]);
      if (!std::isfinite(a) || !std::isfinite(e)) continue;
      const double candidate = value(difference_of(actual[i], expected[i]), e);
      if (best_index < 0 || candidate > best) {
        best = candidate;
        best_index = i;
      }
    }
    return best_index;
  }

  PassTotals totals_;
  Moments moments_;
  double best_abs_ = -1.0;
  Range abs_range_;
  double worst_excess_ = kNegativeInfinity;
  Range worst_range_;
};

// max_ulp_error for a block-float expected side: |a - e| over the mantissa unit of e's block.
// The shared exponent is recomputed from the expected values, which quantization leaves in the
// same binade as the block's largest input (formats.cc clamps instead of carrying into the
// exponent), so it equals the exponent the device stored.
double block_max_ulps(const PassInput& input) {
  const auto* expected = static_cast<const float*>(input.expected);
  const std::int64_t row_length = input.ulp.row_length;
  double max_ulps = 0.0;
  visit_elements(input.actual_type, input.actual, [&](auto actual) {
    for (std::int64_t row = 0; row < input.numel; row += row_length) {
      for (std::int64_t block = row; block < row + row_length; block += kBlockSize) {
        const std::int64_t end = std::min(block + kBlockSize, row + row_length);
        std::uint32_t shared = 0;
        for (std::int64_t i = block; i < end; ++i) {
          shared = std::max(shared, (std::bit_cast<std::uint32_t>(expected[i]) >> 23) & 0xffu);
        }
        // 1 / unit = 2^(126 + mantissa_bits - E), a power of two well inside double's range.
        const double inverse_unit =
            std::ldexp(1.0, 126 + input.ulp.mantissa_bits - static_cast<int>(shared));
        for (std::int64_t i = block; i < end; ++i) {
          const double a = as_double(actual[i]);
          const double e = static_cast<double>(expected[i]);
          if (std::isfinite(a) && std::isfinite(e)) {
            max_ulps =
                std::max(max_ulps, std::fabs(difference_of(actual[i], expected[i])) * inverse_unit);
          }
        }
      }
    }
  });
  return max_ulps;
}

}  // namespace

UlpRule ulp_rule(DType dtype, const Shape& shape) {
  UlpRule rule;
  switch (dtype) {
    case DType::float32:
      rule = {UlpRule::Kind::ieee, 23, -126, 1};
      break;
    case DType::float16:
      rule = {UlpRule::Kind::ieee, 10, -14, 1};
      break;
    case DType::bfloat16:
      rule = {UlpRule::Kind::ieee, 7, -126, 1};
      break;
    case DType::float64:
      rule = {UlpRule::Kind::ieee, 52, -1022, 1};
      break;
    case DType::bfloat8_b:
    case DType::bfloat4_b:
      rule.kind = UlpRule::Kind::block;
      rule.mantissa_bits = block_mantissa_bits(dtype);
      rule.row_length = shape.empty() ? 1 : shape.back();
      break;
    case DType::int32:
    case DType::int64:
      rule.kind = UlpRule::Kind::integer;
      break;
  }
  return rule;
}

bool avx512_supported() {
#if TTT_METRICS_X86_KERNELS
  static const bool supported =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
  return supported;
#else
  return false;
#endif
}

bool avx2_supported() {
#if TTT_METRICS_X86_KERNELS
  static const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return supported;
#else
  return false;
#endif
}

Kernel choose_kernel(Kernel requested, const PassInput& input, const char* caller) {
  const bool float_pair =
      input.actual_type == ElementType::float32 && input.expected_type == ElementType::float32;
  switch (requested) {
    case Kernel::portable:
      return Kernel::portable;
    case Kernel::avx2:
      if (!avx2_supported() || !float_pair) {
        throw std::logic_error(std::string("[") + caller +
                               "] the AVX2 kernel needs a CPU with AVX2 and FMA and two float32 "
                               "sides");
      }
      return Kernel::avx2;
    case Kernel::avx512:
      if (!avx512_supported() || !float_pair) {
        throw std::logic_error(std::string("[") + caller +
                               "] the AVX-512 kernel needs a CPU with AVX-512 F/DQ and two "
                               "float32 sides");
      }
      return Kernel::avx512;
    case Kernel::automatic:
      break;
  }
  if (!float_pair) return Kernel::portable;
  if (avx512_supported()) return Kernel::avx512;
  return avx2_supported() ? Kernel::avx2 : Kernel::portable;
}

PassTotals fused_pass(const PassInput& input, Kernel kernel) {
  const Kernel chosen = choose_kernel(kernel, input, "fused_pass");
  KernelParams params;
  params.rtol = input.rtol;
  params.atol = input.atol;
  if (input.ulp.kind == UlpRule::Kind::ieee) {
    params.ulp_mantissa_bits = input.ulp.mantissa_bits;
    params.ulp_min_exponent = input.ulp.min_exponent;
  }
  PassTotals totals = visit_pair(input, [&](auto actual, auto expected) {
    Accumulator accumulator;
    for (std::int64_t begin = 0; begin < input.numel; begin += kChunk) {
      const std::int64_t count = std::min(kChunk, input.numel - begin);
      std::int64_t done = 0;
#if TTT_METRICS_X86_KERNELS
      if constexpr (std::is_same_v<decltype(actual), const float*> &&
                    std::is_same_v<decltype(expected), const float*>) {
        const std::int64_t vector_count = count - count % 8;
        if (chosen != Kernel::portable && vector_count > 0) {
          const auto vector_chunk = chosen == Kernel::avx512 ? avx512_chunk : avx2_chunk;
          ChunkStats stats;
          if (!vector_chunk(actual + begin, expected + begin, vector_count, params, stats)) {
            stats = portable_chunk(actual, expected, begin, vector_count, params);
          }
          accumulator.add(stats, begin);
          done = vector_count;
        }
      }
#endif
      if (done < count) {
        accumulator.add(portable_chunk(actual, expected, begin + done, count - done, params),
                        begin + done);
      }
    }
    return accumulator.finish(actual, expected, params);
  });
  switch (input.ulp.kind) {
    case UlpRule::Kind::ieee:
      break;
    case UlpRule::Kind::block:
      totals.max_ulp_error = block_max_ulps(input);
      break;
    case UlpRule::Kind::integer:
      totals.max_ulp_error = totals.max_abs_error;
      break;
  }
  return totals;
}

bool masked_allclose(const PassInput& input, double rtol, double atol) {
  return visit_pair(input, [&](auto actual, auto expected) {
    for (std::int64_t i = 0; i < input.numel; ++i) {
      const double a = as_double(actual[i]);
      const double e = as_double(expected[i]);
      const double masked_a = std::isfinite(a) ? a : 0.0;
      const double masked_e = std::isfinite(e) ? e : 0.0;
      const double difference = std::isfinite(a) && std::isfinite(e)
                                    ? difference_of(actual[i], expected[i])
                                    : masked_a - masked_e;
      if (!(std::fabs(difference) <= atol + rtol * std::fabs(masked_a))) return false;
    }
    return true;
  });
}

}  // namespace ttt::metrics_internal
