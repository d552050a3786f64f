// The weights of a causal LM: one walk over a Spec's weights (model_weights), filled by the seeded
// generator or by a checkpoint through the mapping's "weights" section.
#include "models/weights.h"

#include <algorithm>
#include <functional>
#include <map>
#include <stdexcept>
#include <utility>
#include <variant>

#include "models/internal/architecture.h"
#include "validation/tensor/fnv.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using models_detail::Architecture;
using models_detail::MappedWeight;

// `text` with {i} and {e} replaced by the weight's layer and expert.
std::string substituted(std::string text, const ModelWeight& weight) {
  for (const auto& [placeholder, value] :
       {std::pair{"{i}", weight.layer}, std::pair{"{e}", weight.expert}}) {
    for (std::size_t at = text.find(placeholder); at != std::string::npos;
         at = text.find(placeholder)) {
      text.replace(at, 3, std::to_string(value));
    }
  }
  return text;
}

// Visits one weight's slot in CausalLmWeights: fills it (building) or reads it (writing).
using SlotVisitor = std::function<void(const ModelWeight&, WeightSource&)>;

// The one walk over a Spec's weights. It visits each weight's slot in `weights`, creating the
// layers, FFN alternatives and experts the Spec has when `weights` does not hold them yet.
class WeightWalk {
 public:
  explicit WeightWalk(SlotVisitor visit) : visit_(std::move(visit)) {}

  void walk(const CausalLmSpec& spec, CausalLmWeights& weights) {
    const EmbeddingSpec& embedding = spec.embedding;
    matrix("embedding.token_weight", {embedding.vocab_size, embedding.hidden_dim},
           weights.token_embedding);
    if (embedding.positions == PositionEmbedding::learned) {
      matrix("embedding.position_weight", {embedding.max_positions, embedding.hidden_dim},
             weights.position_embedding);
    }
    if (spec.embedding_norm) norm(*spec.embedding_norm, "embedding_norm", weights.embedding_norm);
    if (weights.layers.size() < spec.layers.size()) weights.layers.resize(spec.layers.size());
    for (std::size_t i = 0; i < spec.layers.size(); ++i) {
      layer_ = static_cast<std::int64_t>(i);
      const DecoderLayerSpec& layer = spec.layers[i];
      DecoderLayerWeights& layer_weights = weights.layers[i];
      norm(layer.attention_norm, "attention_norm", layer_weights.attention_norm);
      attention(layer.attention, layer_weights.attention);
      if (layer.post_attention_norm) {
        norm(*layer.post_attention_norm, "post_attention_norm", layer_weights.post_attention_norm);
      }
      norm(layer.ffn_norm, "ffn_norm", layer_weights.ffn_norm);
      ffn(layer.ffn, layer_weights.ffn);
      if (layer.post_ffn_norm)
        norm(*layer.post_ffn_norm, "post_ffn_norm", layer_weights.post_ffn_norm);
    }
    layer_ = -1;
    norm(spec.norm, "norm", weights.norm);
    if (!spec.lm_head.tied_embeddings) {
      matrix("lm_head.weight", {spec.lm_head.hidden_dim, spec.lm_head.vocab_size}, weights.lm_head);
    }
  }

 private:
  // `pattern` is the weight's path with {i} for the current layer (and {e} for `expert`);
  // `seed_pattern` the seeded generator's name when it differs from the path.
  void visit(const std::string& pattern, Shape shape, double mean, WeightSource& slot,
             std::int64_t expert = -1, const std::string& seed_pattern = "") {
    ModelWeight weight;
    weight.pattern = pattern;
    weight.layer = pattern.find("{i}") != std::string::npos ? layer_ : -1;
    weight.expert = expert;
    weight.path = substituted(pattern, weight);
    weight.shape = std::move(shape);
    weight.seeded_mean = mean;
    weight.seed_name = seed_pattern.empty() ? weight.path : substituted(seed_pattern, weight);
    visit_(weight, slot);
  }
  void matrix(const std::string& pattern, Shape shape, WeightSource& slot) {
    visit(pattern, std::move(shape), 0.0, slot);
  }
  std::string in_layer(const std::string& rest) const {
    return layer_ < 0 ? rest : "layers.{i}." + rest;
  }

