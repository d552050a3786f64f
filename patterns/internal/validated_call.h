// How a pattern runs one module call through the wrapper's untyped core (internal to patterns/).
//
// The wrapper names a call's inputs, and `ttt replay` binds a block's inputs by those names ("x",
// "k_cache", "w_gate/0"). A module call hands its own named inputs (validation/wrapper/
// checked_call.h CallInputs) and the module's weights follow them; the device and reference
// functions read their inputs by name.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

#include "patterns/module.h"
#include "validation/tensor/tensor.h"
#include "validation/wrapper/checked_call.h"

namespace ttt {
struct PatternOptions;  // patterns/decoder_layer.h
}  // namespace ttt

namespace ttt::pattern_detail {

// A device or reference computation over a call's named inputs (its own, then the weights).
using CallFunction = std::function<Tensor(const CallInputs& inputs)>;

// A device computation whose output may be a mesh tensor (a module on a mesh): `mesh` set, with
// every device's shard (gathered), compared whole and device by device; else `tensor`.
struct DeviceOutput {
  Tensor tensor;
  std::shared_ptr<const MeshTensor> mesh;
};
using DeviceFunction = std::function<DeviceOutput(const CallInputs& inputs)>;
// Lays a call's inputs out on a mesh before it runs (sets NamedTensor::mesh), so that records
// and traces keep them as the devices receive them.
using InputLayout = std::function<void(CallInputs& inputs)>;

// x replicated on every device of `mesh`.
MeshTensor replicated(const Tensor& x, const Mesh& mesh);
// An InputLayout giving the input `name` its replicated layout on `mesh`.
InputLayout replicate_input(std::string name, const Mesh& mesh);
// `layout`, then the scalar "mode": the call's Mode as the wrapper records an enum (0 prefill,
// 1 decode), so that `ttt replay` runs a mesh kind's call with that mode's forward.
InputLayout with_mode(InputLayout layout, Mode mode);

// A device output on a mesh: `y`'s shards gathered from the other processes (under MPI).
DeviceOutput on_mesh(const MeshTensor& y);

// The call input `name` with its mesh tensor (set when the pattern laid it out on a mesh).
// Throws std::invalid_argument naming it when there is none.
const NamedTensor& named_input(const CallInputs& inputs, std::string_view name);

// What the pattern's options say about every call it wraps.
struct CallSettings {
  std::string device;
  bool teacher_forcing = false;
  bool validate = true;
};

// One module call checked under `name` (e.g. "layers.3.attention.decode"), with the block kind,
// Spec and ImplConfig of `info` and one output named "y". The call's description is built on the
// first call: the names of a module's weights are known once they are loaded, and the records' site
// is that call's `site`, the model code that called the pattern (not this library file).
class ValidatedCall {
 public:
  // `input_names` name the call's own inputs in order ("x", "positions", ...); the module's
  // weights (from `weights`, loaded on the first call) follow them, a "w_gate/0" list as one input
  // "w_gate". The device and reference functions see all inputs, the call's own first.
  ValidatedCall(std::string name, ModuleInfo info, std::vector<std::string> input_names,
                std::function<std::vector<NamedTensor>()> weights, CallSettings settings,
                CallFunction device, CallFunction reference);
  // The same with a device computation that may return a mesh tensor (the call returns its
  // composed value), and the layout of its inputs on the mesh (none: as given).
  ValidatedCall(std::string name, ModuleInfo info, std::vector<std::string> input_names,
                std::function<std::vector<NamedTensor>()> weights, CallSettings settings,
                DeviceFunction device, CallFunction reference, InputLayout layout = {});

  // Runs the call. `site` is where the model called the pattern's public entry point (its
  // defaulted std::source_location); the first call's site is recorded for every call. Inputs
  // the device updates in place (a KV cache) are listed in inputs.updated_in_place: the reference
  // and the trace see them as they were before the device ran.
  // REQUIRES: `inputs` holds the inputs `input_names` name, in their order.
  Tensor operator()(CallInputs inputs, const std::source_location& site) const;

  // The wrapped name.
  const std::string& name() const;

 private:
  struct Definition;
  struct Described;
  struct Lazy;  // The Described, built once by the first call.
  static Described describe(const Definition& definition, const std::source_location& site);

  std::shared_ptr<const Definition> definition_;
  std::shared_ptr<Lazy> wrapped_;
};

// The thresholds of a call: info.tolerances, else those of the replayer registered for
// info.block in BlockRegistry::global(); unset (the wrapper's dtype-aware default) otherwise.
std::optional<Tolerances> call_tolerances(const ModuleInfo& info);

// The settings every call of a pattern built with `options` shares.
CallSettings call_settings(const PatternOptions& options);

// A positionwise module's calls in both modes, named "<path>.<mode>", with the one input "x";
// none (both empty) for a null module (an optional norm the layer does not have).
PerMode<std::optional<ValidatedCall>> positionwise_calls(
    const std::shared_ptr<const PositionwiseModule>& module, const std::string& path,
    const PatternOptions& options);

}  // namespace ttt::pattern_detail
