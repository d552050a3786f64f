// Speed of a whole decoder layer at Llama-3.1-8B's shapes (hidden 4096, 32 query and 8 key/value
// heads of 128, SwiGLU 14336, RoPE theta 500000 with llama3 scaling), TTTv1's default numerics on
// N150, validation off: prefill of 128 tokens, decode of 1 and of 32 users at position 127.
// The argument mesh 1 runs the same layer tensor parallel on T3K (1x8, in process: TpAttention,
// TpGatedMlp and their reduce-scatters, TTTv1's T3K defaults) beside mesh 0 (1x1): the cost of
// emulating eight devices and their collectives against one (docs/PERFORMANCE.md "Sharded
// decoder layer").
// bench/torch_decoder_layer.py runs the same math in PyTorch on the CPU with the same threads;
// docs/PERFORMANCE.md "Decoder layer" records both.
//
// BM_StreamingRead measures the memory bandwidth of a plain streaming read on the same threads,
// for the weight-bandwidth roofline of decode: a decode step must read every weight once, so it
// cannot take less than (bytes of weights read per step) / bandwidth. The counter
// weight_bytes_per_step gives those bytes for the emulation (float32 weight panels: 4 bytes per
// weight at HiFi2); docs/PERFORMANCE.md divides them by the measured bandwidth.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "blocks/common/matmul.h"
#include "patterns/decoder_layer.h"
#include "validation/mesh/mesh.h"
#include "validation/tensor/random.h"
#include "validation/wrapper/switches.h"

namespace {

using namespace ttt;

constexpr std::int64_t kHidden = 4096;
constexpr std::int64_t kHeads = 32;
constexpr std::int64_t kKvHeads = 8;
constexpr std::int64_t kHeadDim = 128;
constexpr std::int64_t kFfn = 14336;
constexpr std::int64_t kPrefill = 128;
constexpr std::int64_t kMaxBatch = 32;

// Weights the layer multiplies by (norm scales are negligible).
constexpr double kWeights = double(kHidden) * (kHeads + 2 * kKvHeads) * kHeadDim +
                            double(kHeads) * kHeadDim * kHidden +
                            3.0 * double(kHidden) * double(kFfn);

DecoderLayerSpec llama_3_1_8b_layer() {
  DecoderLayerSpec spec;
  const RmsNormSpec norm{kHidden, 1e-5, false};
  spec.attention_norm = norm;
  spec.ffn_norm = norm;
  AttentionSpec& attention = spec.attention;
  attention.hidden_dim = kHidden;
  attention.num_heads = kHeads;
  attention.num_kv_heads = kKvHeads;
  attention.head_dim = kHeadDim;
  attention.rope.head_dim = kHeadDim;
  attention.rope.theta = 500000.0;
  attention.rope.max_position_embeddings = 131072;
  attention.rope.scaling = RopeScaling::llama3;
  attention.rope.factor = 8.0;
  attention.rope.original_max_position_embeddings = 8192;
  spec.ffn = GatedMlpSpec{kHidden, kFfn, Activation::silu};
  return spec;
}

// CPU time of the whole process (every thread: the BLAS threads too), in seconds. On a loaded
// machine it is what a quiet machine would show as wall time x threads busy.
double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         1e-6 * double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

// Runs `step` for every iteration and reports the process CPU time per iteration.
template <typename Step>
void timed_loop(benchmark::State& state, Step step) {
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) step();
  state.counters["process_cpu_ms"] =
      1e3 * (process_cpu_seconds() - cpu_start) / double(state.iterations());
}