  void norm(const NormSpec& spec, const std::string& module, NormWeights& weights) {
    const std::string path = in_layer(module);
    if (const auto* rms = std::get_if<RmsNormSpec>(&spec)) {
      visit(path + ".weight", {rms->dim}, rms->add_unit_offset ? 0.0 : 1.0, weights.weight);
      return;
    }
    const auto& layer_norm = std::get<LayerNormSpec>(spec);
    visit(path + ".weight", {layer_norm.dim}, 1.0, weights.weight);
    if (layer_norm.bias) visit(path + ".bias", {layer_norm.dim}, 0.0, weights.bias);
  }

  void attention(const AttentionSpec& spec, AttentionWeights& weights) {
    const std::int64_t q = spec.num_heads * spec.dim_per_head();
    const std::int64_t kv = spec.kv_heads() * spec.dim_per_head();
    const std::int64_t hidden = spec.hidden_dim;
    const std::string path = in_layer("attention.");
    matrix(path + "wq", {hidden, q}, weights.wq);
    matrix(path + "wk", {hidden, kv}, weights.wk);
    matrix(path + "wv", {hidden, kv}, weights.wv);
    matrix(path + "wo", {q, hidden}, weights.wo);
    if (spec.qkv_bias) {
      matrix(path + "bq", {q}, weights.bq);
      matrix(path + "bk", {kv}, weights.bk);
      matrix(path + "bv", {kv}, weights.bv);
    }
    if (spec.output_bias) matrix(path + "bo", {hidden}, weights.bo);
    if (spec.qk_norm) {
      visit(path + "q_norm", {spec.dim_per_head()}, 1.0, weights.q_norm);
      visit(path + "k_norm", {spec.dim_per_head()}, 1.0, weights.k_norm);
    }
  }

  // The alternative T of `weights`, emplaced when it holds another.
  template <typename T>
  static T& holding(FfnWeights& weights) {
    if (!std::holds_alternative<T>(weights)) weights.emplace<T>();
    return std::get<T>(weights);
  }

  void ffn(const FfnSpec& spec, FfnWeights& weights) {
    const std::string path = in_layer("ffn.");
    if (const auto* gated = std::get_if<GatedMlpSpec>(&spec)) {
      GatedMlpWeights& mlp = holding<GatedMlpWeights>(weights);
      matrix(path + "w_gate", {gated->hidden_dim, gated->ffn_dim}, mlp.w_gate);
      matrix(path + "w_up", {gated->hidden_dim, gated->ffn_dim}, mlp.w_up);
      matrix(path + "w_down", {gated->ffn_dim, gated->hidden_dim}, mlp.w_down);
      return;
    }
    if (const auto* plain = std::get_if<MlpSpec>(&spec)) {
      MlpWeights& mlp = holding<MlpWeights>(weights);
      matrix(path + "w_up", {plain->hidden_dim, plain->ffn_dim}, mlp.w_up);
      matrix(path + "w_down", {plain->ffn_dim, plain->hidden_dim}, mlp.w_down);
      if (plain->bias) {
        matrix(path + "b_up", {plain->ffn_dim}, mlp.b_up);
        matrix(path + "b_down", {plain->hidden_dim}, mlp.b_down);
      }
      return;
    }
    const auto& moe = std::get<MoeSpec>(spec);
    MoeWeights& experts = holding<MoeWeights>(weights);
    matrix(path + "router", {moe.hidden_dim, moe.num_experts}, experts.router);
    const auto count = static_cast<std::size_t>(moe.num_experts);
    if (experts.experts.size() < count) experts.experts.resize(count);
    const Shape up{moe.hidden_dim, moe.ffn_dim};
    const Shape down{moe.ffn_dim, moe.hidden_dim};
    for (std::int64_t e = 0; e < moe.num_experts; ++e) {
      GatedMlpWeights& expert = experts.experts[static_cast<std::size_t>(e)];
      // Seeded under "expert<e>.<name>": the suites' names since before the mapping existed.
      visit(path + "w_gate.{e}", up, 0.0, expert.w_gate, e, path + "expert{e}.w_gate");
      visit(path + "w_up.{e}", up, 0.0, expert.w_up, e, path + "expert{e}.w_up");
      visit(path + "w_down.{e}", down, 0.0, expert.w_down, e, path + "expert{e}.w_down");
    }
  }

