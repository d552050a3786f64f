#include "patterns/internal/validated_call.h"

#include <array>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "validation/registry/block_registry.h"
#include "validation/wrapper/compare_to_reference.h"

namespace ttt::pattern_detail {

void ttt_visit_tensors(CallInput& input, TensorVisitor& visit) {
  if (input.scalar.has_value()) {
    visit("", *input.scalar);
  } else if (input.is_list) {
    for (std::size_t i = 0; i < input.tensors.size(); ++i) {
      visit(std::to_string(i), input.tensors[i]);
    }
  } else if (!input.tensors.empty()) {
    visit("", input.tensors.front());
  }
}

std::optional<Tolerances> call_tolerances(const ModuleInfo& info) {
  if (info.tolerances.has_value()) return info.tolerances;
  if (!info.block.empty()) {
    if (const BlockReplayer* replayer = BlockRegistry::global().find(info.block)) {
      return replayer->tolerances;
    }
  }
  return std::nullopt;
}

struct ValidatedCall::Definition {
  std::string name;
  ModuleInfo info;
  std::vector<std::string> input_names;
  std::function<std::vector<NamedTensor>()> weights;
  CallSettings settings;
  CallFunction device;
  CallFunction reference;
};

struct ValidatedCall::Wrapped {
  std::vector<CallInput> weights;
  std::function<Tensor(std::vector<CallInput>&)> call;
};

struct ValidatedCall::Lazy {
  std::once_flag once;
  std::optional<Wrapped> value;
};

namespace {

template <std::size_t>
using InputArgument = const CallInput&;

// A CallFunction seen through the fixed signature: the first `count` arguments are the inputs.
template <typename Indices>
struct FixedArity;

template <std::size_t... I>
struct FixedArity<std::index_sequence<I...>> {
  CallFunction function;
  std::size_t count = 0;

  Tensor operator()(InputArgument<I>... arguments) const {
    const std::array<const CallInput*, sizeof...(I)> all{&arguments...};
    std::vector<CallInput> inputs;
    inputs.reserve(count);
    for (std::size_t i = 0; i < count; ++i) inputs.push_back(*all[i]);
    return function(inputs);
  }
};

template <typename Indices>
struct SignatureOf;
template <std::size_t... I>
struct SignatureOf<std::index_sequence<I...>> {
  using type = Tensor(InputArgument<I>...);
};

using Indices = std::make_index_sequence<kMaxCallInputs>;
using Signature = SignatureOf<Indices>::type;

// What the reference and the trace receive for an argument: the same tensors, or copies taken
// before the device runs for a tensor the device updates in place.
CallInput snapshot_of(const CallInput& input) {
  CallInput copy = input;
  if (copy.snapshot) {
    for (Tensor& tensor : copy.tensors) tensor = tensor.clone();
  }
  return copy;
}

template <std::size_t... I>
std::function<Tensor(std::vector<CallInput>&)> make_call(
    const std::string& name, CompareOptions options, FixedArity<Indices> device,
    FixedArity<Indices> reference, const std::source_location& site, std::index_sequence<I...>) {
  auto callable =
      compare_to_reference<Signature>(name, std::move(device), std::move(reference),
                                      std::move(options), mappers().with_input(snapshot_of), site);
  return [callable = std::move(callable)](std::vector<CallInput>& inputs) {
    inputs.resize(kMaxCallInputs);
    return callable(inputs[I]...);
  };
}

}  // namespace

ValidatedCall::ValidatedCall(std::string name, ModuleInfo info,
                             std::vector<std::string> input_names,
                             std::function<std::vector<NamedTensor>()> weights,
                             CallSettings settings, CallFunction device, CallFunction reference)
    : definition_(std::make_shared<const Definition>(
          Definition{std::move(name), std::move(info), std::move(input_names), std::move(weights),
                     std::move(settings), std::move(device), std::move(reference)})),
      wrapped_(std::make_shared<Lazy>()) {}

const std::string& ValidatedCall::name() const { return definition_->name; }

ValidatedCall::Wrapped ValidatedCall::wrap(const Definition& definition,
                                           const std::source_location& site) {
  Wrapped wrapped;
  std::vector<std::string> names = definition.input_names;
  for (const NamedTensor& weight :
       definition.weights ? definition.weights() : std::vector<NamedTensor>{}) {
    const std::size_t slash = weight.name.find('/');
    const std::string top = weight.name.substr(0, slash);
    if (slash != std::string::npos && !names.empty() && names.back() == top &&
        !wrapped.weights.empty() && wrapped.weights.back().is_list) {
      wrapped.weights.back().tensors.push_back(weight.tensor);
      continue;
    }
    names.push_back(top);
    CallInput input = CallInput::tensor(weight.tensor);
    input.is_list = slash != std::string::npos;
    wrapped.weights.push_back(std::move(input));
  }
  if (names.size() > kMaxCallInputs) {
    throw std::invalid_argument("[" + definition.name + "] " + std::to_string(names.size()) +
                                " inputs (with the weights), at most " +
                                std::to_string(kMaxCallInputs) + " are supported");
  }
  const std::size_t count = names.size();
  for (std::size_t i = count; i < kMaxCallInputs; ++i) {
    names.push_back("unused" + std::to_string(i));
  }

  CompareOptions options;
  options.input_names = std::move(names);
  options.output_names = {"y"};
  options.tolerances = call_tolerances(definition.info);
  options.enabled = definition.settings.validate;
  options.return_reference_output = definition.settings.teacher_forcing;
  options.snapshot_inputs = false;  // snapshot_of copies what the device changes; weights never.
  options.block = definition.info.block;
  options.spec_json = definition.info.spec_json;
  options.impl_config_json = definition.info.impl_config_json;
  options.device = definition.settings.device;
  wrapped.call =
      make_call(definition.name, std::move(options), FixedArity<Indices>{definition.device, count},
                FixedArity<Indices>{definition.reference, count}, site, Indices{});
  return wrapped;
}

Tensor ValidatedCall::operator()(std::vector<CallInput> inputs,
                                 const std::source_location& site) const {
  // An exception from wrap() leaves the flag unset: the next call tries again.
  std::call_once(wrapped_->once, [&] { wrapped_->value.emplace(wrap(*definition_, site)); });
  const Wrapped& wrapped = *wrapped_->value;
  inputs.insert(inputs.end(), wrapped.weights.begin(), wrapped.weights.end());
  return wrapped.call(inputs);
}

}  // namespace ttt::pattern_detail
