// The untyped core of the wrapper: one checked call described by names and values.
//
// A call is a name, named inputs (tensors, scalars, container elements "kv/0", "kv/1", ...), a
// device side and a reference side that compute named outputs, and the description of its
// callable (options, the block's Spec and ImplConfig as JSON objects, the wrapping site). One
// function, run_checked_call(), runs it: the device, then (when validated) the reference, the
// comparison of every output with its tolerances, the record, and the call sinks (call_sink.h:
// registry, traces, coverage, suite capture). compare_to_reference (compare_to_reference.h) is a
// typed layer over it; patterns call it directly with their modules' named inputs.
//
//   auto description = ttt::describe_call("layers.0.mlp", {.input_names = {"x"},
//                                                         .output_names = {"y"}});
//   ttt::Tensor y, expected;
//   ttt::UntypedCall call{.inputs = {.tensors = {{"x", x}}}};
//   call.device = {[&](const ttt::CallInputs& in) { y = device_mlp(in.tensor("x")); },
//                  [&] { return std::vector<ttt::NamedTensor>{{"y", y}}; }};
//   call.reference = {[&](const ttt::CallInputs& in) { expected = reference_mlp(in.tensor("x")); },
//                     [&] { return std::vector<ttt::NamedTensor>{{"y", expected}}; }};
//   ttt::run_checked_call(*description, call);  // y: the device output; the record is kept.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "validation/metrics/metrics.h"
#include "validation/tensor/tensor.h"
#include "validation/wrapper/call_sink.h"
#include "validation/wrapper/registry.h"
#include "validation/wrapper/tensor_visit.h"

namespace ttt {

// MetricsOptions{} without the error histogram (quantiles kept).
inline MetricsOptions without_histogram() {
  MetricsOptions options;
  options.histogram = false;
  return options;
}

// MetricsOptions{} without the second pass (quantiles and histogram): the wrapper's default, since
// that pass costs many times the fused one (docs/PERFORMANCE.md) and reports do not use it.
inline MetricsOptions fused_pass_metrics() {
  MetricsOptions options;
  options.quantiles = false;
  options.histogram = false;
  return options;
}

// How one wrapped callable validates. Every field has a default; blocks fill the provenance group.
struct CompareOptions {
  // Names. Reports, traces and coverage use them; container elements add "/0", "/1", ...
  // Default: "arg0", "arg1", ... REQUIRES: empty or one unique name (no '/') per argument.
  std::vector<std::string> input_names{};
  // Default: "out0", or "out0", "out1", ... when device_fn returns a std::tuple or std::pair (one
  // name per element). REQUIRES: empty or one unique name (no '/') per top-level output.
  std::vector<std::string> output_names{};

  // Tolerances (Polygraphy style): `tolerances` for every output, with `output_tolerances`
  // merged over it (Tolerances::merged) for the outputs it names. A key is an output name
  // ("k_cache/1") or a container's name ("k_cache", covering every element); the longest
  // matching key wins. REQUIRES: every key starts with one of the output names.
  // Default (unset): for each output, default_tolerances(device dtype, reference dtype), the
  // dtype-aware policy of docs/metrics.md. Tolerances::tt_metal_default() is the earlier default.
  std::optional<Tolerances> tolerances{};
  std::map<std::string, Tolerances> output_tolerances{};
  // What compute_metrics computes (rtol/atol for allclose; quantiles and histogram). Default:
  // every metric of the fused pass, no quantiles, no histogram.
  MetricsOptions metrics = fused_pass_metrics();

  // Behaviour.
  // false: this callable never validates (it still passes calls to an active trace session).
  bool enabled = true;
  // Teacher forcing: return the reference output, converted to the device output type
  // (Mappers::to_device_output, else the device output with its tensors replaced by the
  // reference's, each converted to the device tensor's dtype), so that downstream calls see exact
  // inputs. Calls that are not validated return the device output.
  // REQUIRES: a conversion exists (checked when wrapping).
  bool return_reference_output = false;
  // Record the failed call, then throw ValidationError carrying its verdict text.
  bool raise_on_failure = false;
  // Clone the tensors of copied arguments before device_fn runs (see step 1 above). Turn off only
  // for device functions that never modify their arguments, to save the copies.
  bool snapshot_inputs = true;
  // Sampling for this callable; unset: the process-wide setting (switches.h, default: every call).
  std::optional<std::int64_t> sample_every{};  // REQUIRES: >= 1.
  std::optional<std::int64_t> sample_first{};  // REQUIRES: >= 0 (0: no limit).

  // Provenance, when the callable comes from a block (records, traces and coverage keep it).
  std::string block{};                  // Registered block kind, e.g. "attention.decode".
  std::string spec_json = "{}";         // REQUIRES: a JSON object.
  std::string impl_config_json = "{}";  // REQUIRES: a JSON object.
  std::string device{};                 // E.g. "N150".
  // The configuration's fingerprint (docs/fingerprints.md), when the caller knows it: records,
  // traces and coverage carry it. A caller whose calls fall in different shape buckets sets it
  // per call instead (UntypedCall::fingerprint). Unset: calls carry none.
  std::optional<Fingerprint> fingerprint{};
};

// Thrown by a wrapped call with raise_on_failure when the comparison failed (after recording).
class ValidationError : public std::runtime_error {
 public:
  explicit ValidationError(ValidationRecord record);
  // The failed call's record (also in validation_registry()).
  const ValidationRecord& record() const { return record_; }

