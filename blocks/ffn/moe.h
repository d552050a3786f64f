// Mixture of experts (Mixtral semantics): router logits = x · W_router; each token takes the
// top_k experts by logit, weights them by a softmax over the selected logits only, and sums the
// weighted outputs of those experts, each a gated MLP.
//
// Device numerics (TTTv1's Mixtral on T3K, one expert per chip): router matmul with bfloat16
// weights; top-k on the bfloat16 logits (ties go to the lower expert index); softmax in float32,
// routing weights stored as bfloat16; each expert is a GatedMlp with its own ImplConfig; the
// weighted expert outputs are all-reduced in expert order, rounded to `combine_dtype` after every
// addition.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <vector>

#include "blocks/common/device.h"
#include "blocks/common/matmul.h"
#include "blocks/common/weights.h"
#include "blocks/ffn/gated_mlp.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// The mathematics of the block.
struct MoeSpec {
  std::int64_t hidden_dim = 0;   // Model width. REQUIRES: > 0.
  std::int64_t ffn_dim = 0;      // Each expert's intermediate width. REQUIRES: > 0.
  std::int64_t num_experts = 0;  // REQUIRES: > 0.
  std::int64_t top_k = 0;        // Experts per token. REQUIRES: 1 <= top_k <= num_experts.
  Activation activation = Activation::silu;

  // Throws std::invalid_argument "[moe] spec.top_k 3 exceeds spec.num_experts 2".
  void validate() const;
  // The spec of one expert.
  GatedMlpSpec expert_spec() const { return {hidden_dim, ffn_dim, activation}; }
  // "MOE(hidden=4096,ffn=14336,experts=8,top_k=2,act=silu)".
  std::string identity() const;

  bool operator==(const MoeSpec&) const = default;
};

// The device knobs.
struct MoeImplConfig {
  // The router. Default: bfloat16 input and weights, bfloat16 logits, HiFi4, fp32 accumulation.
  MatmulConfig router{DType::bfloat16, DType::bfloat16, DType::bfloat16, MathFidelity::HiFi4,
                      Accumulation::fp32};
  // Every expert. Default: the gated MLP's defaults on one chip (reduction_shards 1).
  GatedMlpImplConfig expert;
  // Format the weighted expert outputs are summed in, and of the result. Default: bfloat16.
  DType combine_dtype = DType::bfloat16;

  void validate(const MoeSpec& spec) const;

  bool operator==(const MoeImplConfig&) const = default;
};

// TTTv1's Mixtral settings: experts with the gated MLP defaults (performance: FF1/FF3 in
// bfloat4_b with LoFi) and each expert whole on one chip on every device.
MoeImplConfig default_impl_config(const MoeSpec& spec, Device device, Mode mode);
MoeImplConfig default_impl_config(const MoeSpec& spec, Device device, Mode mode, Preset preset);

// read_json reads through the strict JSON reader: errors name the node's source and JSON path
// (docs/design.md "Reading JSON"); from_json (nlohmann's get<>) names the struct as source.
class JsonNode;

// JSON: {"hidden_dim": 4096, "ffn_dim": 14336, "num_experts": 8, "top_k": 2, "activation":
// "silu"}; ImplConfig {"router": {...}, "expert": {...}, "combine_dtype": "bfloat16"}.
void to_json(nlohmann::json& json, const MoeSpec& spec);
void from_json(const nlohmann::json& json, MoeSpec& spec);
void read_json(const JsonNode& node, MoeSpec& spec);
void to_json(nlohmann::json& json, const MoeImplConfig& config);
void from_json(const nlohmann::json& json, MoeImplConfig& config);
void read_json(const JsonNode& node, MoeImplConfig& config);

// One selected expert of a token.
struct ExpertChoice {
  std::int64_t expert = 0;
  float weight = 0.0f;
  bool operator==(const ExpertChoice&) const = default;
};

// The device's routing of one token: the top_k experts by logit (larger first, ties to the lower
// index) with the float32 softmax of their logits, each weight rounded to bfloat16.
// REQUIRES: 1 <= top_k <= logits.size().
std::vector<ExpertChoice> select_experts(std::span<const float> logits, std::int64_t top_k);

// The reference weights: the router [hidden, num_experts] and one gated MLP per expert (the
// BlockKind's "router" and "w_gate/<e>", "w_up/<e>", "w_down/<e>" are router and experts[e]).
struct MoeWeights {
  WeightSource router;
  std::vector<GatedMlpWeights> experts;
};

// Checks the router, one expert per spec.num_experts and every expert's weights without loading:
// "[moe] w_up/3 has shape [64, 96], expected [64, 128]", "[moe] got weights for 7 experts,
// spec.num_experts is 8".
void validate(const MoeSpec& spec, const MoeWeights& weights);

// The experts a Moe holds: `count` experts from `first` (expert indices of the spec).
struct ExpertRange {
  std::int64_t first = 0;
  std::int64_t count = 0;
  bool operator==(const ExpertRange&) const = default;
};

class Moe {
 public:
  // Validates the spec, the config and the weights' shapes without loading anything. An expert's
  // weights load the first time a token is routed to it.
  Moe(MoeSpec spec, MoeImplConfig config, MoeWeights weights);
  // A Moe holding only the experts of `held` (one device of an expert-parallel MoE,
  // blocks/ffn/ep_moe.h): it routes every token as the whole Moe does but runs and sums only
  // its experts (in expert order, as the whole Moe), so its output is the weighted sum of their
  // outputs alone. The other experts' weights are checked, never kept or loaded. Throws
  // "[moe] experts 6..9 are not all among spec.num_experts 8".
  Moe(MoeSpec spec, MoeImplConfig config, MoeWeights weights, ExpertRange held);

  const MoeSpec& spec() const { return spec_; }
  const MoeImplConfig& config() const { return config_; }
  const ExpertRange& held() const { return held_; }
  // True when the router and expert `expert` (one this Moe holds) have prepared their device
  // weights.
  bool expert_prepared(std::int64_t expert) const;

  // x [..., seq, hidden] -> same shape in combine_dtype.
  Tensor prefill_forward(const Tensor& x) const;
  // x [batch, hidden].
  Tensor decode_forward(const Tensor& x) const;

 private:
  Tensor forward(const Tensor& x) const;

  MoeSpec spec_;
  MoeImplConfig config_;
  ExpertRange held_;
  DeviceMatmul router_matmul_;
  Prepared<DeviceMatrix> router_;
  std::vector<GatedMlp> experts_;  // The held experts, held_.first + i at i.
};

// The reference's routing of one token (float64 logits; same tie rule).
std::vector<std::pair<std::int64_t, double>> select_experts_reference(
    std::span<const double> logits, std::int64_t top_k);

// The reference in float64 on the given float32 values: x [..., hidden], returns float32. An
// expert's weights are loaded when a token is first routed to it.
Tensor moe_reference(const MoeSpec& spec, const MoeWeights& weights, const Tensor& x);

}  // namespace ttt
