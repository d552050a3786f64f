#include "suites/suite/internal/block_kinds.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <utility>

#include "blocks/attention/attention.h"
#include "blocks/embeddings/embedding.h"
#include "blocks/ffn/gated_mlp.h"
#include "blocks/ffn/mlp.h"
#include "blocks/ffn/moe.h"
#include "blocks/lm_head/lm_head.h"
#include "blocks/normalization/layer_norm.h"
#include "blocks/normalization/rms_norm.h"
#include "suites/suite/internal/hash.h"
#include "validation/input/allocation_limit.h"
#include "validation/tensor/random.h"

namespace ttt::suite_detail {

// How a seeded input is drawn.
enum class Draw : std::uint8_t { activation, matrix, norm_scale, offset_scale, ids };

namespace {
class Drawer;
}  // namespace

struct KnownKind {
  std::string_view kind;
  ParsedBlock (*parse)(const nlohmann::json& spec, Device device, Mode mode,
                       const std::optional<Preset>& preset, const nlohmann::json& overrides);
  std::string (*identity)(const nlohmann::json& spec);
  // Adds the kind's inputs to `draw`.
  void (*seed)(Drawer& draw, const ParsedBlock& block, Mode mode, const CaseShapes& shapes);
};

namespace {

template <typename Spec>
ParsedBlock parse_typed(const nlohmann::json& spec_json, Device device, Mode mode,
                        const std::optional<Preset>& preset, const nlohmann::json& overrides) {
  const Spec spec = spec_json.get<Spec>();
  spec.validate();
  auto config = preset ? default_impl_config(spec, device, mode, *preset)
                       : default_impl_config(spec, device, mode);
  try {
    nlohmann::json merged = config;
    merged.merge_patch(overrides);
    config = merged.get<decltype(config)>();
    if constexpr (requires { config.validate(spec); }) {
      config.validate(spec);
    } else {
      config.validate();
    }
  } catch (const std::invalid_argument& error) {
    throw ImplConfigError(error.what());
  }
  return {nlohmann::json(spec), nlohmann::json(config), spec.identity()};
}

template <typename Spec>
std::string identity_of(const nlohmann::json& spec_json) {
  return spec_json.get<Spec>().identity();
}

// Draws the named inputs of one case, or (measure_only) adds up their bytes without drawing, so
// that a suite file is checked against the allocation limit before anything is allocated. Both
// refuse inputs whose bytes together exceed the limit, naming the input that crosses it.
class Drawer {
 public:
  Drawer(const SeededInputs& seeded, std::uint64_t seed, bool measure_only)
      : seeded_(seeded), seed_(seed), measure_only_(measure_only) {}

  void add(const std::string& name, const Shape& shape, Draw draw, std::int64_t vocab = 0) {
    if (!reserve(name, shape, draw == Draw::ids ? DType::int64 : DType::float32)) return;
    const std::uint64_t seed = input_seed(seed_, name);
    Tensor tensor;
    switch (draw) {
      case Draw::activation:
        tensor = seeded_activation(shape, seeded_.activation_std, seed);
        break;
      case Draw::matrix:
        tensor = random_normal(shape, seed, 0.0, seeded_.weight_std);
        break;
      case Draw::norm_scale:
        tensor = random_normal(shape, seed, 1.0, seeded_.weight_std);
        break;
      case Draw::offset_scale:
        tensor = random_normal(shape, seed, 0.0, seeded_.weight_std);
        break;
      case Draw::ids:
        tensor = random_integers(shape, seed, 0, vocab, DType::int64);
        break;
    }
    inputs_.tensors.push_back({name, std::move(tensor)});
  }
  // A KV cache: seeded_cache(shape, dtype, filled).
  void add_cache(const std::string& name, const Shape& shape, DType dtype, std::int64_t filled) {
    if (!reserve(name, shape, dtype)) return;
    inputs_.tensors.push_back({name, seeded_cache(shape, dtype, filled, input_seed(seed_, name))});
  }
  // Positions [batch], every user at `position`.
  void add_positions(const std::string& name, std::int64_t batch, std::int64_t position) {
    if (!reserve(name, {batch}, DType::int64)) return;
    inputs_.tensors.push_back({name, uniform_positions(batch, position)});
  }
  // `count` groups of float32 inputs of shapes `each` (the experts of an MoE), checked against the
  // limit at once: adding them one by one would loop `count` times (2^40 for a hostile
  // num_experts) before the total crossed the limit. False when only measuring (the bytes are
  // then counted here); when drawing, add counts each input again as it is drawn.
  bool reserve_repeated(const std::string& what, std::int64_t count,
                        const std::vector<Shape>& each) {
    std::uint64_t group_bytes = 0;
    for (const Shape& shape : each) {
      group_bytes = saturating_add(group_bytes, input_bytes(shape, DType::float32));
    }
    const std::uint64_t total =
        saturating_add(total_bytes_, bytes_of(static_cast<std::uint64_t>(count), group_bytes));
    check_allocation(total, what + ", with the inputs before them,");
    if (!measure_only_) return true;
    total_bytes_ = total;
    return false;
  }
  CaseInputs& inputs() { return inputs_; }

