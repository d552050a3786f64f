#include "blocks/ffn/activation.h"

#include <array>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numbers>
#include <stdexcept>
#include <string>
#include <utility>

namespace ttt {
namespace {

constexpr std::array<std::pair<Activation, std::string_view>, 4> kNames{{
    {Activation::gelu, "gelu"},
    {Activation::gelu_tanh, "gelu_tanh"},
    {Activation::relu, "relu"},
    {Activation::silu, "silu"},
}};

void gelu_fp32(std::span<float> values) {
  const float inverse_sqrt2 = static_cast<float>(1.0 / std::numbers::sqrt2);
  for (float& x : values) x = 0.5f * x * (1.0f + std::erf(x * inverse_sqrt2));
}

void gelu_tanh_fp32(std::span<float> values) {
  const float sqrt_2_over_pi = static_cast<float>(std::sqrt(2.0 / std::numbers::pi));
  for (float& x : values) {
    x = 0.5f * x * (1.0f + std::tanh(sqrt_2_over_pi * (x + 0.044715f * x * x * x)));
  }
}

void relu_fp32(std::span<float> values) {
  for (float& x : values) x = x > 0.0f ? x : 0.0f;
}

void silu_fp32(std::span<float> values) {
  for (float& x : values) x = x / (1.0f + std::exp(-x));
}

}  // namespace

std::string_view activation_name(Activation activation) {
  for (const auto& [value, name] : kNames) {
    if (value == activation) return name;
  }
  throw std::invalid_argument("invalid activation value " +
                              std::to_string(static_cast<int>(activation)));
}

Activation parse_activation(std::string_view name) {
  for (const auto& [value, text] : kNames) {
    if (text == name) return value;
  }
  throw std::invalid_argument("unknown activation '" + std::string(name) +
                              "' (expected one of gelu, gelu_tanh, relu, silu)");
}

void to_json(nlohmann::json& json, Activation activation) {
  json = std::string(activation_name(activation));
}

void from_json(const nlohmann::json& json, Activation& activation) {
  if (!json.is_string()) {
    throw std::invalid_argument("expected an activation name string, got " + json.dump());
  }
  activation = parse_activation(json.get_ref<const std::string&>());
}

ActivationKernel activation_kernel(Activation activation) {
  switch (activation) {
    case Activation::gelu:
      return gelu_fp32;
    case Activation::gelu_tanh:
      return gelu_tanh_fp32;
    case Activation::relu:
      return relu_fp32;
    case Activation::silu:
      return silu_fp32;
  }
  throw std::invalid_argument("invalid activation value " +
                              std::to_string(static_cast<int>(activation)));
}

double activation_reference(Activation activation, double x) {
  switch (activation) {
    case Activation::gelu:
      return 0.5 * x * (1.0 + std::erf(x / std::numbers::sqrt2));
    case Activation::gelu_tanh:
      return 0.5 * x *
             (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
    case Activation::relu:
      return x > 0.0 ? x : 0.0;
    case Activation::silu:
      return x / (1.0 + std::exp(-x));
  }
  throw std::invalid_argument("invalid activation value " +
                              std::to_string(static_cast<int>(activation)));
}

}  // namespace ttt
