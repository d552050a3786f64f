// The attention block's device path at Llama-3.1-8B shapes (hidden 4096, 32 heads, 8 KV heads,
// head_dim 128, llama3 RoPE), TTTv1's default N150 configurations (bfloat8_b weights and KV
// cache). bench/torch_attention.py runs the same math in PyTorch on the CPU; docs/PERFORMANCE.md
// ("Blocks: attention") records both. Weights are prepared before timing starts. "CPU" is the
// process's CPU time (all BLAS threads).
//
//   TTT_BENCH_THREADS=2 attention_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true   (one command line)
//   /usr/bin/python3 bench/torch_attention.py --threads 2
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "blocks/attention/attention.h"
#include "blocks/common/matmul.h"
#include "validation/tensor/random.h"

namespace {

constexpr std::int64_t kCachePositions = 1024;

ttt::AttentionSpec llama31_8b() {
  ttt::AttentionSpec spec;
  spec.hidden_dim = 4096;
  spec.num_heads = 32;
  spec.num_kv_heads = 8;
  spec.rope.head_dim = 128;
  spec.rope.theta = 500000.0;
  spec.rope.max_position_embeddings = 131072;
  spec.rope.scaling = ttt::RopeScaling::llama3;
  spec.rope.factor = 8.0;
  spec.rope.original_max_position_embeddings = 8192;
  return spec;
}

// Seeded Llama-3.1-8B projections ([in, out]) of unit-variance output.
ttt::AttentionWeights weights() {
  const double in_std = 1.0 / 64.0;
  ttt::AttentionWeights w;
  w.wq = ttt::random_normal({4096, 4096}, 1, 0.0, in_std);
  w.wk = ttt::random_normal({4096, 1024}, 2, 0.0, in_std);
  w.wv = ttt::random_normal({4096, 1024}, 3, 0.0, in_std);
  w.wo = ttt::random_normal({4096, 4096}, 4, 0.0, in_std);
  return w;
}

// Threads for OpenBLAS, from TTT_BENCH_THREADS (default: OpenBLAS's own choice).
int configure_threads() {
  if (const char* text = std::getenv("TTT_BENCH_THREADS")) ttt::set_blas_threads(std::atoi(text));
  return ttt::blas_threads();
}

void BM_AttentionPrefill(benchmark::State& state) {
  const int threads = configure_threads();
  const std::int64_t seq = state.range(0);
  const ttt::AttentionSpec spec = llama31_8b();
  const ttt::Attention block(
      spec, ttt::default_impl_config(spec, ttt::Device::N150, ttt::Mode::prefill), weights());
  const ttt::Tensor x = ttt::random_normal({1, seq, 4096}, 10);
  ttt::KVCache cache = ttt::make_kv_cache(spec, block.config(), 1, kCachePositions);
  block.prefill_forward(x, &cache);  // Prepares the weights.
  for (auto _ : state) benchmark::DoNotOptimize(block.prefill_forward(x, &cache));
  state.counters["threads"] = threads;
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(seq * state.iterations()),
                                                  benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AttentionPrefill)
    ->Arg(128)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

// Decode of `batch` users, each at position kCachePositions - 1 (attending to a full cache of
// 1024 positions); the step rewrites the same position every iteration.
void BM_AttentionDecode(benchmark::State& state) {
  const int threads = configure_threads();
  const std::int64_t batch = state.range(0);
  const ttt::AttentionSpec spec = llama31_8b();
  const ttt::Attention block(
      spec, ttt::default_impl_config(spec, ttt::Device::N150, ttt::Mode::decode), weights());
  ttt::KVCache cache = ttt::make_kv_cache(spec, block.config(), batch, kCachePositions);
  // Fill the caches with seeded keys and values in the cache dtype.
  cache.k = ttt::random_normal(cache.k.shape(), 11, 0.0, 1.0, cache.k.dtype());
  cache.v = ttt::random_normal(cache.v.shape(), 12, 0.0, 1.0, cache.v.dtype());
  const ttt::Tensor x = ttt::random_normal({batch, 4096}, 13);
  const ttt::Tensor positions =
      ttt::Tensor::from_int64({batch}, std::vector<std::int64_t>(batch, kCachePositions - 1));
  block.decode_forward(x, positions, cache);  // Prepares the weights.
  for (auto _ : state) benchmark::DoNotOptimize(block.decode_forward(x, positions, cache));
  state.counters["threads"] = threads;
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(batch * state.iterations()),
                                                  benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AttentionDecode)
    ->Arg(1)
    ->Arg(32)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
