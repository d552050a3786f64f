#include "blocks/normalization/row_kernels.h"

#include <stdexcept>
#include <string>

#include "blocks/normalization/row_sums.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define TTT_NORM_X86_KERNELS 1
#else
#define TTT_NORM_X86_KERNELS 0
#endif

namespace ttt::norm_detail {

namespace {

// The portable kernels: the scalar loops of row_sums.h, row by row.

void portable_reduce_rows(RowReduction reduction, const float* values, std::int64_t rows,
                          std::int64_t stride, std::int64_t count, float* sums) {
  const bool fp32 = reduction.accumulation == Accumulation::fp32;
  const RowSum sum =
      reduction.squares ? sum_of_squares(reduction.accumulation) : (fp32 ? sum_fp32 : sum_bf16);
  for (std::int64_t r = 0; r < rows; ++r) sums[r] = sum(values + r * stride, count);
}

void portable_rms_scale_row(const float* row, std::int64_t count, float inverse_rms,
                            const float* scale, Accumulation round, float* target) {
  const IntermediateRounding rounding = intermediate_rounding(round);
  for (std::int64_t i = 0; i < count; ++i) target[i] = rounding(row[i] * inverse_rms) * scale[i];
}

void portable_center_row(const float* row, std::int64_t count, float mean, Accumulation round,
                         float* centered) {
  const IntermediateRounding rounding = intermediate_rounding(round);
  for (std::int64_t i = 0; i < count; ++i) centered[i] = rounding(row[i] - mean);
}

void portable_layer_scale_row(const float* centered, std::int64_t count, float inverse_std,
                              const float* weight, const float* bias, Accumulation round,
                              bool round_weighted, float* out) {
  const IntermediateRounding rounding = intermediate_rounding(round);
  const IntermediateRounding weighted =
      round_weighted ? rounding : intermediate_rounding(Accumulation::fp32);
  for (std::int64_t i = 0; i < count; ++i) {
    out[i] = weighted(rounding(centered[i] * inverse_std) * weight[i]) + bias[i];
  }
}

#if TTT_NORM_X86_KERNELS

// GCC 12's AVX-512 intrinsics start from an undefined register, which its own -Wuninitialized
// flags once inlined (as in validation/metrics/passes.cc).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// Each ISA's kernels are row_kernels_simd.inc compiled for that ISA (every function defined
// between the target pragmas, template instances included, may use it), over its primitives.
// GCC would contract a multiply and an add into a fused multiply-add (one rounding instead of
// two) once the ISA has one: fp-contract=off keeps the scalar loops' roundings.
// round_bf16 is round_to_bfloat16 lane by lane: round to nearest even on the bit pattern; a NaN
// keeps its sign and top payload bits and gets the quiet bit (validation/tensor/formats.cc).

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f")
#pragma GCC optimize("fp-contract=off")
#endif
namespace avx512 {

using Vector = __m512;
constexpr std::int64_t kWidth = 16;
inline Vector zero() { return _mm512_setzero_ps(); }
inline Vector broadcast(float value) { return _mm512_set1_ps(value); }
inline Vector load(const float* p) { return _mm512_loadu_ps(p); }
inline void store(float* p, Vector v) { _mm512_storeu_ps(p, v); }
inline Vector add(Vector a, Vector b) { return _mm512_add_ps(a, b); }
inline Vector sub(Vector a, Vector b) { return _mm512_sub_ps(a, b); }
inline Vector mul(Vector a, Vector b) { return _mm512_mul_ps(a, b); }
inline Vector round_bf16(Vector value) {
  const __m512i bits = _mm512_castps_si512(value);
  const __m512i lowest_kept = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded =
      _mm512_add_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(0x7fff)), lowest_kept);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(
      _mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  const __m512i kept =
      _mm512_mask_blend_epi32(nan, rounded, _mm512_or_si512(bits, _mm512_set1_epi32(0x00400000)));
  return _mm512_castsi512_ps(
      _mm512_and_si512(kept, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
}
// Lane l reads base[l * stride]. REQUIRES: gather_reaches(stride).
inline Vector gather(const float* base, std::int64_t stride) {
  const __m512i lanes =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(static_cast<int>(stride)));
  return _mm512_i32gather_ps(lanes, base, 4);
}

#include "blocks/normalization/row_kernels_simd.inc"

}  // namespace avx512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#pragma GCC optimize("fp-contract=off")
#endif
namespace avx2 {

using Vector = __m256;
constexpr std::int64_t kWidth = 8;
inline Vector zero() { return _mm256_setzero_ps(); }
inline Vector broadcast(float value) { return _mm256_set1_ps(value); }
inline Vector load(const float* p) { return _mm256_loadu_ps(p); }
inline void store(float* p, Vector v) { _mm256_storeu_ps(p, v); }
inline Vector add(Vector a, Vector b) { return _mm256_add_ps(a, b); }
inline Vector sub(Vector a, Vector b) { return _mm256_sub_ps(a, b); }
inline Vector mul(Vector a, Vector b) { return _mm256_mul_ps(a, b); }
inline Vector round_bf16(Vector value) {
  const __m256i bits = _mm256_castps_si256(value);
  const __m256i lowest_kept = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  const __m256i rounded =
      _mm256_add_epi32(_mm256_add_epi32(bits, _mm256_set1_epi32(0x7fff)), lowest_kept);
  // |bits| and the infinity pattern are below 2^31: the signed compare is the unsigned one.
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff)),
                                         _mm256_set1_epi32(0x7f800000));
  const __m256i kept =
      _mm256_blendv_epi8(rounded, _mm256_or_si256(bits, _mm256_set1_epi32(0x00400000)), nan);
  return _mm256_castsi256_ps(
      _mm256_and_si256(kept, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
}
inline Vector gather(const float* base, std::int64_t stride) {
  const __m256i lanes = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                           _mm256_set1_epi32(static_cast<int>(stride)));
  return _mm256_i32gather_ps(base, lanes, 4);
}

#include "blocks/normalization/row_kernels_simd.inc"

}  // namespace avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // TTT_NORM_X86_KERNELS

