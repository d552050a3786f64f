#include "blocks/ffn/projection.h"

#include <algorithm>
#include <span>
#include <utility>

#include "validation/tensor/formats.h"

namespace ttt::ffn_detail {

ShardedProjection::ShardedProjection(MatmulConfig config, WeightSource weight, WeightSource bias,
                                     std::int64_t shards, std::string name, DType bias_dtype)
    : matmul_(config),
      shards_(shards),
      in_features_(weight.shape().at(0)),
      out_features_(weight.shape().at(1)) {
  matrices_ =
      Prepared<std::vector<DeviceMatrix>>([matmul = matmul_, weight = std::move(weight),
                                           bias = std::move(bias), shards, name = std::move(name),
                                           bias_dtype] {
        const Tensor full = weight.load();
        const std::int64_t k = full.dim(0);
        const std::int64_t n = full.dim(1);
        const std::int64_t slice = k / shards;
        const Tensor shift = bias.defined() ? bias.load() : Tensor();
        std::vector<DeviceMatrix> matrices;
        for (std::int64_t s = 0; s < shards; ++s) {
          const std::span<const float> rows = full.floats().subspan(
              static_cast<std::size_t>(s * slice * n), static_cast<std::size_t>(slice * n));
          const Tensor part =
              shards == 1
                  ? full
                  : Tensor::from_floats({slice, n}, std::vector<float>(rows.begin(), rows.end()));
          // The bias is added once, by the first chip.
          matrices.push_back(
              matmul.prepare(part, s == 0 ? shift : Tensor(), name.c_str(), bias_dtype));
        }
        return matrices;
      });
}

void ShardedProjection::run(const float* x, std::int64_t rows, float* out) const {
  const std::vector<DeviceMatrix>& matrices = matrices_.get();
  const std::int64_t slice = in_features_ / shards_;
  const auto out_count = static_cast<std::size_t>(rows * out_features_);
  std::vector<float> input(static_cast<std::size_t>(rows * slice));
  std::vector<float> partial(out_count);
  for (std::int64_t s = 0; s < shards_; ++s) {
    for (std::int64_t r = 0; r < rows; ++r) {
      std::copy_n(x + r * in_features_ + s * slice, slice, input.data() + r * slice);
    }
    float* target = s == 0 ? out : partial.data();
    matmul_.run(input.data(), rows, matrices[static_cast<std::size_t>(s)], target);
    if (s > 0) {
      for (std::size_t i = 0; i < out_count; ++i) out[i] += partial[i];
      quantize_in_place(std::span<float>(out, out_count), out_features_,
                        matmul_.config().output_dtype);
    }
  }
}

}  // namespace ttt::ffn_detail