 private:
  ValidationRecord record_;
};

// A callable's fixed description, built once by describe_call() and shared by every call.
struct CallDescription {
  std::string name;
  CompareOptions options;  // With input and output names filled in.
  // options.spec_json and options.impl_config_json parsed once: sinks receive these objects.
  nlohmann::json spec = nlohmann::json::object();
  nlohmann::json impl_config = nlohmann::json::object();
  SourceLocation location;
  std::shared_ptr<detail::NameState> name_state;
  std::vector<std::pair<std::string, Tolerances>> output_tolerances;  // Longest key first.
};

// Checks `options` and builds the description of a callable called `name`. Missing input_names
// and output_names are filled with `default_input_count` "arg<i>" names and
// `default_output_count` "out<i>" names; given ones must have those counts when the counts are
// set (an untyped caller passes std::nullopt and any number of names).
// Throws std::invalid_argument naming `name` for inconsistent options (names that do not fit,
// an unknown output_tolerances key, bad sampling, provenance JSON that is not an object).
std::shared_ptr<const CallDescription> describe_call(
    std::string name, CompareOptions options,
    const std::source_location& location = std::source_location::current(),
    std::optional<std::size_t> input_count = std::nullopt,
    std::optional<std::size_t> output_count = std::nullopt);

// The named inputs of one call.
struct CallInputs {
  // Tensors by full name: "x", or "kv/0", "kv/1" for the elements of the container "kv".
  std::vector<NamedTensor> tensors{};
  // Scalars by name (recorded and traced, never compared).
  std::vector<std::pair<std::string, ScalarValue>> scalars{};
  // Top-level names of inputs the device updates in place (a KV cache): their tensors are cloned
  // before the device runs, for the reference and the sinks; the device gets the originals.
  std::vector<std::string> updated_in_place{};

  // The tensor called `name`. Throws std::invalid_argument naming it when there is none.
  const Tensor& tensor(std::string_view name) const;
  // The elements "name/0", "name/1", ... in order (empty when there are none).
  std::vector<Tensor> list(std::string_view name) const;
  // The integer scalar called `name`. Throws std::invalid_argument naming it when there is none
  // or it is not an integer.
  std::int64_t integer(std::string_view name) const;
};

// One side of a call (device or reference) in two steps, so that a failure is told apart from a
// failure to read the outputs.
struct CallSide {
  // Computes, from the named inputs. An exception is this side's failure: for the device it is
  // recorded and rethrown, for the reference recorded as the stage "reference".
  std::function<void(const CallInputs& inputs)> run{};
  // The outputs of the run, by name ("y", "k_cache/1"). An exception is recorded as the stage
  // "output_mapping" (device) or "reference_output_mapping" (reference).
  std::function<std::vector<NamedTensor>()> outputs{};
};

// What one call does, decided when it starts (plan_call).
struct CallPlan {
  bool validate = false;
  std::int64_t call_index = -1;
  bool first_call = false;
  detail::SinkSelection sinks;  // The sinks that receive this call.
  // Whether the call is checked at all (validated, or some sink wants it).
  bool checked() const { return validate || !sinks.sinks.empty(); }
  // Whether some receiving sink reads the call's tensors.
  bool captures_tensors() const { return sinks.tensors; }
};

// Decides what the next call of `description` does (switches.h: on/off, filter, sampling; the
// sinks' wants()). Counts the call when it is checked.
CallPlan plan_call(const CallDescription& description);

// One call for run_checked_call.
struct UntypedCall {
  CallInputs inputs{};
  // Set when the inputs could not be prepared ("input_mapping"): the reference does not run.
  std::optional<StageFailure> input_failure{};
  CallSide device{};
  CallSide reference{};
  // Teacher forcing (options.return_reference_output): called after the reference ran with its
  // outputs (nullptr when they could not be read), makes the call return them; returns whether
  // it did. An exception is recorded as the stage "teacher_forcing".
  std::function<bool(const std::vector<NamedTensor>* reference_outputs)> teacher_force{};
  // This call's fingerprint (its shapes' bucket); unset: the description's options.fingerprint.
  std::optional<Fingerprint> fingerprint{};
};

// Runs `call` as `plan` says: the device side (timed), and when validated the reference side
// (timed) and the comparison of every output by name; then the record goes to the plan's sinks.
// Returns the record (its sequence set when validated). Throws what the device threw (after
// recording it), and ValidationError when options.raise_on_failure is set and the call failed.
ValidationRecord run_checked_call(const CallDescription& description, const CallPlan& plan,
                                  UntypedCall& call);

// plan_call() and run_checked_call() in one; an unchecked call runs only the device side (its
// run, not its outputs) and returns an empty record.
ValidationRecord run_checked_call(const CallDescription& description, UntypedCall& call);

namespace detail {
// The tensor called `name` in `tensors`, or nullptr.
const NamedTensor* find_named(const std::vector<NamedTensor>& tensors, std::string_view name);
// The message of an exception: what(), or "unknown exception".
std::string exception_message(std::exception_ptr error);
// Clones the tensors in `tensors` (capture of inputs a reference may modify).
void clone_tensors(std::vector<NamedTensor>& tensors);
}  // namespace detail

}  // namespace ttt
