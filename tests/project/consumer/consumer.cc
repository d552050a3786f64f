// Compares a bfloat16 copy of a tensor with its float32 original through the installed library.
#include <cstdio>

#include "validation/metrics/metrics.h"
#include "validation/tensor/random.h"

int main() {
  const ttt::Tensor reference = ttt::random_normal({4, 64}, /*seed=*/7);
  const ttt::Tensor device = reference.to(ttt::DType::bfloat16);
  const ttt::Metrics metrics = ttt::compute_metrics(device, reference);
  const ttt::Verdict verdict = ttt::evaluate(metrics, ttt::Tolerances::tt_metal_default());
  std::printf("pcc=%.6f %s\n", metrics.pcc, verdict.text().c_str());
  return verdict.passed && metrics.pcc > 0.999 ? 0 : 1;
}
