// compare_to_reference overhead with validation off and no trace session: the promise is at most
// 2 ns per call over calling device_fn directly (docs/PERFORMANCE.md). The device functions are
// kept out of line so that both sides pay the same call; the wrapped side adds only the switch
// checks. A validated call on a small tensor is measured for scale.
#include <benchmark/benchmark.h>

#include "validation/tensor/random.h"
#include "validation/wrapper/compare_to_reference.h"

namespace {

[[gnu::noinline]] int add_one(int x) {
  benchmark::DoNotOptimize(x);
  return x + 1;
}

[[gnu::noinline]] const ttt::Tensor& pass_through(const ttt::Tensor& x) {
  benchmark::DoNotOptimize(&x);
  return x;
}

[[gnu::noinline]] ttt::Tensor scale(const ttt::Tensor& x) {
  ttt::Tensor y = x.clone();
  for (float& v : y.mutable_floats()) v *= 2.0f;
  return y;
}

void BM_DirectInt(benchmark::State& state) {
  int x = 0;
  for (auto _ : state) {
    x = add_one(x);
    benchmark::DoNotOptimize(x);
  }
}
BENCHMARK(BM_DirectInt);

void BM_WrappedIntValidationOff(benchmark::State& state) {
  ttt::set_validation_enabled(false);
  auto wrapped = ttt::compare_to_reference(
      "bench.add_one", [](int x) { return add_one(x); }, [](int x) { return x + 1; });
  int x = 0;
  for (auto _ : state) {
    x = wrapped(x);
    benchmark::DoNotOptimize(x);
  }
}
BENCHMARK(BM_WrappedIntValidationOff);

void BM_DirectTensorReference(benchmark::State& state) {
  const ttt::Tensor input = ttt::Tensor::from_floats({4}, {1, 2, 3, 4});
  for (auto _ : state) {
    const ttt::Tensor& out = pass_through(input);
    benchmark::DoNotOptimize(&out);
  }
}
BENCHMARK(BM_DirectTensorReference);

void BM_WrappedTensorReferenceValidationOff(benchmark::State& state) {
  ttt::set_validation_enabled(false);
  auto wrapped = ttt::compare_to_reference(
      "bench.pass_through",
      [](const ttt::Tensor& x) -> const ttt::Tensor& { return pass_through(x); },
      [](const ttt::Tensor& x) { return x; });
  const ttt::Tensor input = ttt::Tensor::from_floats({4}, {1, 2, 3, 4});
  for (auto _ : state) {
    const ttt::Tensor& out = wrapped(input);
    benchmark::DoNotOptimize(&out);
  }
}
BENCHMARK(BM_WrappedTensorReferenceValidationOff);

// For scale: one validated call (device, reference, metrics, record) on 1x4096 float32 values.
void BM_WrappedTensorValidationOn(benchmark::State& state) {
  ttt::set_validation_enabled(true);
  auto wrapped = ttt::compare_to_reference("bench.scale", scale, scale);
  const ttt::Tensor input = ttt::random_normal({1, 4096}, /*seed=*/1);
  std::int64_t calls = 0;
  for (auto _ : state) {
    const ttt::Tensor out = wrapped(input);
    benchmark::DoNotOptimize(out.storage_id());
    if (++calls % 4096 == 0) ttt::validation_registry().clear();  // Bound the registry's memory.
  }
  ttt::validation_registry().clear();
  ttt::set_validation_enabled(false);
}
BENCHMARK(BM_WrappedTensorValidationOn);

}  // namespace

BENCHMARK_MAIN();
