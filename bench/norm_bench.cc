// RMSNorm and LayerNorm at Llama-3.1-8B's width (4096) with TTTv1's default numerics (bfloat16
// in and out, float32 statistics): prefill of 128 tokens, decode of 1 and 32 users.
// bench/torch_blocks_core.py runs the same math in PyTorch; docs/PERFORMANCE.md records both.
//
//   TTT_BENCH_THREADS=2 norm_bench --benchmark_repetitions=5
//   --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdint>

#include "blocks/normalization/layer_norm.h"
#include "blocks/normalization/rms_norm.h"
#include "validation/tensor/random.h"

namespace {

constexpr std::int64_t kDim = 4096;

void BM_RmsNorm(benchmark::State& state) {
  const ttt::RmsNormSpec spec{kDim, 1e-5, false};
  const ttt::RmsNorm norm(spec,
                          ttt::default_impl_config(spec, ttt::Device::N150, ttt::Mode::decode),
                          {ttt::random_normal({kDim}, 1, 1.0, 0.1)});
  const ttt::Tensor x =
      ttt::random_normal({state.range(0), kDim}, 2, 0.0, 1.0, ttt::DType::bfloat16);
  norm.prefill_forward(x);
  for (auto _ : state) benchmark::DoNotOptimize(norm.prefill_forward(x));
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(state.range(0)), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_LayerNorm(benchmark::State& state) {
  const ttt::LayerNormSpec spec{kDim, 1e-5, true};
  const ttt::LayerNorm norm(
      spec, ttt::default_impl_config(spec, ttt::Device::N150, ttt::Mode::decode),
      {ttt::random_normal({kDim}, 1, 1.0, 0.1), ttt::random_normal({kDim}, 3, 0.0, 0.1)});
  const ttt::Tensor x =
      ttt::random_normal({state.range(0), kDim}, 2, 0.0, 1.0, ttt::DType::bfloat16);
  norm.prefill_forward(x);
  for (auto _ : state) benchmark::DoNotOptimize(norm.prefill_forward(x));
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(state.range(0)), benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_RmsNorm)->Arg(1)->Arg(32)->Arg(128)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_LayerNorm)->Arg(1)->Arg(32)->Arg(128)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
