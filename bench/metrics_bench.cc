// The metrics engine's fused pass against a plain memory-read loop over the same bytes, one thread.
// docs/PERFORMANCE.md ("Metrics fused pass") records the figures and how to run this beside
// bench/metrics_baseline.py (numpy and torch corrcoef).
//
//   metrics_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <bit>
#include <cstdint>
#include <map>
#include <vector>

#include "validation/metrics/internal/passes.h"
#include "validation/metrics/metrics.h"

namespace {

constexpr std::int64_t kLarge = std::int64_t{64} << 20;  // 64M elements: 256 MiB per side.
constexpr std::int64_t kSmall = std::int64_t{1} << 20;   // 1M elements: 4 MiB per side, in cache.

// A reference tensor uniform in [-1, 1) and a device tensor that differs by up to 1e-3, drawn from
// a fixed-seed SplitMix64 stream (identical on every run).
struct Inputs {
  std::vector<float> actual;
  std::vector<float> expected;
};

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

float uniform(std::uint64_t& state) {
  return static_cast<float>(static_cast<double>(splitmix64(state) >> 11) * 0x1p-52 - 1.0);
}

const Inputs& inputs(std::int64_t numel) {
  static std::map<std::int64_t, Inputs> cache;
  Inputs& in = cache[numel];
  if (in.expected.empty()) {
    std::uint64_t state = 2024;
    in.expected.resize(static_cast<std::size_t>(numel));
    in.actual.resize(static_cast<std::size_t>(numel));
    for (std::size_t i = 0; i < in.expected.size(); ++i) {
      in.expected[i] = uniform(state);
      in.actual[i] = in.expected[i] + 1e-3f * uniform(state);
    }
  }
  return in;
}

void set_bytes(benchmark::State& state, std::int64_t numel) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * numel * 2 *
                          static_cast<std::int64_t>(sizeof(float)));
}

// A float32 tensor over `values` (no copy).
ttt::Tensor float32_view(const std::vector<float>& values) {
  return ttt::Tensor::view({static_cast<std::int64_t>(values.size())}, ttt::DType::float32,
                           const_cast<float*>(values.data()));
}

// Every benchmark runs at both sizes, in milliseconds of real time.
void both_sizes(benchmark::internal::Benchmark* benchmark) {
  benchmark->Arg(kSmall)->Arg(kLarge)->Unit(benchmark::kMillisecond)->UseRealTime();
}

// compute_metrics without the optional second pass: the fused pass plus O(1) work.
void BM_ComputeMetricsFusedPass(benchmark::State& state) {
  const std::int64_t numel = state.range(0);
  const Inputs& in = inputs(numel);
  const ttt::Tensor actual = float32_view(in.actual);
  const ttt::Tensor expected = float32_view(in.expected);
  ttt::MetricsOptions options;
  options.quantiles = false;
  options.histogram = false;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ttt::compute_metrics(actual, expected, options));
  }
  set_bytes(state, numel);
  state.SetLabel(ttt::metrics_internal::avx512_supported() ? "avx512 kernel" : "portable kernel");
}
BENCHMARK(BM_ComputeMetricsFusedPass)
->Apply(both_sizes);

// The portable kernel (what a CPU without AVX-512 runs), for reference.
void BM_FusedPassPortableKernel(benchmark::State& state) {
  const std::int64_t numel = state.range(0);
  const Inputs& in = inputs(numel);
  ttt::metrics_internal::PassInput input;
  input.actual = in.actual.data();
  input.expected = in.expected.data();
  input.numel = numel;
  input.rtol = 1.3e-6;
  input.atol = 1e-5;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        ttt::metrics_internal::fused_pass(input, ttt::metrics_internal::Kernel::portable));
  }
  set_bytes(state, numel);
}
BENCHMARK(BM_FusedPassPortableKernel)
->Apply(both_sizes);

