// The weights of a causal LM: the one list of what a Spec's model reads (named as
// CausalLm::weights() names them), the one seeded-weight scheme, and Hugging Face safetensors
// checkpoints read and written through the "weights" section of the architecture mapping
// (models/architectures/<model_type>.json; docs/models.md "Adding a model").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "models/safetensors.h"
#include "patterns/causal_lm.h"

namespace ttt {

// One weight the model of a Spec reads.
struct ModelWeight {
  std::string path;          // As CausalLm::weights() names it: "layers.0.ffn.w_gate.3".
  std::string pattern;       // The mapping's key: "layers.{i}.ffn.w_gate.{e}".
  std::int64_t layer = -1;   // {i}, or -1.
  std::int64_t expert = -1;  // {e}, or -1.
  Shape shape;               // The blocks' layout ([in, out] for projections).
  // The seeded mean: 1 for a norm's scale (0 for Gemma's 1 + weight), 0 otherwise.
  double seeded_mean = 0.0;
  // The name the seeded generator hashes: the path, except an MoE expert's
  // ("layers.0.ffn.expert3.w_gate", the suites' name since before the mapping existed).
  std::string seed_name;
};

// Every weight `spec`'s model reads, in model order (optional ones only when the Spec has them).
std::vector<ModelWeight> model_weights(const CausalLmSpec& spec);

// Seeded weights for any Spec, drawn lazily (each tensor when first loaded) with the project's
// generator: random_normal(shape, fnv1a64(seed_name) ^ seed, seeded_mean, stddev) in the blocks'
// layout. Matrices, biases and embedding tables are normal(0, stddev); norm scales normal(1,
// stddev), or normal(0, stddev) for Gemma's (1 + weight): the same distributions the suites'
// seeded inputs use, so blocks measured in a suite behave as in the model. The suites, coverage
// and `ttt demo` all draw their models here.
CausalLmWeights seeded_model_weights(const CausalLmSpec& spec, double stddev, std::uint64_t seed);

// Every weight of `weights` (the model of `spec`) loaded, named by its path, in model order: the
// model in the blocks' layout. Throws std::invalid_argument naming a weight the Spec implies that
// `weights` lacks.
std::vector<NamedTensor> named_model_weights(const CausalLmSpec& spec,
                                             const CausalLmWeights& weights);

// Weights loaded lazily from a Hugging Face checkpoint of architecture `model_type`, through its
// mapping's "weights" section (transposed, and cut from fused tensors, when first used). Checks
// now, from the headers only, that every tensor exists with the shape `spec` implies and a
// loadable dtype. Throws std::invalid_argument naming the file, the Hugging Face tensor and the
// weight: "[model_weights] model.safetensors: tensor 'model.layers.0.self_attn.k_proj.weight'
// (layers.0.attention.wk) has shape [64, 64], expected [32, 64]", "... is missing", or the
// mapping's file when it has no entry for a weight the model reads.
CausalLmWeights checkpoint_weights(const CausalLmSpec& spec, const std::string& model_type,
                                   const SafetensorsCheckpoint& checkpoint);

// The tensors of a Hugging Face checkpoint of `weights` (the model of `spec`, architecture
// `model_type`): names, layouts and fused tensors as the mapping says, in model order. Loads
// every weight. Throws std::invalid_argument as checkpoint_weights for an incomplete mapping.
std::vector<NamedTensor> checkpoint_tensors(const CausalLmSpec& spec, const std::string& model_type,
                                            const CausalLmWeights& weights);

// The bytes of a .safetensors file holding seeded_model_weights(spec, stddev, seed) in `dtype`
// ("F32", "F16" or "BF16"): a checkpoint of any mapped architecture for tests and tools.
std::string seeded_checkpoint(const CausalLmSpec& spec, const std::string& model_type,
                              double stddev, std::uint64_t seed, std::string_view dtype);

}  // namespace ttt
