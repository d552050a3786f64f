// Test helper shared by the block tests: compare a device output with its reference, print the
// measured figures (the source of the accuracy table in docs/blocks.md) and assert the bounds.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <string>

#include "validation/metrics/metrics.h"
#include "validation/tensor/tensor.h"

namespace ttt::testing_blocks {

// What a block must meet on a case: PCC at least `min_pcc`, max abs error at most
// `max_abs_error`.
struct AccuracyBound {
  double min_pcc = 0.99;
  double max_abs_error = 1e-2;
};

// Prints "[accuracy] <identity> <config> pcc=... max_abs_error=..." and checks the bound.
inline void expect_accuracy(const Tensor& device, const Tensor& reference,
                            const std::string& identity, const std::string& config,
                            const AccuracyBound& bound) {
  MetricsOptions options;
  options.quantiles = false;
  options.histogram = false;
  const Metrics metrics = compute_metrics(device, reference, options);
  std::printf("[accuracy] %s %s pcc=%.6f max_abs_error=%.4g\n", identity.c_str(), config.c_str(),
              metrics.pcc, metrics.max_abs_error);
  EXPECT_GE(metrics.pcc, bound.min_pcc) << identity << " " << config;
  EXPECT_LE(metrics.max_abs_error, bound.max_abs_error) << identity << " " << config;
  EXPECT_EQ(metrics.nan_actual, 0) << identity << " " << config;
}

// GoogleTest parameter names "<model>_<config_name>" with non-alphanumerics replaced by '_', for
// cases with `model` and `config_name` members.
struct CaseName {
  template <typename Case>
  std::string operator()(const ::testing::TestParamInfo<Case>& param) const {
    std::string name = param.param.model + "_" + param.param.config_name;
    for (char& ch : name) {
      if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    }
    return name;
  }
};

}  // namespace ttt::testing_blocks