// compute_metrics with quantiles and the histogram (the default options).
void BM_ComputeMetricsWithQuantiles(benchmark::State& state) {
  const std::int64_t numel = state.range(0);
  const Inputs& in = inputs(numel);
  const ttt::Tensor actual = float32_view(in.actual);
  const ttt::Tensor expected = float32_view(in.expected);
  for (auto _ : state) benchmark::DoNotOptimize(ttt::compute_metrics(actual, expected));
  set_bytes(state, numel);
}
BENCHMARK(BM_ComputeMetricsWithQuantiles)
->Apply(both_sizes);

ttt::metrics_internal::PassInput pass_input(const Inputs& in) {
  ttt::metrics_internal::PassInput input;
  input.actual = in.actual.data();
  input.expected = in.expected.data();
  input.numel = static_cast<std::int64_t>(in.actual.size());
  input.rtol = 1.3e-6;
  input.atol = 1e-5;
  return input;
}

// The default options as compute_metrics ran them before issue 18: the fused pass, then the
// radix-select second pass (error_distribution's fallback now).
void BM_FusedPassThenRadixSecondPass(benchmark::State& state) {
  const std::int64_t numel = state.range(0);
  const ttt::metrics_internal::PassInput input = pass_input(inputs(numel));
  for (auto _ : state) {
    const ttt::metrics_internal::PassTotals totals = ttt::metrics_internal::fused_pass(input);
    benchmark::DoNotOptimize(ttt::metrics_internal::radix_error_distribution(
        input, totals.finite_pairs, totals.max_abs_error, true, 10));
  }
  set_bytes(state, numel);
}
BENCHMARK(BM_FusedPassThenRadixSecondPass)->Apply(both_sizes);

// The fused pass and the second pass of compute_metrics's defaults with one kernel (the AVX2
// kernel is what a CPU without AVX-512 runs); skipped when the CPU lacks it.
void BM_FusedAndSecondPassWithKernel(benchmark::State& state) {
  const std::int64_t numel = state.range(0);
  const auto kernel = static_cast<ttt::metrics_internal::Kernel>(state.range(1));
  const bool supported = kernel == ttt::metrics_internal::Kernel::portable ||
                         (kernel == ttt::metrics_internal::Kernel::avx2 &&
                          ttt::metrics_internal::avx2_supported()) ||
                         (kernel == ttt::metrics_internal::Kernel::avx512 &&
                          ttt::metrics_internal::avx512_supported());
  if (!supported) {
    state.SkipWithError("this CPU lacks the kernel");
    return;
  }
  const ttt::metrics_internal::PassInput input = pass_input(inputs(numel));
  for (auto _ : state) {
    const ttt::metrics_internal::PassTotals totals =
        ttt::metrics_internal::fused_pass(input, kernel);
    benchmark::DoNotOptimize(ttt::metrics_internal::error_distribution(
        input, totals.finite_pairs, totals.max_abs_error, true, 10, kernel));
  }
  set_bytes(state, numel);
}
BENCHMARK(BM_FusedAndSecondPassWithKernel)
    ->ArgNames({"numel", "kernel"})
    ->ArgsProduct({{kSmall, kLarge},
                   {static_cast<std::int64_t>(ttt::metrics_internal::Kernel::portable),
                    static_cast<std::int64_t>(ttt::metrics_internal::Kernel::avx2),
                    static_cast<std::int64_t>(ttt::metrics_internal::Kernel::avx512)}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The baseline: read the same bytes, both sides interleaved like the fused pass, and fold them into
// a checksum, nothing else. Integer xor is associative, so the compiler vectorises it without
// -ffast-math.
void BM_MemoryRead(benchmark::State& state) {
  const std::int64_t numel = state.range(0);
  const Inputs& in = inputs(numel);
  const float* actual = in.actual.data();
  const float* expected = in.expected.data();
  for (auto _ : state) {
    std::uint32_t checksum = 0;
    for (std::int64_t i = 0; i < numel; ++i) {
      checksum ^=
          std::bit_cast<std::uint32_t>(actual[i]) ^ std::bit_cast<std::uint32_t>(expected[i]);
    }
    benchmark::DoNotOptimize(checksum);
  }
  set_bytes(state, numel);
}
BENCHMARK(BM_MemoryRead)->Apply(both_sizes);

}  // namespace

BENCHMARK_MAIN();