  SlotVisitor visit_;
  std::int64_t layer_ = -1;
};

// [rows, cols] -> [cols, rows], in cache-friendly tiles.
Tensor transposed(const Tensor& matrix) {
  const std::int64_t rows = matrix.dim(0);
  const std::int64_t cols = matrix.dim(1);
  Tensor out({cols, rows}, matrix.dtype());
  const float* in = matrix.data<float>();
  float* target = out.data<float>();
  constexpr std::int64_t kTile = 64;
  for (std::int64_t r0 = 0; r0 < rows; r0 += kTile) {
    for (std::int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const std::int64_t r1 = std::min(rows, r0 + kTile);
      const std::int64_t c1 = std::min(cols, c0 + kTile);
      for (std::int64_t r = r0; r < r1; ++r) {
        for (std::int64_t c = c0; c < c1; ++c) target[c * rows + r] = in[r * cols + c];
      }
    }
  }
  return out;
}

// Where one weight sits in its fused tensor's last (output) dimension, in the blocks' layout:
// `groups` groups (1, or the heads of per_head parts), each holding every part's share in part
// order. An unfused weight is the one part of one group.
struct FusedSlot {
  std::int64_t offset = 0;  // The sum of the earlier parts' sizes.
  std::int64_t size = 0;    // This part's size.
  std::int64_t total = 0;   // The fused dimension.
  std::int64_t groups = 1;

  // The fused index of element j of the part.
  std::int64_t index(std::int64_t j) const {
    const std::int64_t share = size / groups;
    return (j / share) * (total / groups) + offset / groups + j % share;
  }
};

// One Hugging Face tensor and the weights it holds (several when fused, in part order).
struct CheckpointTensor {
  std::string name;
  const MappedWeight* mapping = nullptr;
  std::vector<ModelWeight> parts;
  std::vector<FusedSlot> slots;
  Shape shape;  // Hugging Face's.

  std::string paths() const {
    std::string text;
    for (const ModelWeight& part : parts) {
      if (!part.path.empty()) text += (text.empty() ? "" : ", ") + part.path;
    }
    return text;
  }
};

const Architecture& architecture_of(const std::string& model_type) {
  for (const Architecture& architecture : models_detail::architectures()) {
    if (architecture.model_type == model_type) return architecture;
  }
  throw std::invalid_argument("[model_weights] unmapped architecture '" + model_type + "'");
}