// The layer on 1x1 (mesh 0: N150's defaults) or T3K (mesh 1: T3K's defaults, tensor parallel),
// built once each, with the same seeded weights (normal, std 0.02; norm scales around 1).
const DecoderLayer& layer(std::int64_t mesh) {
  const auto build = [](const Mesh& on, Device device) {
    set_validation_enabled(false);
    const DecoderLayerSpec spec = llama_3_1_8b_layer();
    std::uint64_t seed = 1000;
    const auto matrix = [&](std::int64_t rows, std::int64_t cols) {
      return random_normal({rows, cols}, seed++, 0.0, 0.02);
    };
    DecoderLayerWeights weights;
    weights.attention_norm.weight = random_normal({kHidden}, seed++, 1.0, 0.02);
    weights.attention.wq = matrix(kHidden, kHeads * kHeadDim);
    weights.attention.wk = matrix(kHidden, kKvHeads * kHeadDim);
    weights.attention.wv = matrix(kHidden, kKvHeads * kHeadDim);
    weights.attention.wo = matrix(kHeads * kHeadDim, kHidden);
    weights.ffn_norm.weight = random_normal({kHidden}, seed++, 1.0, 0.02);
    weights.ffn =
        GatedMlpWeights{matrix(kHidden, kFfn), matrix(kHidden, kFfn), matrix(kFfn, kHidden)};
    const PerMode<DecoderLayerImplConfig> configs{
        default_impl_config(spec, device, Mode::prefill, std::nullopt, on),
        default_impl_config(spec, device, Mode::decode, std::nullopt, on)};
    return std::make_unique<DecoderLayer>(
        "layers.0", make_decoder_layer_modules(spec, configs, std::move(weights)));
  };
  if (mesh == 0) {
    static const std::unique_ptr<DecoderLayer> one = build(parse_mesh("1x1"), Device::N150);
    return *one;
  }
  static const std::unique_ptr<DecoderLayer> t3k = build(parse_mesh("T3K"), Device::T3K);
  return *t3k;
}

void BM_DecoderLayerPrefill(benchmark::State& state) {
  const DecoderLayer& model = layer(state.range(0));
  const Tensor x = random_normal({1, kPrefill, kHidden}, 1, 0.0, 1.0, DType::bfloat16);
  KVCache cache = model.make_cache(1, kPrefill);
  model.prefill(x, cache);  // Prepares the device weights outside the timing.
  timed_loop(state, [&] { benchmark::DoNotOptimize(model.prefill(x, cache)); });
  state.counters["tokens_per_s"] =
      benchmark::Counter(double(kPrefill), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["blas_threads"] = blas_threads();
}
BENCHMARK(BM_DecoderLayerPrefill)
    ->ArgName("mesh")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_DecoderLayerDecode(benchmark::State& state) {
  const std::int64_t batch = state.range(0);
  const DecoderLayer& model = layer(state.range(1));
  const Tensor x = random_normal({batch, kHidden}, 2, 0.0, 1.0, DType::bfloat16);
  // Every user at position 127: attends to a 128-position history held by the cache.
  KVCache cache = model.make_cache(kMaxBatch, kPrefill);
  cache.k = random_normal(cache.k.shape(), 3, 0.0, 1.0, cache.k.dtype());
  cache.v = random_normal(cache.v.shape(), 4, 0.0, 1.0, cache.v.dtype());
  const Tensor positions =
      Tensor::from_int64({batch}, std::vector<std::int64_t>(batch, kPrefill - 1));
  model.decode(x, positions, cache);  // Prepares the device weights outside the timing.
  timed_loop(state, [&] { benchmark::DoNotOptimize(model.decode(x, positions, cache)); });
  const double weight_bytes = 4.0 * kWeights;  // float32 panels, HiFi2: one panel per weight.
  state.counters["tokens_per_s"] =
      benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weight_bytes_per_step"] = weight_bytes;
  state.counters["blas_threads"] = blas_threads();
}
BENCHMARK(BM_DecoderLayerDecode)
    ->ArgNames({"batch", "mesh"})
    ->ArgsProduct({{1, 32}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Streaming read of 1 GiB, split over the BLAS threads: the bandwidth a weight-bound decode sees.
void BM_StreamingRead(benchmark::State& state) {
  const std::size_t count = std::size_t{1} << 28;  // 1 GiB of float.
  static const std::vector<float> data(count, 1.0f);
  const int threads = blas_threads();
  std::vector<double> sums(static_cast<std::size_t>(threads));
  for (auto _ : state) {
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        const std::size_t begin = count * t / threads;
        const std::size_t end = count * (t + 1) / threads;
        float lanes[16] = {};
        for (std::size_t i = begin; i < end; i += 16) {
          for (int l = 0; l < 16; ++l) lanes[l] += data[i + l];
        }
        double sum = 0;
        for (const float lane : lanes) sum += lane;
        sums[t] = sum;
      });
    }
    for (std::thread& worker : workers) worker.join();
    benchmark::DoNotOptimize(sums.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(count * sizeof(float)));
  state.counters["threads"] = threads;
  // The decode roofline of the emulation: float32 panels read once per step.
  state.counters["decode_weight_bytes"] = 4.0 * kWeights;
}
BENCHMARK(BM_StreamingRead)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