 private:
  static std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
    return std::min(a, std::numeric_limits<std::uint64_t>::max() - b) + b;
  }
  static std::uint64_t input_bytes(const Shape& shape, DType dtype) {
    return bytes_of(static_cast<std::uint64_t>(shape_numel(shape, "seeded input")),
                    element_size(dtype));
  }
  // Counts the input's bytes; false when only measuring.
  bool reserve(const std::string& name, const Shape& shape, DType dtype) {
    total_bytes_ = saturating_add(total_bytes_, input_bytes(shape, dtype));
    check_allocation(total_bytes_, "seeded input '" + name + "' (shape " + shape_to_string(shape) +
                                       "), with the inputs before it,");
    return !measure_only_;
  }

  SeededInputs seeded_;
  std::uint64_t seed_;
  bool measure_only_;
  std::uint64_t total_bytes_ = 0;
  CaseInputs inputs_;
};

void require_shapes(const CaseShapes& shapes, Mode mode, bool uses_context) {
  if (shapes.batch < 1) {
    throw std::invalid_argument("shapes.batch must be >= 1, got " + std::to_string(shapes.batch));
  }
  if (mode == Mode::prefill && shapes.seq_len < 1) {
    throw std::invalid_argument("shapes.seq_len must be >= 1 in prefill, got " +
                                std::to_string(shapes.seq_len));
  }
  if (uses_context && shapes.context_len < 0) {
    throw std::invalid_argument("shapes.context_len must be >= 0, got " +
                                std::to_string(shapes.context_len));
  }
}

// [batch, seq, width] in prefill, [batch, width] in decode.
Shape activation_shape(Mode mode, const CaseShapes& shapes, std::int64_t width) {
  if (mode == Mode::prefill) return {shapes.batch, shapes.seq_len, width};
  return {shapes.batch, width};
}

void seed_rms_norm(Drawer& draw, const ParsedBlock& block, Mode mode,
                   const CaseShapes& shapes) {
  require_shapes(shapes, mode, false);
  const auto spec = block.spec.get<RmsNormSpec>();
  draw.add("x", activation_shape(mode, shapes, spec.dim), Draw::activation);
  draw.add("weight", {spec.dim}, spec.add_unit_offset ? Draw::offset_scale : Draw::norm_scale);
}

void seed_layer_norm(Drawer& draw, const ParsedBlock& block, Mode mode,
                     const CaseShapes& shapes) {
  require_shapes(shapes, mode, false);
  const auto spec = block.spec.get<LayerNormSpec>();
  draw.add("x", activation_shape(mode, shapes, spec.dim), Draw::activation);
  draw.add("weight", {spec.dim}, Draw::norm_scale);
  if (spec.bias) draw.add("bias", {spec.dim}, Draw::matrix);
}

void seed_mlp(Drawer& draw, const ParsedBlock& block, Mode mode,
              const CaseShapes& shapes) {
  require_shapes(shapes, mode, false);
  const auto spec = block.spec.get<MlpSpec>();
  draw.add("x", activation_shape(mode, shapes, spec.hidden_dim), Draw::activation);
  draw.add("w_up", {spec.hidden_dim, spec.ffn_dim}, Draw::matrix);
  draw.add("w_down", {spec.ffn_dim, spec.hidden_dim}, Draw::matrix);
  if (spec.bias) {
    draw.add("b_up", {spec.ffn_dim}, Draw::matrix);
    draw.add("b_down", {spec.hidden_dim}, Draw::matrix);
  }
}

void seed_gated_mlp(Drawer& draw, const ParsedBlock& block, Mode mode,
                    const CaseShapes& shapes) {
  require_shapes(shapes, mode, false);
  const auto spec = block.spec.get<GatedMlpSpec>();
  draw.add("x", activation_shape(mode, shapes, spec.hidden_dim), Draw::activation);
  draw.add("w_gate", {spec.hidden_dim, spec.ffn_dim}, Draw::matrix);
  draw.add("w_up", {spec.hidden_dim, spec.ffn_dim}, Draw::matrix);
  draw.add("w_down", {spec.ffn_dim, spec.hidden_dim}, Draw::matrix);
}

void seed_moe(Drawer& draw, const ParsedBlock& block, Mode mode,
              const CaseShapes& shapes) {
  require_shapes(shapes, mode, false);
  const auto spec = block.spec.get<MoeSpec>();
  draw.add("x", activation_shape(mode, shapes, spec.hidden_dim), Draw::activation);
  draw.add("router", {spec.hidden_dim, spec.num_experts}, Draw::matrix);
  const Shape up{spec.hidden_dim, spec.ffn_dim};
  const Shape down{spec.ffn_dim, spec.hidden_dim};
  if (!draw.reserve_repeated("seeded inputs w_gate, w_up (shape " + shape_to_string(up) +
                                 ") and w_down of " + std::to_string(spec.num_experts) + " experts",
                             spec.num_experts, {up, up, down})) {
    return;
  }
  for (std::int64_t e = 0; e < spec.num_experts; ++e) {
    const std::string index = std::to_string(e);
    draw.add("w_gate/" + index, up, Draw::matrix);
    draw.add("w_up/" + index, up, Draw::matrix);
    draw.add("w_down/" + index, down, Draw::matrix);
  }
}

void seed_lm_head(Drawer& draw, const ParsedBlock& block, Mode mode,
                  const CaseShapes& shapes) {
  require_shapes(shapes, mode, false);
  const auto spec = block.spec.get<LmHeadSpec>();
  draw.add("x", activation_shape(mode, shapes, spec.hidden_dim), Draw::activation);
  draw.add("weight",
           spec.tied_embeddings ? Shape{spec.vocab_size, spec.hidden_dim}
                                : Shape{spec.hidden_dim, spec.vocab_size},
           Draw::matrix);
}

void seed_embedding(Drawer& draw, const ParsedBlock& block, Mode mode,
                    const CaseShapes& shapes) {
  const auto spec = block.spec.get<EmbeddingSpec>();
  const bool learned = spec.positions == PositionEmbedding::learned;
  require_shapes(shapes, mode, mode == Mode::decode);
  const std::int64_t last_position =
      mode == Mode::prefill ? shapes.seq_len - 1 : shapes.context_len;
  if (spec.positions != PositionEmbedding::none && last_position >= spec.max_positions) {
    throw std::invalid_argument("position " + std::to_string(last_position) +
                                " is beyond spec.max_positions " +
                                std::to_string(spec.max_positions));
  }
  if (mode == Mode::prefill) {
    draw.add("ids", {shapes.batch, shapes.seq_len}, Draw::ids, spec.vocab_size);
  } else {
    draw.add("ids", {shapes.batch}, Draw::ids, spec.vocab_size);
    draw.add_positions("positions", shapes.batch, shapes.context_len);
  }
  draw.add("token_weight", {spec.vocab_size, spec.hidden_dim}, Draw::matrix);
  if (learned) draw.add("position_weight", {spec.max_positions, spec.hidden_dim}, Draw::matrix);
}

void add_attention_weights(Drawer& draw, const AttentionSpec& spec) {
  const std::int64_t q = spec.num_heads * spec.dim_per_head();
  const std::int64_t kv = spec.kv_heads() * spec.dim_per_head();
  draw.add("wq", {spec.hidden_dim, q}, Draw::matrix);
  draw.add("wk", {spec.hidden_dim, kv}, Draw::matrix);
  draw.add("wv", {spec.hidden_dim, kv}, Draw::matrix);
  draw.add("wo", {q, spec.hidden_dim}, Draw::matrix);
  if (spec.qkv_bias) {
    draw.add("bq", {q}, Draw::matrix);
    draw.add("bk", {kv}, Draw::matrix);
    draw.add("bv", {kv}, Draw::matrix);
  }
  if (spec.output_bias) draw.add("bo", {spec.hidden_dim}, Draw::matrix);
  if (spec.qk_norm) {
    draw.add("q_norm", {spec.dim_per_head()}, Draw::norm_scale);
    draw.add("k_norm", {spec.dim_per_head()}, Draw::norm_scale);
  }
}

void seed_attention(Drawer& draw, const ParsedBlock& block, Mode mode,
                    const CaseShapes& shapes) {
  require_shapes(shapes, mode, mode == Mode::decode);
  const auto spec = block.spec.get<AttentionSpec>();
  const auto config = block.impl_config.get<AttentionImplConfig>();
  draw.add("x", activation_shape(mode, shapes, spec.hidden_dim), Draw::activation);
  const std::int64_t filled = mode == Mode::prefill ? 0 : shapes.context_len;
  const std::int64_t needed = mode == Mode::prefill ? shapes.seq_len : shapes.context_len + 1;
  const Shape cache{shapes.batch, spec.kv_heads(), cache_length(needed), spec.dim_per_head()};
  if (mode == Mode::decode) {
    draw.add_positions("positions", shapes.batch, shapes.context_len);
  }
  draw.add_cache("k_cache", cache, config.kv_cache_dtype, filled);
  draw.add_cache("v_cache", cache, config.kv_cache_dtype, filled);
  if (mode == Mode::prefill) draw.inputs().scalars["first_slot"] = 0;
  add_attention_weights(draw, spec);
}

constexpr KnownKind kKnownKinds[] = {
    {"attention.decode", parse_typed<AttentionSpec>, identity_of<AttentionSpec>, seed_attention},
    {"attention.prefill", parse_typed<AttentionSpec>, identity_of<AttentionSpec>, seed_attention},
    {"embedding", parse_typed<EmbeddingSpec>, identity_of<EmbeddingSpec>, seed_embedding},
    {"gated_mlp", parse_typed<GatedMlpSpec>, identity_of<GatedMlpSpec>, seed_gated_mlp},
    {"layer_norm", parse_typed<LayerNormSpec>, identity_of<LayerNormSpec>, seed_layer_norm},
    {"lm_head", parse_typed<LmHeadSpec>, identity_of<LmHeadSpec>, seed_lm_head},
    {"mlp", parse_typed<MlpSpec>, identity_of<MlpSpec>, seed_mlp},
    {"moe", parse_typed<MoeSpec>, identity_of<MoeSpec>, seed_moe},
    {"rms_norm", parse_typed<RmsNormSpec>, identity_of<RmsNormSpec>, seed_rms_norm},
};

}  // namespace