// The checkpoint tensors of `spec`'s model under `architecture`'s mapping, in model order.
std::vector<CheckpointTensor> checkpoint_plan(const CausalLmSpec& spec,
                                              const Architecture& architecture) {
  const std::string where = "[model_weights] " + architecture.file + ": /weights: ";
  if (architecture.weights.empty()) {
    throw std::invalid_argument("[model_weights] " + architecture.file +
                                ": no \"weights\" section: checkpoints of '" +
                                architecture.model_type + "' do not load");
  }
  std::vector<CheckpointTensor> plan;
  std::map<std::string, std::size_t> index_of;
  for (const ModelWeight& weight : model_weights(spec)) {
    const auto mapped =
        std::find_if(architecture.weights.begin(), architecture.weights.end(),
                     [&](const MappedWeight& entry) { return entry.path == weight.pattern; });
    if (mapped == architecture.weights.end()) {
      throw std::invalid_argument(where + "no entry for '" + weight.pattern +
                                  "', which the model reads (" + weight.path + ")");
    }
    const std::string name = substituted(mapped->name, weight);
    const auto [it, added] = index_of.emplace(name, plan.size());
    if (added) plan.push_back(CheckpointTensor{name, &*mapped, {}, {}, {}});
    // Each weight at its part's index (a mapping's parts are numbered 0..parts-1).
    CheckpointTensor& tensor = plan[it->second];
    tensor.parts.resize(static_cast<std::size_t>(mapped->parts));
    tensor.parts[static_cast<std::size_t>(std::max(mapped->part, 0))] = weight;
  }
  for (CheckpointTensor& tensor : plan) {
    const MappedWeight& mapping = *tensor.mapping;
    const auto absent = std::count_if(tensor.parts.begin(), tensor.parts.end(),
                                      [](const ModelWeight& part) { return part.path.empty(); });
    if (absent > 0) {
      throw std::invalid_argument(where + "the model reads " +
                                  std::to_string(mapping.parts - absent) + " of the " +
                                  std::to_string(mapping.parts) + " parts of '" + tensor.name +
                                  "' (" + tensor.paths() + ")");
    }
    Shape fused = tensor.parts.front().shape;
    std::int64_t total = 0;
    for (const ModelWeight& part : tensor.parts) {
      if (part.shape.size() != fused.size() ||
          !std::equal(fused.begin(), fused.end() - 1, part.shape.begin())) {
        throw std::invalid_argument(where + "the parts of '" + tensor.name +
                                    "' differ in shape beyond the fused dimension (" +
                                    tensor.paths() + ")");
      }
      total += part.shape.back();
    }
    fused.back() = total;
    const std::int64_t groups =
        mapping.per_head
            ? spec.layers[static_cast<std::size_t>(tensor.parts.front().layer)].attention.num_heads
            : 1;
    std::int64_t offset = 0;
    for (const ModelWeight& part : tensor.parts) {
      if (part.shape.back() % groups != 0) {
        throw std::invalid_argument(where + "'" + part.path + "' (" +
                                    std::to_string(part.shape.back()) + ") does not split into " +
                                    std::to_string(groups) + " heads");
      }
      tensor.slots.push_back(FusedSlot{offset, part.shape.back(), total, groups});
      offset += part.shape.back();
    }
    tensor.shape = mapping.transpose ? Shape{fused[1], fused[0]} : fused;
  }
  return plan;
}

// The weight in slot `slot` of `fused` (blocks' layout, fused along the last dimension).
Tensor cut(const Tensor& fused, const FusedSlot& slot) {
  if (slot.size == slot.total) return fused;
  Shape shape = fused.shape();
  shape.back() = slot.size;
  Tensor out(shape, DType::float32);
  const std::int64_t rows = fused.numel() / slot.total;
  const float* in = fused.data<float>();
  float* target = out.data<float>();
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t j = 0; j < slot.size; ++j) {
      target[r * slot.size + j] = in[r * slot.total + slot.index(j)];
    }
  }
  return out;
}

// The name of `tensor` in `checkpoint`: as mapped, or without the base model's prefix.
std::string stored_name(const CheckpointTensor& tensor, const Architecture& architecture,
                        const SafetensorsCheckpoint& checkpoint) {
  const std::string prefix = architecture.base_model_prefix + ".";
  if (checkpoint.file_of(tensor.name) == nullptr && !architecture.base_model_prefix.empty() &&
      tensor.name.starts_with(prefix)) {
    const std::string bare = tensor.name.substr(prefix.size());
    if (checkpoint.file_of(bare) != nullptr) return bare;
  }
  return tensor.name;
}

}  // namespace

std::vector<ModelWeight> model_weights(const CausalLmSpec& spec) {
  std::vector<ModelWeight> weights;
  CausalLmWeights unused;
  WeightWalk([&weights](const ModelWeight& weight, WeightSource&) {
    weights.push_back(weight);
  }).walk(spec, unused);
  return weights;
}

CausalLmWeights seeded_model_weights(const CausalLmSpec& spec, double stddev, std::uint64_t seed) {
  CausalLmWeights weights;
  WeightWalk([stddev, seed](const ModelWeight& weight, WeightSource& slot) {
    const std::uint64_t tensor_seed = fnv1a64(weight.seed_name) ^ seed;
    const double mean = weight.seeded_mean;
    slot = WeightSource(weight.shape, [shape = weight.shape, tensor_seed, mean, stddev] {
      return random_normal(shape, tensor_seed, mean, stddev);
    });
  }).walk(spec, weights);
  return weights;
}

