#include "patterns/internal/validated_call.h"

#include <algorithm>
#include <mutex>
#include <utility>

#include "blocks/common/block_kind.h"
#include "patterns/decoder_layer.h"
#include "validation/registry/block_registry.h"
#include "validation/wrapper/compare_to_reference.h"

namespace ttt::pattern_detail {

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
  DeviceFunction device;
  CallFunction reference;
  InputLayout layout;
};

// What a call's fingerprint needs besides its shapes: the module's block kind, configured, and
// the mode. Unset for a module that is no block kind (ModuleInfo::block "" or unknown).
struct FingerprintBase {
  const BlockKind* kind = nullptr;
  ConfiguredBlock block;
  Mode mode = Mode::prefill;
};

namespace {

// The mode of a call named "<path>.<mode>" of block kind `kind` ("attention.decode" says it too).
std::optional<Mode> call_mode(const std::string& name, const std::string& kind) {
  for (const std::string& text : {kind, name}) {
    if (text.ends_with(".decode")) return Mode::decode;
    if (text.ends_with(".prefill")) return Mode::prefill;
  }
  return std::nullopt;
}

std::optional<FingerprintBase> fingerprint_base(const std::string& name, const ModuleInfo& info) {
  const BlockKind* kind = find_block_kind(info.block);
  const std::optional<Mode> mode = call_mode(name, info.block);
  if (kind == nullptr || !mode) return std::nullopt;
  FingerprintBase base{kind, {}, *mode};
  base.block.spec = nlohmann::json::parse(info.spec_json);
  base.block.impl_config = nlohmann::json::parse(info.impl_config_json);
  base.block.identity = kind->identity(base.block.spec);
  return base;
}

// The shapes of a call from its inputs: batch and seq_len from the kind's activation input (a
// floating tensor's last dimension is its width; prefill [batch, seq, width] or [seq, width],
// decode [batch, width]), context_len from a decode call's "positions" (where the users are).
CallShapes call_shapes(const FingerprintBase& base, const CallInputs& inputs) {
  CallShapes shapes;
  const NamedTensor* activation = detail::find_named(inputs.tensors, base.kind->activation_input);
  if (activation == nullptr || !activation->tensor.defined()) return shapes;
  Shape dims = activation->tensor.shape();
  if (is_floating(activation->tensor.dtype()) && !dims.empty()) dims.pop_back();
  if (base.mode == Mode::decode) {
    for (const std::int64_t dim : dims) shapes.batch *= dim;
    if (const NamedTensor* positions = detail::find_named(inputs.tensors, "positions");
        positions != nullptr && positions->tensor.defined()) {
      for (std::int64_t i = 0; i < positions->tensor.numel(); ++i) {
        shapes.context_len = std::max<std::int64_t>(
            shapes.context_len, static_cast<std::int64_t>(positions->tensor.at_flat(i)));
      }
    }
  } else if (!dims.empty()) {
    shapes.seq_len = dims.back();
    for (std::size_t i = 0; i + 1 < dims.size(); ++i) shapes.batch *= dims[i];
  }
  return shapes;
}

}  // namespace

struct ValidatedCall::Described {
  std::vector<NamedTensor> weights;
  std::shared_ptr<const CallDescription> description;
  std::optional<FingerprintBase> fingerprint;
};

struct ValidatedCall::Lazy {
  std::once_flag once;
  std::optional<Described> value;
};

ValidatedCall::ValidatedCall(std::string name, ModuleInfo info,
                             std::vector<std::string> input_names,
                             std::function<std::vector<NamedTensor>()> weights,
                             CallSettings settings, CallFunction device, CallFunction reference)
    : ValidatedCall(std::move(name), std::move(info), std::move(input_names), std::move(weights),
                    std::move(settings),
                    DeviceFunction([device = std::move(device)](const CallInputs& in) {
                      return DeviceOutput{device(in), nullptr};
                    }),
                    std::move(reference)) {}

ValidatedCall::ValidatedCall(std::string name, ModuleInfo info,
                             std::vector<std::string> input_names,
                             std::function<std::vector<NamedTensor>()> weights,
                             CallSettings settings, DeviceFunction device, CallFunction reference,
                             InputLayout layout)
    : definition_(std::make_shared<const Definition>(Definition{
          std::move(name), std::move(info), std::move(input_names), std::move(weights),
          std::move(settings), std::move(device), std::move(reference), std::move(layout)})),
      wrapped_(std::make_shared<Lazy>()) {}

const std::string& ValidatedCall::name() const { return definition_->name; }

ValidatedCall::Described ValidatedCall::describe(const Definition& definition,
                                                 const std::source_location& site) {
  Described described;
  std::vector<std::string> names = definition.input_names;
  if (definition.weights) described.weights = definition.weights();
  for (const NamedTensor& weight : described.weights) {
    const std::string top = weight.name.substr(0, weight.name.find('/'));
    if (names.empty() || names.back() != top) names.push_back(top);  // "w_gate/1" after "/0".
  }

  CompareOptions options;
  options.input_names = std::move(names);
  options.output_names = {"y"};
  options.tolerances = call_tolerances(definition.info);
  options.enabled = definition.settings.validate;
  options.return_reference_output = definition.settings.teacher_forcing;
  options.snapshot_inputs = false;  // CallInputs::updated_in_place says what the device changes.
  options.block = definition.info.block;
  options.spec_json = definition.info.spec_json;
  options.impl_config_json = definition.info.impl_config_json;
  options.device = definition.settings.device;
  described.description = describe_call(definition.name, std::move(options), site);
  described.fingerprint = fingerprint_base(definition.name, definition.info);
  return described;
}

