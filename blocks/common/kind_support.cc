#include "blocks/common/kind_support.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <variant>

namespace ttt::kind_support {

Mode call_mode(const BlockCall& call) {
  const auto found = call.scalars.find("mode");
  if (found == call.scalars.end()) return Mode::prefill;
  // A traced scalar is a number: the patterns' mesh calls record the Mode's value, as the wrapper
  // records any enum argument.
  if (found->is_number()) {
    if (*found == static_cast<int>(Mode::prefill)) return Mode::prefill;
    if (*found == static_cast<int>(Mode::decode)) return Mode::decode;
    throw std::invalid_argument("[" + call.kind + "] scalar 'mode' must be \"prefill\", " +
                                "\"decode\", 0 (prefill) or 1 (decode), got " + found->dump());
  }
  try {
    return found->get<Mode>();
  } catch (const std::exception& error) {
    throw std::invalid_argument("[" + call.kind + "] scalar 'mode': " + error.what());
  }
}

Device call_device(const BlockCall& call) {
  if (call.device.empty()) return Device::N150;
  try {
    return parse_device(call.device);
  } catch (const std::exception& error) {
    throw std::invalid_argument("[" + call.kind + "] device: " + error.what());
  }
}

InputPlan plan(InputRules call_inputs, const InputRules& weights) {
  call_inputs.insert(call_inputs.end(), weights.begin(), weights.end());
  return {std::move(call_inputs)};
}

namespace {

// A WeightSource of a tensor, undefined for an undefined tensor.
WeightSource source_of(const Tensor& tensor) {
  return tensor.defined() ? WeightSource(tensor) : WeightSource();
}

// "[moe] expected inputs w_gate/0..w_gate/7 (and w_up, w_down): 8 of each, w_down has 7".
std::string group_error(const BlockCall& call, const RepeatedInputs& group,
                        const std::string& member, std::size_t found) {
  const std::string& first = group.each.front().name;
  std::string message = "[" + call.kind + "] expected inputs " + first + "/0.." + first + "/" +
                        std::to_string(group.count - 1);
  if (group.each.size() > 1) {
    message += " (and ";
    for (std::size_t i = 1; i < group.each.size(); ++i) {
      message += (i > 1 ? ", " : "") + group.each[i].name;
    }
    message += ")";
  }
  return message + ": " + std::to_string(group.count) + " of each, " + member + " has " +
         std::to_string(found);
}

}  // namespace

CallWeights::CallWeights(const BlockCall& call, const InputRules& rules) {
  for (const auto& rule : rules) {
    if (const auto* single = std::get_if<InputRule>(&rule)) {
      singles_.push_back({single->name, call.input(single->name)});
      all_.push_back(singles_.back().tensor);
      continue;
    }
    const auto& group = std::get<RepeatedInputs>(rule);
    const auto count = static_cast<std::size_t>(group.count);
    for (const InputRule& member : group.each) {
      std::vector<Tensor> tensors = call.container(member.name);
      if (tensors.size() != count) {
        throw std::invalid_argument(group_error(call, group, member.name, tensors.size()));
      }
      groups_.emplace_back(member.name, std::move(tensors));
    }
    const std::size_t first = groups_.size() - group.each.size();
    for (std::size_t index = 0; index < count; ++index) {
      for (std::size_t member = first; member < groups_.size(); ++member) {
        all_.push_back(groups_[member].second[index]);
      }
    }
  }
}

Tensor CallWeights::operator[](std::string_view name) const {
  for (const NamedTensor& single : singles_) {
    if (single.name == name) return single.tensor;
  }
  return Tensor();
}

WeightSource CallWeights::source(std::string_view name) const { return source_of((*this)[name]); }

std::vector<Tensor> CallWeights::group(std::string_view name) const {
  for (const auto& [member, tensors] : groups_) {
    if (member == name) return tensors;
  }
  return {};
}

Tolerances pcc_at_least(double pcc) {
  Tolerances tolerances;
  tolerances.pcc = pcc;
  return tolerances;
}

Tolerances pcc_and_relative_rmse(double pcc, double max_relative_rmse) {
  Tolerances tolerances = pcc_at_least(pcc);
  // Rounded to 12 significant digits, so that the ceiling prints as the square it is (0.05^2 is
  // 0.0025000000000000005 in binary).
  const double square = max_relative_rmse * max_relative_rmse;
  const double scale = std::pow(10.0, 11.0 - std::floor(std::log10(square)));  // Exact: 10^k.
  tolerances.nmse = std::round(square * scale) / scale;
  return tolerances;
}

std::int64_t call_tokens(Mode mode, const CallShapes& shapes) {
  return mode == Mode::prefill ? shapes.batch * shapes.seq_len : shapes.batch;
}

std::int64_t required_width(std::string_view kind, const CallShapes& shapes) {
  if (shapes.width < 1) {
    throw std::invalid_argument("[" + std::string(kind) +
                                "] the device cost needs shapes.width (values per token of x): "
                                "its Spec holds no tensor width");
  }
  return shapes.width;
}

}  // namespace ttt::kind_support
