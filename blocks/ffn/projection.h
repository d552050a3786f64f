// A device projection whose reduction dimension may be split over chips (internal to blocks/ffn).
//
// With `shards` > 1 each chip multiplies its slice of the input by its slice of the weight's
// rows; its partial result is rounded to the matmul's output dtype, and the chips' partials are
// added in chip order with a rounding to the output dtype after every addition (a ring
// all-reduce). With one shard this is the plain DeviceMatmul.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "blocks/common/matmul.h"
#include "blocks/common/weights.h"

namespace ttt::ffn_detail {

class ShardedProjection {
 public:
  ShardedProjection() = default;
  // REQUIRES: weight [K, N] with K divisible by shards; bias [N] or undefined, stored in
  // `bias_dtype` (the owning block's config.bias_dtype).
  ShardedProjection(MatmulConfig config, WeightSource weight, WeightSource bias,
                    std::int64_t shards, std::string name, DType bias_dtype = DType::bfloat16);

  // x: rows x K values already in the matmul's activation dtype; writes rows x N to `out`.
  void run(const float* x, std::int64_t rows, float* out) const;
  bool prepared() const { return matrices_.ready(); }
  const DeviceMatmul& matmul() const { return matmul_; }

 private:
  DeviceMatmul matmul_{MatmulConfig{}};
  std::int64_t shards_ = 1;
  std::int64_t in_features_ = 0;
  std::int64_t out_features_ = 0;
  Prepared<std::vector<DeviceMatrix>> matrices_;
};

}  // namespace ttt::ffn_detail
