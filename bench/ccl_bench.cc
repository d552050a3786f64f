// The collectives' emulation cost on a T3K (1x8) at Llama-3.1-70B's width (8192): a decode
// activation of 32 users and a prefill of 1024 tokens (the first argument, rows). Each collective
// runs beside a baseline doing the same bytes' worth of the plain work, so docs/PERFORMANCE.md
// records ratios: all_gather and broadcast against a memcpy of the bytes every device ends with,
// reduce_scatter and all_reduce (ring or line, bfloat16 or float32 partial sums) against a plain
// float32 sum of the same eight shards. The distributed RMSNorm on 1x8 runs beside RmsNorm on 1x1.
//
//   ccl_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Single-threaded: the collectives and norms use no BLAS.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "blocks/ccl/all_gather.h"
#include "blocks/ccl/all_reduce.h"
#include "blocks/ccl/broadcast.h"
#include "blocks/ccl/distributed_rms_norm.h"
#include "blocks/ccl/reduce_scatter.h"
#include "blocks/normalization/rms_norm.h"
#include "validation/mesh/mesh.h"
#include "validation/tensor/random.h"

namespace {

constexpr std::int64_t kHidden = 8192;
constexpr int kDevices = 8;

const ttt::Mesh& t3k() {
  static const ttt::Mesh mesh = ttt::parse_mesh("T3K");
  return mesh;
}

// Eight bfloat16 shards of `shape`, one seed per device.
ttt::MeshTensor shards(const ttt::Shape& shape, std::array<ttt::Placement, 2> placements) {
  ttt::MeshTensor x{t3k(), placements, {}};
  for (int d = 0; d < kDevices; ++d) {
    x.shards.push_back(ttt::random_normal(shape, 10 + d, 0.0, 1.0, ttt::DType::bfloat16));
  }
  return x;
}

// Bytes a collective's output holds over all devices (tensors hold 4 bytes per element).
void set_bytes(benchmark::State& state, std::int64_t elements_per_device) {
  state.SetBytesProcessed(state.iterations() * elements_per_device * kDevices * 4);
}

template <typename Block>
void run(benchmark::State& state, const Block& block, const ttt::MeshTensor& x,
         std::int64_t out_elements) {
  block.forward(x);
  for (auto _ : state) benchmark::DoNotOptimize(block.forward(x));
  set_bytes(state, out_elements);
}

void BM_AllGather(benchmark::State& state) {
  const std::int64_t rows = state.range(0);
  const ttt::AllGatherSpec spec{t3k(), 1, 1};
  const ttt::AllGather block(spec,
                             ttt::default_impl_config(spec, ttt::Device::T3K, ttt::Mode::decode));
  run(state, block,
      shards({rows, kHidden / kDevices}, {ttt::Placement::replicate(), ttt::Placement::shard(1)}),
      rows * kHidden);
}

// Baseline of all_gather and broadcast: every device's [rows, hidden] written by memcpy.
void BM_MemcpyBaseline(benchmark::State& state) {
  const std::int64_t elements = state.range(0) * kHidden;
  const std::vector<float> source(static_cast<std::size_t>(elements), 1.0f);
  std::vector<std::vector<float>> targets(kDevices, std::vector<float>(source.size()));
  for (auto _ : state) {
    for (auto& target : targets) {
      std::memcpy(target.data(), source.data(), source.size() * sizeof(float));
      benchmark::DoNotOptimize(target.data());
    }
    benchmark::ClobberMemory();
  }
  set_bytes(state, elements);
}

void BM_Broadcast(benchmark::State& state) {
  const std::int64_t rows = state.range(0);
  const ttt::BroadcastSpec spec{t3k(), 1, 0};
  const ttt::Broadcast block(spec,
                             ttt::default_impl_config(spec, ttt::Device::T3K, ttt::Mode::decode));
  run(state, block, shards({rows, kHidden}, {}), rows * kHidden);
}

// Second argument: 1 ring, 0 line; third: 1 float32, 0 bfloat16 partial sums.
ttt::CclReduceImplConfig reduce_config(const benchmark::State& state) {
  ttt::CclReduceImplConfig config;
  config.topology = state.range(1) == 1 ? ttt::Topology::ring : ttt::Topology::line;
  config.reduce_dtype = state.range(2) == 1 ? ttt::DType::float32 : ttt::DType::bfloat16;
  return config;
}

void BM_ReduceScatter(benchmark::State& state) {
  const std::int64_t rows = state.range(0);
  const ttt::ReduceScatter block({t3k(), 1, 1}, reduce_config(state));
  run(state, block, shards({rows, kHidden}, {}), rows * kHidden / kDevices);
}

void BM_AllReduce(benchmark::State& state) {
  const std::int64_t rows = state.range(0);
  const ttt::AllReduce block({t3k(), 1, 1}, reduce_config(state));
  run(state, block, shards({rows, kHidden}, {}), rows * kHidden);
}

// Baseline of the reducing collectives: the eight shards summed once in float32.
void BM_Float32SumBaseline(benchmark::State& state) {
  const std::int64_t elements = state.range(0) * kHidden;
  const ttt::MeshTensor x = shards({state.range(0), kHidden}, {});
  std::vector<float> sum(static_cast<std::size_t>(elements));
  for (auto _ : state) {
    std::memcpy(sum.data(), x.shards[0].data<float>(), sum.size() * sizeof(float));
    for (int d = 1; d < kDevices; ++d) {
      const float* values = x.shards[d].data<float>();
      for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += values[i];
    }
    benchmark::DoNotOptimize(sum.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * elements * 4);
}

void BM_DistributedRmsNorm(benchmark::State& state) {
  const std::int64_t rows = state.range(0);
  const ttt::DistributedRmsNormSpec spec{kHidden, 1e-5, false, t3k(), 1};
  const ttt::DistributedRmsNorm norm(
      spec, ttt::default_impl_config(spec, ttt::Device::T3K, ttt::Mode::prefill),
      {ttt::random_normal({kHidden}, 1, 1.0, 0.1)});
  const ttt::MeshTensor x =
      ttt::distribute(ttt::random_normal({rows, kHidden}, 2, 0.0, 1.0, ttt::DType::bfloat16), t3k(),
                      {ttt::Placement::replicate(), ttt::Placement::shard(1)});
  norm.prefill_forward(x);
  for (auto _ : state) benchmark::DoNotOptimize(norm.prefill_forward(x));
  state.counters["tokens_per_s"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsIterationInvariantRate);
}

// Baseline of the distributed RMSNorm: the single-device RmsNorm of the whole [rows, hidden].
void BM_RmsNormOneDevice(benchmark::State& state) {
  const std::int64_t rows = state.range(0);
  const ttt::RmsNormSpec spec{kHidden, 1e-5, false};
  const ttt::RmsNorm norm(spec,
                          ttt::default_impl_config(spec, ttt::Device::N150, ttt::Mode::prefill),
                          {ttt::random_normal({kHidden}, 1, 1.0, 0.1)});
  const ttt::Tensor x = ttt::random_normal({rows, kHidden}, 2, 0.0, 1.0, ttt::DType::bfloat16);
  norm.prefill_forward(x);
  for (auto _ : state) benchmark::DoNotOptimize(norm.prefill_forward(x));
  state.counters["tokens_per_s"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsIterationInvariantRate);
}

// Decode (32 users) and prefill (1024 tokens) activations.
void rows(benchmark::internal::Benchmark* b) { b->Arg(32)->Arg(1024); }
// rows x {line, ring} x {bfloat16, float32} partial sums.
void reduce_args(benchmark::internal::Benchmark* b) {
  for (const std::int64_t r : {32, 1024}) {
    for (const std::int64_t ring : {1, 0}) {
      for (const std::int64_t fp32 : {0, 1}) b->Args({r, ring, fp32});
    }
  }
  b->ArgNames({"rows", "ring", "fp32"});
}

BENCHMARK(BM_AllGather)->Apply(rows)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_Broadcast)->Apply(rows)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_MemcpyBaseline)->Apply(rows)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_ReduceScatter)->Apply(reduce_args)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_AllReduce)->Apply(reduce_args)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_Float32SumBaseline)->Apply(rows)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_DistributedRmsNorm)->Apply(rows)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_RmsNormOneDevice)->Apply(rows)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