// Gathers address lanes with 32-bit offsets: (width - 1) * stride must fit in an int.
bool gather_reaches(std::int64_t stride) {
  return stride >= 0 && stride <= std::int64_t{0x7fffffff} / 16;
}

}  // namespace

bool row_kernel_supported(RowKernel kernel) {
  switch (kernel) {
    case RowKernel::automatic:
    case RowKernel::portable:
      return true;
#if TTT_NORM_X86_KERNELS
    case RowKernel::avx2: {
      static const bool avx2 = __builtin_cpu_supports("avx2");
      return avx2;
    }
    case RowKernel::avx512: {
      static const bool avx512 = __builtin_cpu_supports("avx512f");
      return avx512;
    }
#else
    default:
      return false;
#endif
  }
  return false;
}

RowKernel resolve_row_kernel(RowKernel requested) {
  if (requested == RowKernel::automatic) {
    if (row_kernel_supported(RowKernel::avx512)) return RowKernel::avx512;
    return row_kernel_supported(RowKernel::avx2) ? RowKernel::avx2 : RowKernel::portable;
  }
  if (!row_kernel_supported(requested)) {
    throw std::logic_error(std::string("[norm row kernels] this CPU has no ") +
                           (requested == RowKernel::avx512 ? "AVX-512" : "AVX2"));
  }
  return requested;
}

void reduce_rows(RowReduction reduction, const float* values, std::int64_t rows,
                 std::int64_t stride, std::int64_t count, float* sums, RowKernel kernel) {
#if TTT_NORM_X86_KERNELS
  std::int64_t done = 0;
  if (gather_reaches(stride)) {
    switch (resolve_row_kernel(kernel)) {
      case RowKernel::avx512:
        done = avx512::reduce_rows(reduction, values, rows, stride, count, sums);
        break;
      case RowKernel::avx2:
        done = avx2::reduce_rows(reduction, values, rows, stride, count, sums);
        break;
      default:
        break;
    }
  }
#else
  const std::int64_t done = 0;
#endif
  portable_reduce_rows(reduction, values + done * stride, rows - done, stride, count, sums + done);
}

void rms_scale_row(const float* row, std::int64_t count, float inverse_rms, const float* scale,
                   Accumulation round, float* target, RowKernel kernel) {
  std::int64_t done = 0;
#if TTT_NORM_X86_KERNELS
  const bool bf16 = round == Accumulation::bf16;
  switch (resolve_row_kernel(kernel)) {
    case RowKernel::avx512:
      done = avx512::rms_scale_row(row, count, inverse_rms, scale, bf16, target);
      break;
    case RowKernel::avx2:
      done = avx2::rms_scale_row(row, count, inverse_rms, scale, bf16, target);
      break;
    default:
      break;
  }
#endif
  portable_rms_scale_row(row + done, count - done, inverse_rms, scale + done, round, target + done);
}

void center_row(const float* row, std::int64_t count, float mean, Accumulation round,
                float* centered, RowKernel kernel) {
  std::int64_t done = 0;
#if TTT_NORM_X86_KERNELS
  const bool bf16 = round == Accumulation::bf16;
  switch (resolve_row_kernel(kernel)) {
    case RowKernel::avx512:
      done = avx512::center_row(row, count, mean, bf16, centered);
      break;
    case RowKernel::avx2:
      done = avx2::center_row(row, count, mean, bf16, centered);
      break;
    default:
      break;
  }
#endif
  portable_center_row(row + done, count - done, mean, round, centered + done);
}

void layer_scale_row(const float* centered, std::int64_t count, float inverse_std,
                     const float* weight, const float* bias, Accumulation round,
                     bool round_weighted, float* out, RowKernel kernel) {
  std::int64_t done = 0;
#if TTT_NORM_X86_KERNELS
  const bool bf16 = round == Accumulation::bf16;
  switch (resolve_row_kernel(kernel)) {
    case RowKernel::avx512:
      done = avx512::layer_scale_row(centered, count, inverse_std, weight, bias, bf16,
                                     round_weighted, out);
      break;
    case RowKernel::avx2:
      done = avx2::layer_scale_row(centered, count, inverse_std, weight, bias, bf16, round_weighted,
                                   out);
      break;
    default:
      break;
  }
#endif
  portable_layer_scale_row(centered + done, count - done, inverse_std, weight + done, bias + done,
                           round, round_weighted, out + done);
}

Tensor output_for(const Shape& shape, DType dtype) {
  return Tensor(shape, is_held_as_float32(dtype) ? dtype : DType::float32);
}

Tensor finish_output(Tensor output, DType dtype) {
  output.requantize();
  return output.dtype() == dtype ? output : output.to(dtype);
}

}  // namespace ttt::norm_detail
