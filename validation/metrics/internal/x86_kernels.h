// Whether the metric passes compile their x86 vector kernels (AVX-512, AVX2): on x86-64 with GCC
// or Clang, which take per-function target attributes. Included by the .cc files that hold
// kernels (passes.cc, distribution.cc); which kernel runs is chosen at run time (choose_kernel).
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define TTT_METRICS_X86_KERNELS 1
#else
#define TTT_METRICS_X86_KERNELS 0
#endif
