// The LM head at Llama-3.1-8B shapes (hidden 4096, vocab 128256, untied) with TTTv1's default
// numerics (bfloat8_b weights, HiFi2, fp32 accumulation, N150 vocabulary chunks of 32768):
// decode of 1 and 32 users, and all 128 positions of a prefill. bench/torch_blocks_core.py runs
// the same math in PyTorch; docs/PERFORMANCE.md records both. The device weights take 2.1 GB.
//
//   TTT_BENCH_THREADS=2 lm_head_bench --benchmark_repetitions=5
//     --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>

#include "blocks/common/matmul.h"
#include "blocks/lm_head/lm_head.h"
#include "validation/tensor/random.h"

namespace {

const ttt::LmHeadSpec kSpec{4096, 128256, false, 0.0};

const ttt::LmHead& head() {
  static const ttt::LmHead block = [] {
    ttt::LmHead made(kSpec, ttt::default_impl_config(kSpec, ttt::Device::N150, ttt::Mode::decode),
                     {ttt::WeightSource({4096, 128256}, [] {
                       return ttt::random_normal({4096, 128256}, 1, 0.0, 1.0 / 64.0);
                     })});
    made.decode_forward(ttt::random_normal({1, 4096}, 2));
    return made;
  }();
  return block;
}

void BM_LmHead(benchmark::State& state) {
  if (const char* text = std::getenv("TTT_BENCH_THREADS")) ttt::set_blas_threads(std::atoi(text));
  const ttt::LmHead& block = head();
  const ttt::Tensor x =
      ttt::random_normal({state.range(0), 4096}, 3, 0.0, 1.0, ttt::DType::bfloat16);
  for (auto _ : state) benchmark::DoNotOptimize(block.prefill_forward(x));
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(state.range(0)), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = ttt::blas_threads();
}

BENCHMARK(BM_LmHead)->Arg(1)->Arg(32)->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
