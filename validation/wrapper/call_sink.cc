#include "validation/wrapper/call_sink.h"

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "validation/trace/capture.h"
#include "validation/wrapper/report.h"

namespace ttt {
namespace detail {

// The registry as a sink: it keeps every validated call's record (numbered by dispatch()).
class RegistrySink final : public CallSink {
 public:
  bool wants(std::string_view, bool validated) override { return validated; }
  void on_call(const CheckedCall& call) override { validation_registry().store(call.record); }
  bool reads_tensors() const override { return false; }
  static std::int64_t reserve_sequence() { return validation_registry().reserve_sequence(); }
};

namespace {

// Trace capture as a sink: writes the calls the active trace session wants (capture.h) as
// CapturedCall, the trace library's plain description of a call.
class TraceSink final : public CallSink {
 public:
  bool wants(std::string_view name, bool) override {
    TraceSession* session = active_trace_session();
    return session != nullptr && session->wants(name);
  }

  void on_call(const CheckedCall& call) override {
    // A call whose device threw has no outputs to replay: traces hold completed calls only.
    if (!call.device_returned) return;
    TraceSession* session = active_trace_session();
    if (session == nullptr) return;
    const ValidationRecord& record = call.record;
    CapturedCall captured;
    captured.name = record.name;
    captured.block = record.block;
    captured.spec_json = record.spec_json;
    captured.impl_config_json = record.impl_config_json;
    captured.device = record.device;
    captured.fingerprint = record.fingerprint;
    captured.scalars_json = record_scalars_to_json(record).dump();
    captured.device_ns = record.device_ns;
    captured.reference_ns = record.reference_ns;
    if (call.validated) {
      captured.verdict = record.passed ? "pass" : "fail";
      const nlohmann::json metrics = {{"outputs", record_outputs_to_json(record)},
                                      {"errors", record_errors_to_json(record)}};
      captured.metrics_json = metrics.dump();
    }
    captured.inputs = call.inputs;
    captured.outputs = call.outputs;
    captured.reference_outputs = call.reference_outputs;
    session->capture(captured);
  }

  bool wants_reference_outputs() const override {
    TraceSession* session = active_trace_session();
    return session != nullptr && session->capture_reference_outputs();
  }
};

struct AddedSink {
  std::int64_t id;
  std::shared_ptr<CallSink> sink;
  bool unvalidated;
};

// The added sinks: a copy-on-write list, so that calls read it without holding a lock.
struct SinkList {
  std::mutex mutex;
  std::shared_ptr<const std::vector<AddedSink>> sinks = std::make_shared<std::vector<AddedSink>>();
  std::int64_t next_id = 0;
  std::atomic<int> unvalidated{0};  // Added sinks that see unvalidated calls.
};

SinkList& sink_list() {
  static SinkList* list = new SinkList();  // Outlives static destructors, like the registry.
  return *list;
}

const std::shared_ptr<CallSink>& registry_sink() {
  static const auto* sink = new std::shared_ptr<CallSink>(std::make_shared<RegistrySink>());
  return *sink;
}

const std::shared_ptr<CallSink>& trace_sink() {
  static const auto* sink = new std::shared_ptr<CallSink>(std::make_shared<TraceSink>());
  return *sink;
}

void consider(SinkSelection& selection, const std::shared_ptr<CallSink>& sink,
              std::string_view name, bool validated) {
  if (!sink->wants(name, validated)) return;
  selection.tensors = selection.tensors || sink->reads_tensors();
  selection.reference_outputs = selection.reference_outputs || sink->wants_reference_outputs();
  selection.sinks.push_back(sink);
}

}  // namespace

bool sinks_see_unvalidated_calls() {
  return sink_list().unvalidated.load(std::memory_order_acquire) > 0 ||
         active_trace_session() != nullptr;
}

SinkSelection select_sinks(std::string_view name, bool validated) {
  SinkSelection selection;
  consider(selection, registry_sink(), name, validated);
  consider(selection, trace_sink(), name, validated);
  std::shared_ptr<const std::vector<AddedSink>> added;
  {
    std::lock_guard lock(sink_list().mutex);
    added = sink_list().sinks;
  }
  for (const AddedSink& entry : *added) {
    if (validated || entry.unvalidated) consider(selection, entry.sink, name, validated);
  }
  return selection;
}

void dispatch(const SinkSelection& selection, ValidationRecord& record, const CheckedCall& call) {
  if (call.validated) record.sequence = RegistrySink::reserve_sequence();
  for (const std::shared_ptr<CallSink>& sink : selection.sinks) {
    try {
      sink->on_call(call);
    } catch (...) {  // A sink never stops a model run (call_sink.h).
    }
  }
}

}  // namespace detail

std::int64_t add_call_sink(std::shared_ptr<CallSink> sink) {
  if (sink == nullptr) throw std::invalid_argument("[add_call_sink] the sink is null");
  detail::SinkList& list = detail::sink_list();
  const bool unvalidated = sink->sees_unvalidated_calls();
  std::lock_guard lock(list.mutex);
  auto updated = std::make_shared<std::vector<detail::AddedSink>>(*list.sinks);
  const std::int64_t id = list.next_id++;
  updated->push_back({id, std::move(sink), unvalidated});
  list.sinks = std::move(updated);
  if (unvalidated) list.unvalidated.fetch_add(1, std::memory_order_release);
  return id;
}

void remove_call_sink(std::int64_t id) {
  detail::SinkList& list = detail::sink_list();
  std::lock_guard lock(list.mutex);
  auto updated = std::make_shared<std::vector<detail::AddedSink>>();
  for (const detail::AddedSink& entry : *list.sinks) {
    if (entry.id != id) {
      updated->push_back(entry);
    } else if (entry.unvalidated) {
      list.unvalidated.fetch_sub(1, std::memory_order_release);
    }
  }
  list.sinks = std::move(updated);
}

}  // namespace ttt
