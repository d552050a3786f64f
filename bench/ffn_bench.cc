// The gated MLP (SwiGLU) at Llama-3.1-8B shapes (hidden 4096, ffn 14336): prefill of 128 tokens,
// decode of 1 and 32 users, in three numerics: TTTv1's default (bfloat8_b weights, HiFi2, bf16
// accumulation), the performance preset (FF1/FF3 bfloat4_b with LoFi) and bfloat16 weights with
// HiFi4 and fp32 accumulation (one plain GEMM per matmul, the closest to PyTorch's float32 work).
// bench/torch_blocks_core.py runs the same math in PyTorch on the CPU; docs/PERFORMANCE.md
// ("Blocks: norms, FFN, LM head") records both. Weights are prepared before timing starts;
// inputs are bfloat16, as the residual stream reaches a block on the device.
//
//   TTT_BENCH_THREADS=2 ffn_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//   /usr/bin/python3 bench/torch_blocks_core.py --threads 2
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "blocks/common/matmul.h"
#include "blocks/ffn/gated_mlp.h"
#include "validation/tensor/random.h"

namespace {

const ttt::GatedMlpSpec kSpec{4096, 14336, ttt::Activation::silu};

enum class Numerics { tttv1_default, performance, bf16_hifi4_fp32 };

ttt::GatedMlpImplConfig config_for(Numerics numerics) {
  switch (numerics) {
    case Numerics::tttv1_default:
      return ttt::default_impl_config(kSpec, ttt::Device::N150, ttt::Mode::prefill);
    case Numerics::performance:
      return ttt::default_impl_config(kSpec, ttt::Device::N150, ttt::Mode::prefill,
                                      ttt::Preset::performance);
    case Numerics::bf16_hifi4_fp32: {
      ttt::GatedMlpImplConfig config;
      const ttt::MatmulConfig exact{ttt::DType::bfloat16, ttt::DType::bfloat16,
                                    ttt::DType::bfloat16, ttt::MathFidelity::HiFi4,
                                    ttt::Accumulation::fp32};
      config.ff1_ff3 = exact;
      config.ff2 = exact;
      return config;
    }
  }
  return {};
}

// A seeded weight drawn when the block prepares it, so only the device form stays in memory.
ttt::WeightSource lazy_normal(ttt::Shape shape, std::uint64_t seed, double std) {
  return ttt::WeightSource(
      shape, [shape, seed, std] { return ttt::random_normal(shape, seed, 0.0, std); });
}

// One block at a time (about 1 GB of device weights each), prepared on first use.
const ttt::GatedMlp& block_for(Numerics numerics) {
  static Numerics current;
  static std::unique_ptr<ttt::GatedMlp> block;
  if (!block || current != numerics) {
    block.reset();
    block = std::make_unique<ttt::GatedMlp>(
        kSpec, config_for(numerics),
        ttt::GatedMlpWeights{lazy_normal({4096, 14336}, 1, 1.0 / 64.0),
                             lazy_normal({4096, 14336}, 2, 1.0 / 64.0),
                             lazy_normal({14336, 4096}, 3, 1.0 / 119.7)});
    current = numerics;
    block->decode_forward(ttt::random_normal({1, 4096}, 9));
  }
  return *block;
}

int configure_threads() {
  if (const char* text = std::getenv("TTT_BENCH_THREADS")) ttt::set_blas_threads(std::atoi(text));
  return ttt::blas_threads();
}

void BM_GatedMlpPrefill(benchmark::State& state, Numerics numerics) {
  const int threads = configure_threads();
  const ttt::GatedMlp& block = block_for(numerics);
  const ttt::Tensor x =
      ttt::random_normal({state.range(0), 4096}, 10, 0.0, 1.0, ttt::DType::bfloat16);
  for (auto _ : state) benchmark::DoNotOptimize(block.prefill_forward(x));
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(state.range(0)), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = threads;
}

void BM_GatedMlpDecode(benchmark::State& state, Numerics numerics) {
  const int threads = configure_threads();
  const ttt::GatedMlp& block = block_for(numerics);
  const ttt::Tensor x =
      ttt::random_normal({state.range(0), 4096}, 11, 0.0, 1.0, ttt::DType::bfloat16);
  for (auto _ : state) benchmark::DoNotOptimize(block.decode_forward(x));
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(state.range(0)), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = threads;
}

BENCHMARK_CAPTURE(BM_GatedMlpPrefill, tttv1_default, Numerics::tttv1_default)
    ->Arg(128)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_GatedMlpDecode, tttv1_default, Numerics::tttv1_default)
    ->Arg(1)
    ->Arg(32)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_GatedMlpPrefill, performance, Numerics::performance)
    ->Arg(128)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_GatedMlpDecode, performance, Numerics::performance)
    ->Arg(1)
    ->Arg(32)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_GatedMlpPrefill, bf16_hifi4_fp32, Numerics::bf16_hifi4_fp32)
    ->Arg(128)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_GatedMlpDecode, bf16_hifi4_fp32, Numerics::bf16_hifi4_fp32)
    ->Arg(1)
    ->Arg(32)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