Tensor ValidatedCall::operator()(CallInputs inputs, const std::source_location& site) const {
  // An exception from describe() leaves the flag unset: the next call tries again.
  std::call_once(wrapped_->once, [&] { wrapped_->value.emplace(describe(*definition_, site)); });
  const Described& described = *wrapped_->value;
  const Definition& definition = *definition_;
  if (definition.layout) definition.layout(inputs);
  inputs.tensors.insert(inputs.tensors.end(), described.weights.begin(), described.weights.end());

  UntypedCall call{std::move(inputs)};
  if (described.fingerprint) {
    const FingerprintBase& base = *described.fingerprint;
    call.fingerprint =
        fingerprint_of(*base.kind, base.block, base.mode, call_shapes(base, call.inputs));
  }
  DeviceOutput y;
  Tensor expected;
  std::optional<Tensor> forced;
  call.device = {[&](const CallInputs& in) { y = definition.device(in); },
                 [&] {
                   return std::vector<NamedTensor>{{"y", y.tensor, y.mesh}};
                 }};
  call.reference = {[&](const CallInputs& in) { expected = definition.reference(in); },
                    [&] {
                      return std::vector<NamedTensor>{{"y", expected}};
                    }};
  if (definition.settings.teacher_forcing) {
    call.teacher_force = [&](const std::vector<NamedTensor>* reference_outputs) {
      if (reference_outputs == nullptr) return false;
      // The reference output in the device output's dtype (a mesh output's: its shards').
      Tensor replaced = y.mesh != nullptr ? y.mesh->shards.at(0) : y.tensor;
      detail::ReplaceVisitor replacer(*reference_outputs);
      replacer("y", replaced);
      forced = std::move(replaced);
      return true;
    };
  }
  run_checked_call(*described.description, call);
  if (forced.has_value()) return std::move(*forced);
  return y.mesh != nullptr ? compose(*y.mesh) : std::move(y.tensor);
}

MeshTensor replicated(const Tensor& x, const Mesh& mesh) {
  return distribute(x, mesh, {Placement::replicate(), Placement::replicate()});
}

InputLayout replicate_input(std::string name, const Mesh& mesh) {
  return [name = std::move(name), mesh](CallInputs& inputs) {
    for (NamedTensor& input : inputs.tensors) {
      if (input.name == name) {
        input.mesh = std::make_shared<const MeshTensor>(replicated(input.tensor, mesh));
      }
    }
  };
}

InputLayout with_mode(InputLayout layout, Mode mode) {
  return [layout = std::move(layout), mode](CallInputs& inputs) {
    layout(inputs);
    inputs.scalars.emplace_back("mode", detail::to_scalar_value(mode));
  };
}

DeviceOutput on_mesh(const MeshTensor& y) { return {Tensor(), detail::gathered_mesh_tensor(y)}; }

const NamedTensor& named_input(const CallInputs& inputs, std::string_view name) {
  for (const NamedTensor& input : inputs.tensors) {
    if (input.name == name) return input;
  }
  inputs.tensor(name);  // Throws naming it.
  throw std::logic_error("unreachable");
}

CallSettings call_settings(const PatternOptions& options) {
  return {options.device, options.teacher_forcing, options.validate};
}

PerMode<std::optional<ValidatedCall>> positionwise_calls(
    const std::shared_ptr<const PositionwiseModule>& module, const std::string& path,
    const PatternOptions& options) {
  PerMode<std::optional<ValidatedCall>> calls;
  if (module == nullptr) return calls;
  const std::optional<Mesh> mesh = module->mesh();
  for (const Mode mode : {Mode::prefill, Mode::decode}) {
    if (mesh.has_value()) {
      calls[mode].emplace(
          path + "." + std::string(mode_name(mode)), module->info(mode),
          std::vector<std::string>{"x"}, [module] { return module->weights(); },
          call_settings(options), DeviceFunction([module, mode](const CallInputs& in) {
            return on_mesh(module->mesh_forward(*named_input(in, "x").mesh, mode));
          }),
          [module](const CallInputs& in) { return module->reference(in.tensor("x")); },
          with_mode(replicate_input("x", *mesh), mode));
      continue;
    }
    calls[mode].emplace(
        path + "." + std::string(mode_name(mode)), module->info(mode),
        std::vector<std::string>{"x"}, [module] { return module->weights(); },
        call_settings(options),
        [module, mode](const CallInputs& in) { return module->forward(in.tensor("x"), mode); },
        [module](const CallInputs& in) { return module->reference(in.tensor("x")); });
  }
  return calls;
}

}  // namespace ttt::pattern_detail