const KnownKind* find_known_kind(std::string_view kind) {
  for (const KnownKind& known : kKnownKinds) {
    if (known.kind == kind) return &known;
  }
  return nullptr;
}

std::vector<std::string> known_kind_names() {
  std::vector<std::string> names;
  for (const KnownKind& known : kKnownKinds) names.emplace_back(known.kind);
  return names;
}

ParsedBlock parse_block(const KnownKind& kind, const nlohmann::json& spec, Device device, Mode mode,
                        const std::optional<Preset>& preset,
                        const nlohmann::json& impl_config_overrides) {
  return kind.parse(spec, device, mode, preset, impl_config_overrides);
}

std::string block_identity(const KnownKind& kind, const nlohmann::json& spec) {
  return kind.identity(spec);
}

std::vector<std::string> shape_fields(const KnownKind& kind, Mode mode) {
  std::vector<std::string> fields{"batch"};
  if (mode == Mode::prefill) fields.emplace_back("seq_len");
  if (mode == Mode::decode && (kind.kind == "attention.decode" || kind.kind == "embedding")) {
    fields.emplace_back("context_len");
  }
  return fields;
}

CaseInputs seeded_block_inputs(const KnownKind& kind, const ParsedBlock& block, Mode mode,
                               const CaseShapes& shapes, const SeededInputs& seeded,
                               std::uint64_t seed) {
  if (!(seeded.activation_std > 0.0) || !(seeded.weight_std > 0.0)) {
    throw std::invalid_argument("seeded inputs need activation_std > 0 and weight_std > 0");
  }
  Drawer draw(seeded, seed, /*measure_only=*/false);
  kind.seed(draw, block, mode, shapes);
  return std::move(draw.inputs());
}