CausalLmWeights checkpoint_weights(const CausalLmSpec& spec, const std::string& model_type,
                                   const SafetensorsCheckpoint& checkpoint) {
  const Architecture& architecture = architecture_of(model_type);
  // Where each weight comes from: a stored tensor, transposed or not, and its slot in it.
  struct Source {
    std::string name;
    bool transpose = false;
    FusedSlot slot;
  };
  std::map<std::string, Source> sources;
  for (const CheckpointTensor& tensor : checkpoint_plan(spec, architecture)) {
    const std::string name = stored_name(tensor, architecture, checkpoint);
    const std::string tensor_text = "tensor '" + name + "' (" + tensor.paths() + ")";
    const SafetensorsFile* file = checkpoint.file_of(name);
    if (file == nullptr) {
      throw std::invalid_argument("[model_weights] " + checkpoint.description() + ": " +
                                  tensor_text + " is missing (expected " +
                                  shape_to_string(tensor.shape) + ", " + architecture.file + ")");
    }
    const SafetensorsEntry& entry = *file->find(name);
    if (entry.shape != tensor.shape) {
      throw std::invalid_argument("[model_weights] " + file->path() + ": " + tensor_text +
                                  " has shape " + shape_to_string(entry.shape) + ", expected " +
                                  shape_to_string(tensor.shape));
    }
    if (entry.dtype != "F32" && entry.dtype != "F16" && entry.dtype != "BF16") {
      throw std::invalid_argument("[model_weights] " + file->path() + ": " + tensor_text +
                                  " has dtype " + entry.dtype + "; only F32, F16 and BF16 load");
    }
    for (std::size_t k = 0; k < tensor.parts.size(); ++k) {
      sources[tensor.parts[k].path] = Source{name, tensor.mapping->transpose, tensor.slots[k]};
    }
  }
  CausalLmWeights weights;
  WeightWalk([&sources, checkpoint](const ModelWeight& weight, WeightSource& slot) {
    slot = WeightSource(weight.shape, [source = sources.at(weight.path), checkpoint] {
      const Tensor stored = checkpoint.file_of(source.name)->load(source.name);
      return cut(source.transpose ? transposed(stored) : stored, source.slot);
    });
  }).walk(spec, weights);
  return weights;
}

std::vector<NamedTensor> named_model_weights(const CausalLmSpec& spec,
                                             const CausalLmWeights& weights) {
  std::vector<NamedTensor> named;
  CausalLmWeights given = weights;
  WeightWalk([&named](const ModelWeight& weight, WeightSource& slot) {
    if (!slot.defined()) {
      throw std::invalid_argument("[model_weights] the weights have no " + weight.path +
                                  ", which the Spec implies");
    }
    named.push_back({weight.path, slot.load()});
  }).walk(spec, given);
  return named;
}

std::vector<NamedTensor> checkpoint_tensors(const CausalLmSpec& spec, const std::string& model_type,
                                            const CausalLmWeights& weights) {
  std::map<std::string, Tensor> loaded;
  for (NamedTensor& weight : named_model_weights(spec, weights)) {
    loaded.emplace(std::move(weight.name), std::move(weight.tensor));
  }
  std::vector<NamedTensor> tensors;
  for (const CheckpointTensor& tensor : checkpoint_plan(spec, architecture_of(model_type))) {
    Shape fused = tensor.shape;
    if (tensor.mapping->transpose) fused = Shape{fused[1], fused[0]};
    Tensor out(fused, DType::float32);
    float* target = out.data<float>();
    for (std::size_t k = 0; k < tensor.parts.size(); ++k) {
      const Tensor& part = loaded.at(tensor.parts[k].path);
      const FusedSlot& slot = tensor.slots[k];
      const float* in = part.data<float>();
      const std::int64_t rows = part.numel() / slot.size;
      for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t j = 0; j < slot.size; ++j) {
          target[r * slot.total + slot.index(j)] = in[r * slot.size + j];
        }
      }
    }
    tensors.push_back({tensor.name, tensor.mapping->transpose ? transposed(out) : out});
  }
  return tensors;
}

std::string seeded_checkpoint(const CausalLmSpec& spec, const std::string& model_type,
                              double stddev, std::uint64_t seed, std::string_view dtype) {
  return make_safetensors(
      checkpoint_tensors(spec, model_type, seeded_model_weights(spec, stddev, seed)), dtype);
}

}  // namespace ttt
