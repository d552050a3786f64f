// Call sinks: the one way a checked call's data leaves the wrapper.
//
// Every call the wrapper checks (compare_to_reference, or the untyped core of checked_call.h) is
// handed, once it is complete, to the sinks that asked for it. The validation registry, trace
// capture (validation/trace/capture.h), coverage collection (coverage/collector.h) and the input
// capture of suites (with_inputs_from) are all sinks; a user adds one the same way:
//
//   class CountCalls final : public ttt::CallSink {
//    public:
//     bool wants(std::string_view name, bool validated) override { return validated; }
//     void on_call(const ttt::CheckedCall& call) override { if (!call.record.passed) ++failed; }
//     std::atomic<int> failed{0};
//   };
//   auto counter = std::make_shared<CountCalls>();
//   ttt::ScopedCallSink scope(counter);   // add_call_sink() now, remove_call_sink() at scope end.
//
// The registry and the trace session are built in: the registry receives every validated call;
// the trace sink receives the calls the active trace session wants (docs/trace-format.md).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string_view>
#include <vector>

#include "validation/tensor/tensor.h"
#include "validation/wrapper/registry.h"

namespace ttt {

// One call as the sinks see it. Everything it refers to lives until on_call returns; a sink that
// keeps tensors copies the handles (or clones them, to be safe from later in-place updates).
struct CheckedCall {
  // What the registry keeps: name, call index, site, input shapes, scalars, errors, times and
  // provenance; the outputs' metrics and the verdict (and sequence) when `validated`.
  const ValidationRecord& record;
  // The call was compared against its reference.
  bool validated = false;
  // False when device_fn threw (the call is recorded, then the exception is rethrown): no outputs.
  bool device_returned = true;
  // The block's Spec and ImplConfig as JSON objects ({} when the callable is not a block).
  const nlohmann::json& spec;
  const nlohmann::json& impl_config;
  // The inputs as the reference received them, taken before the reference (and, for inputs the
  // device updates in place, before the device) ran. Names: "x", or "kv/0" for container elements.
  const std::vector<NamedTensor>& inputs;
  // The device outputs ("out0", "k_cache/1", ...).
  const std::vector<NamedTensor>& outputs;
  // The reference outputs: empty unless validated and some receiving sink asked for them.
  const std::vector<NamedTensor>& reference_outputs;
};

// A receiver of checked calls. Implementations must be thread-safe: calls arrive from every
// thread that runs wrapped callables.
class CallSink {
 public:
  virtual ~CallSink() = default;

  // Whether the sink receives the call of `name` that is about to run; `validated` says whether it
  // will be compared. Asked on the calling thread before device_fn runs, once per call.
  virtual bool wants(std::string_view name, bool validated) = 0;

  // Receives a call wants() accepted, once the record is complete (before a raise_on_failure
  // ValidationError is thrown). An exception is caught and dropped: a sink never stops a model.
  virtual void on_call(const CheckedCall& call) = 0;

  // Whether the sink may want calls that are not validated. Such a sink makes every wrapped call
  // ask wants() even with validation off (the cost of one checked call's bookkeeping). Read once,
  // when the sink is added. Default: validated calls only, so nothing is spent with validation off.
  virtual bool sees_unvalidated_calls() const { return false; }
  // Whether on_call reads tensors (inputs, outputs). A sink that only reads the record lets the
  // wrapper skip the input snapshots taken for sinks. Default: true.
  virtual bool reads_tensors() const { return true; }
  // Whether on_call needs the reference outputs. Default: false.
  virtual bool wants_reference_outputs() const { return false; }
};

// Adds `sink` after the built-in ones (registry, trace) and those added before. Returns the id
// remove_call_sink() takes. REQUIRES: sink is not null.
std::int64_t add_call_sink(std::shared_ptr<CallSink> sink);
// Removes the sink with this id (no effect for an unknown id). A call already dispatched to it on
// another thread finishes (the sink is kept alive by that call).
void remove_call_sink(std::int64_t id);

// RAII: add_call_sink() in the constructor, remove_call_sink() in the destructor.
class ScopedCallSink {
 public:
  explicit ScopedCallSink(std::shared_ptr<CallSink> sink) : id_(add_call_sink(std::move(sink))) {}
  ~ScopedCallSink() { remove_call_sink(id_); }
  ScopedCallSink(const ScopedCallSink&) = delete;
  ScopedCallSink& operator=(const ScopedCallSink&) = delete;

 private:
  std::int64_t id_;
};

namespace detail {

// The sinks that want one call, chosen when it starts.
struct SinkSelection {
  std::vector<std::shared_ptr<CallSink>> sinks;
  bool tensors = false;            // Some chosen sink reads tensors.
  bool reference_outputs = false;  // Some chosen sink wants the reference outputs.
};

// Whether some sink may want unvalidated calls (an added one, or an active trace session). The
// wrapper's fast path: when validation is off and this is false, nothing is checked.
bool sinks_see_unvalidated_calls();
// The sinks (built-in first, then in order of addition) whose wants() accepts the call.
SinkSelection select_sinks(std::string_view name, bool validated);
// Hands `call` to every selected sink, in order; a validated call first gets its sequence number
// from the registry (`record` is the one `call` refers to).
void dispatch(const SinkSelection& selection, ValidationRecord& record, const CheckedCall& call);

}  // namespace detail

}  // namespace ttt
