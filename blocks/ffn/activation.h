// Activation functions of the feed-forward blocks.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string_view>

namespace ttt {

enum class Activation : std::uint8_t {
  gelu,       // x * Phi(x) with the exact erf (torch gelu, approximate="none"; BERT).
  gelu_tanh,  // The tanh approximation (approximate="tanh"; GPT-2, Gemma's GeGLU).
  relu,       // max(x, 0).
  silu,       // x * sigmoid(x) (SwiGLU: Llama, Mistral, Qwen).
};

// "gelu", "gelu_tanh", "relu", "silu".
std::string_view activation_name(Activation activation);
// Throws std::invalid_argument "unknown activation 'x' (expected one of gelu, gelu_tanh, relu,
// silu)".
Activation parse_activation(std::string_view name);
void to_json(nlohmann::json& json, Activation activation);
void from_json(const nlohmann::json& json, Activation& activation);

// The device path's activation: applies the function in float32 in place (std::erf, std::tanh,
// std::exp; the device's SFPU approximations are not modelled, docs/numerics.md). Blocks select
// the function once, at construction.
using ActivationKernel = void (*)(std::span<float> values);
ActivationKernel activation_kernel(Activation activation);

// The references' activation, in float64.
double activation_reference(Activation activation, double x);

}  // namespace ttt