void check_seeded_input_bytes(const KnownKind& kind, const ParsedBlock& block, Mode mode,
                              const CaseShapes& shapes) {
  Drawer measure(SeededInputs{}, 0, /*measure_only=*/true);
  kind.seed(measure, block, mode, shapes);
}

Tensor seeded_cache(const Shape& shape, DType dtype, std::int64_t filled, std::uint64_t seed) {
  const std::int64_t max_seq = shape[2];
  const std::int64_t head_dim = shape[3];
  if (filled > max_seq) {
    throw std::invalid_argument("cache of " + std::to_string(max_seq) + " positions cannot hold " +
                                std::to_string(filled));
  }
  std::vector<float> values(static_cast<std::size_t>(shape_numel(shape)), 0.0f);
  if (filled > 0) {
    const Tensor drawn = random_normal({shape_numel(shape)}, seed, 0.0, 1.0);
    const std::span<const float> source = drawn.floats();
    const std::int64_t rows = shape[0] * shape[1];
    for (std::int64_t row = 0; row < rows; ++row) {
      const std::int64_t begin = row * max_seq * head_dim;
      std::copy_n(source.begin() + begin, filled * head_dim, values.begin() + begin);
    }
  }
  return Tensor::from_floats(shape, std::move(values), dtype);
}

Tensor seeded_activation(const Shape& shape, double std, std::uint64_t seed) {
  return random_normal(shape, seed, 0.0, std, DType::bfloat16);
}

Tensor uniform_positions(std::int64_t batch, std::int64_t position) {
  return Tensor::from_int64({batch},
                            std::vector<std::int64_t>(static_cast<std::size_t>(batch), position));
}

std::int64_t cache_length(std::int64_t positions_needed) {
  return std::max<std::int64_t>(32, (positions_needed + 31) / 32 * 32);
}

}  // namespace ttt::suite_detail
