#include "blocks/common/edge_regime.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <span>
#include <stdexcept>
#include <utility>

#include "blocks/common/block_kind.h"
#include "validation/mesh/mesh.h"

namespace ttt {
namespace {

[[noreturn]] void fail(std::string_view regime, const std::string& message) {
  throw std::invalid_argument("[edge regime " + std::string(regime) + "] " + message);
}

NamedTensor& input(std::string_view regime, std::vector<NamedTensor>& inputs,
                   std::string_view name) {
  for (NamedTensor& named : inputs) {
    if (named.name == name) return named;
  }
  fail(regime, "the call has no input '" + std::string(name) + "'");
}

// Rewrites the float input `name` through `change(values, row_length)` in float32 and stores it
// back in its own format (a bfloat16 activation stays bfloat16: device and reference then read the
// same values); a mesh input is distributed again with its placements.
void rewrite(std::string_view regime, std::vector<NamedTensor>& inputs, std::string_view name,
             const std::function<void(std::span<float>, std::int64_t)>& change) {
  NamedTensor& x = input(regime, inputs, name);
  Tensor values = x.tensor.to(DType::float32);  // A new owning copy.
  change(values.mutable_floats(), values.rank() == 0 ? 1 : values.shape().back());
  x.tensor = values.to(x.tensor.dtype());
  if (x.mesh) {
    x.mesh =
        std::make_shared<const MeshTensor>(distribute(x.tensor, x.mesh->mesh, x.mesh->placements));
  }
}

// Rewrites the int64 positions [batch] of a decode call.
void rewrite_positions(std::string_view regime, Mode mode, std::vector<NamedTensor>& inputs,
                       const std::function<std::int64_t(std::int64_t user)>& position) {
  if (mode != Mode::decode) fail(regime, "applies to decode calls only");
  NamedTensor& positions = input(regime, inputs, "positions");
  Tensor changed = positions.tensor.to(DType::int64);  // A new owning copy.
  for (std::int64_t b = 0; b < changed.numel(); ++b) {
    changed.set_flat(b, static_cast<double>(position(b)));
  }
  positions.tensor = std::move(changed);
}

EdgeRegime scaled(const std::string& name, std::string reason, float factor) {
  return {name, std::move(reason),
          [factor, regime = name](const ConfiguredBlock&, Mode, const CallShapes&,
                                  std::vector<NamedTensor>& inputs) {
            rewrite(regime, inputs, "x", [factor](std::span<float> values, std::int64_t) {
              for (float& value : values) value *= factor;
            });
          }};
}

}  // namespace

const EdgeRegime& find_edge_regime(std::string_view kind, const std::vector<EdgeRegime>& regimes,
                                   std::string_view name) {
  std::string declared;
  for (const EdgeRegime& regime : regimes) {
    if (regime.name == name) return regime;
    declared += (declared.empty() ? "" : ", ") + regime.name;
  }
  throw std::invalid_argument("[" + std::string(kind) + "] unknown edge regime '" +
                              std::string(name) +
                              "' (declared: " + (declared.empty() ? "none" : declared) + ")");
}

namespace edge_regimes {

EdgeRegime near_zero_rows() {
  return {"near_zero_rows",
          "padding tokens (zero rows) and rows whose mean square is of the order of eps: where "
          "eps enters (under the root, after it, dropped) changes these rows' outputs by tens of "
          "percent and unit-scale rows by 1e-6, far below bfloat16's resolution",
          [](const ConfiguredBlock&, Mode, const CallShapes&, std::vector<NamedTensor>& inputs) {
            rewrite("near_zero_rows", inputs, "x", [](std::span<float> values, std::int64_t width) {
              const auto rows = static_cast<std::int64_t>(values.size()) / width;
              for (std::int64_t r = 0; r < rows; ++r) {
                const float factor = r % 4 == 0 ? 0.0f : r % 4 == 1 ? 0x1p-9f : 1.0f;
                for (std::int64_t i = 0; i < width; ++i) values[r * width + i] *= factor;
              }
            });
          }};
}

EdgeRegime dc_offset() {
  return {"dc_offset",
          "a large common offset (32 times the spread): a one-pass variance E[x^2] - E[x]^2 "
          "cancels catastrophically and a mean taken over the wrong count shows, while centred "
          "inputs hide both",
          [](const ConfiguredBlock&, Mode, const CallShapes&, std::vector<NamedTensor>& inputs) {
            rewrite("dc_offset", inputs, "x", [](std::span<float> values, std::int64_t) {
              for (float& value : values) value += 32.0f;
            });
          }};
}

EdgeRegime large_magnitude() {
  return scaled("large_magnitude",
                "massive activations (x * 2^16; LLM residual streams reach 1e3-1e4): an overflow "
                "or a lost low part in the statistics, or an eps that still matters at unit scale, "
                "shows only far from unit scale",
                0x1p16f);
}

EdgeRegime saturated_softcap(std::function<double(const nlohmann::json& spec)> cap_of,
                             double factor) {
  return {
      "saturated_softcap",
      "values far past the softcap, on the tanh's flat part: a cap applied as tanh(s) * cap "
      "or tanh(s / cap) alone, or skipped, differs most there; unit-scale scores stay in the "
      "tanh's linear part where cap * tanh(s / cap) is almost s",
      [cap_of = std::move(cap_of), factor](const ConfiguredBlock& block, Mode, const CallShapes&,
                                           std::vector<NamedTensor>& inputs) {
        if (!(cap_of(block.spec) > 0.0))
          fail("saturated_softcap", "needs a Spec with a softcap > 0");
        rewrite("saturated_softcap", inputs, "x", [factor](std::span<float> values, std::int64_t) {
          for (float& value : values) value = static_cast<float>(value * factor);
        });
      }};
}

EdgeRegime users_at_different_positions() {
  return {"users_at_different_positions",
          "a batch whose users sit at different positions (user b at context_len - 3 b): a "
          "kernel that reads every user's position, mask or cache length from user 0 passes "
          "when all users share one position, as the seeded decode inputs do",
          [](const ConfiguredBlock&, Mode mode, const CallShapes& shapes,
             std::vector<NamedTensor>& inputs) {
            if (shapes.batch < 2) fail("users_at_different_positions", "needs shapes.batch >= 2");
            const std::int64_t last = shapes.context_len;
            rewrite_positions("users_at_different_positions", mode, inputs, [last](std::int64_t b) {
              return std::max<std::int64_t>(0, last - 3 * b);
            });
          }};
}

EdgeRegime full_kv_cache() {
  return {
      "full_kv_cache",
      "every user writes and reads the KV cache's last position: an off-by-one in the cache "
      "bound (writing past it, or attending to one position too few) shows only at the end",
      [](const ConfiguredBlock&, Mode mode, const CallShapes&, std::vector<NamedTensor>& inputs) {
        const std::int64_t length = input("full_kv_cache", inputs, "k_cache").tensor.dim(2);
        rewrite_positions("full_kv_cache", mode, inputs,
                          [length](std::int64_t) { return length - 1; });
      }};
}

EdgeRegime past_original_context(
    std::function<std::int64_t(const nlohmann::json& spec)> original_of) {
  return {
      "past_original_context",
      "positions at or past the RoPE scaling's original context, where llama3, yarn and "
      "longrope change the frequencies (longrope switches factor lists): short prompts "
      "only ever see the unscaled part",
      [original_of = std::move(original_of)](const ConfiguredBlock& block, Mode,
                                             const CallShapes& shapes, std::vector<NamedTensor>&) {
        const std::int64_t original = original_of(block.spec);
        if (original <= 0) fail("past_original_context", "needs a Spec with RoPE scaling");
        if (shapes.context_len < original) {
          fail("past_original_context",
               "needs shapes.context_len >= " + std::to_string(original) +
                   " (the scaling's original_max_position_embeddings), got " +
                   std::to_string(shapes.context_len));
        }
      }};
}

}  // namespace edge_regimes
}  // namespace ttt
