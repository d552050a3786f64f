// How a pattern wraps one module call with ttt::compare_to_reference (internal to patterns/).
//
// The wrapper names a call's inputs after the device function's arguments, and `ttt replay`
// binds a block's inputs by those names ("x", "k_cache", "w_gate/0"). A module's inputs differ
// from block to block, so every call is wrapped with one fixed signature of kMaxCallInputs
// arguments of type CallInput: the first ones carry the call's inputs under their names, the
// unused ones are empty and contribute nothing to records or traces.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <source_location>
#include <span>
#include <string>
#include <vector>

#include "blocks/common/weights.h"
#include "patterns/module.h"
#include "validation/tensor/tensor.h"
#include "validation/wrapper/tensor_visit.h"

namespace ttt::pattern_detail {

// One argument of a wrapped module call.
struct CallInput {
  // One tensor (recorded under the argument's name), or a list ("name/0", "name/1", ...).
  std::vector<Tensor> tensors{};
  bool is_list = false;
  // A scalar argument (recorded in the call's scalars), when set; then `tensors` is empty.
  std::optional<std::int64_t> scalar{};
  // The device updates this tensor in place (a KV cache): the reference and the trace get a copy
  // taken before the device runs.
  bool snapshot = false;

  static CallInput tensor(Tensor value, bool snapshot = false) {
    return {{std::move(value)}, false, std::nullopt, snapshot};
  }
  static CallInput number(std::int64_t value) { return {{}, false, value, false}; }
};

// The wrapper's customization point (validation/wrapper/tensor_visit.h).
void ttt_visit_tensors(CallInput& input, TensorVisitor& visit);

// Most arguments one call can have (attention with every optional weight has 14).
inline constexpr std::size_t kMaxCallInputs = 16;

// A device or reference computation over a call's inputs, in the order of the input names.
using CallFunction = std::function<Tensor(std::span<const CallInput> inputs)>;

// What the pattern's options say about every call it wraps.
struct CallSettings {
  std::string device;
  bool teacher_forcing = false;
  bool validate = true;
};

// One module call wrapped under `name` (e.g. "layers.3.attention.decode"), with the block kind,
// Spec and ImplConfig JSON of `info` and one output named "y". The wrapper is built on the first
// call: the names of a module's weights are known once they are loaded, and the records' site is
// that call's `site`, the model code that called the pattern (not this library file).
class ValidatedCall {
 public:
  // `input_names` name the call's own inputs in order ("x", "positions", ...); the module's
  // weights (from `weights`, loaded on the first call) follow them, a "w_gate/0" list as one input
  // "w_gate". The device and reference functions see all inputs, the call's own first.
  ValidatedCall(std::string name, ModuleInfo info, std::vector<std::string> input_names,
                std::function<std::vector<NamedTensor>()> weights, CallSettings settings,
                CallFunction device, CallFunction reference);

  // Runs the call. `site` is where the model called the pattern's public entry point (its
  // defaulted std::source_location); the first call's site is recorded for every call. Throws
  // std::invalid_argument when the call's inputs and the weights are more than kMaxCallInputs.
  // REQUIRES: one input per input name, in their order.
  Tensor operator()(std::vector<CallInput> inputs, const std::source_location& site) const;

  // The wrapped name.
  const std::string& name() const;

 private:
  struct Definition;
  struct Wrapped;
  struct Lazy;  // The Wrapped, built once by the first call.
  static Wrapped wrap(const Definition& definition, const std::source_location& site);

  std::shared_ptr<const Definition> definition_;
  std::shared_ptr<Lazy> wrapped_;
};

// The thresholds of a call: info.tolerances, else those of the replayer registered for
// info.block in BlockRegistry::global(); unset (the wrapper's dtype-aware default) otherwise.
std::optional<Tolerances> call_tolerances(const ModuleInfo& info);

}  // namespace ttt::pattern_detail
