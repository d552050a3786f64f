#include "blocks/common/kind_support.h"

namespace ttt::kind_support {

Mode call_mode(const BlockCall& call) {
  if (!call.scalars.contains("mode")) return Mode::prefill;
  try {
    return call.scalars.at("mode").get<Mode>();
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

Tensor optional_input(const BlockCall& call, bool present, const char* name) {
  return present ? call.input(name) : Tensor();
}

WeightSource source_of(const Tensor& tensor) {
  return tensor.defined() ? WeightSource(tensor) : WeightSource();
}

Tolerances pcc_at_least(double pcc) {
  Tolerances tolerances;
  tolerances.pcc = pcc;
  return tolerances;
}

}  // namespace ttt::kind_support
