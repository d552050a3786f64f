#include "validation/wrapper/checked_call.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "validation/mesh/mesh.h"
#include "validation/wrapper/switches.h"

namespace ttt {

ValidationError::ValidationError(ValidationRecord record)
    : std::runtime_error("[compare_to_reference] " + record.name + " call " +
                         std::to_string(record.call_index) + " failed (" + record.location.text() +
                         "): " + record.verdict_text()),
      record_(std::move(record)) {}

namespace {

std::string error_prefix(const std::string& name) {
  return "[compare_to_reference] " + name + ": ";
}

// Fills default names ("arg0", ...) when `count` is known, and checks the names.
void complete_names(const std::string& name, std::vector<std::string>& names,
                    std::optional<std::size_t> count, const std::string& field,
                    const std::string& counted, const std::string& default_prefix) {
  if (names.empty() && count.has_value()) {
    for (std::size_t i = 0; i < *count; ++i) names.push_back(default_prefix + std::to_string(i));
    return;
  }
  if (count.has_value() && names.size() != *count) {
    throw std::invalid_argument(error_prefix(name) + field + " has " +
                                std::to_string(names.size()) + " names, " + counted + " " +
                                std::to_string(*count));
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string& entry = names[i];
    if (entry.empty() || entry.find('/') != std::string::npos) {
      throw std::invalid_argument(error_prefix(name) + field + "[" + std::to_string(i) + "] \"" +
                                  entry + "\" must be non-empty and contain no '/'");
    }
    if (!seen.insert(entry).second) {
      throw std::invalid_argument(error_prefix(name) + field + " names \"" + entry + "\" twice");
    }
  }
}

nlohmann::json parse_json_object(const std::string& name, const std::string& text,
                                  const char* field) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) {
    throw std::invalid_argument(error_prefix(name) + field + " is not a JSON object: \"" + text +
                                "\"");
  }
  return parsed;
}

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

bool name_passes_filter(detail::NameState& state) {
  const std::uint64_t generation = detail::filter_generation();
  const std::uint64_t cached = state.filter_cache.load(std::memory_order_acquire);
  if (cached != ~std::uint64_t{0} && (cached >> 1) == generation) return (cached & 1) != 0;
  const bool matches = filter_matches(validation_filter(), state.name);
  state.filter_cache.store((generation << 1) | (matches ? 1 : 0), std::memory_order_release);
  return matches;
}

SamplingSettings sampling_for(const CompareOptions& options) {
  if (options.sample_every.has_value() && options.sample_first.has_value()) {
    return {*options.sample_every, *options.sample_first};
  }
  const SamplingSettings global = validation_sampling();
  return {options.sample_every.value_or(global.every), options.sample_first.value_or(global.first)};
}

// The thresholds of one output: the callable's tolerances, else the default for the dtypes of the
// two sides (the present side's dtype twice when one side is missing), with the output's
// output_tolerances entry merged over them.
Tolerances tolerances_for(const CallDescription& description, const std::string& output,
                          DType actual_dtype, DType expected_dtype) {
  const Tolerances base =
      description.options.tolerances.value_or(default_tolerances(actual_dtype, expected_dtype));
  for (const auto& [key, override_with] : description.output_tolerances) {
    const bool covers =
        output == key || (output.size() > key.size() && output.compare(0, key.size(), key) == 0 &&
                          output[key.size()] == '/');
    if (covers) return base.merged(override_with);
  }
  return base;
}

// What a call produced, gathered for the record.
struct CallData {
  std::vector<NamedTensor> device_outputs;
  bool device_outputs_ready = false;  // The device output's tensors were collected.
  std::vector<NamedTensor> reference_outputs;
  bool reference_outputs_ready = false;  // The reference ran and its outputs were collected.
  std::vector<StageFailure> errors;
  // Device outputs that are mesh tensors whose shards do not compose: name -> why.
  std::map<std::string, std::string, std::less<>> compose_failures;
  std::int64_t device_ns = 0;
  std::int64_t reference_ns = -1;
  bool teacher_forced = false;
};

ValidationRecord make_record(const CallDescription& description, const CallPlan& plan,
                             const UntypedCall& call, const CallInputs& inputs,
                             const CallData& data) {
  ValidationRecord record;
  record.name = description.name;
  record.call_index = plan.call_index;
  record.first_call = plan.first_call;
  record.location = description.location;
  for (const NamedTensor& input : inputs.tensors) {
    if (input.tensor.defined()) {
      record.inputs.push_back({input.name, input.tensor.shape(), input.tensor.dtype()});
    }
  }
  for (const auto& [name, value] : inputs.scalars) record.scalars.push_back({name, value});
  record.errors = data.errors;
  record.device_ns = data.device_ns;
  record.reference_ns = data.reference_ns;
  record.teacher_forced = data.teacher_forced;
  record.block = description.options.block;
  record.spec_json = description.options.spec_json;
  record.impl_config_json = description.options.impl_config_json;
  record.device = description.options.device;
  record.fingerprint = call.fingerprint ? call.fingerprint : description.options.fingerprint;
  return record;
}

// Composes the mesh-tensor outputs not composed yet (OutputCollector leaves them so); returns
// the ones whose shards do not compose (replicas that differ), by name, with the reason.
std::map<std::string, std::string, std::less<>> compose_mesh_outputs(
    std::vector<NamedTensor>& outputs) {
  std::map<std::string, std::string, std::less<>> failures;
  for (NamedTensor& output : outputs) {
    if (output.mesh == nullptr || output.tensor.defined()) continue;
    try {
      output.tensor = compose(*output.mesh);
    } catch (const std::exception& error) {
      failures.emplace(output.name, error.what());
    }
  }
  return failures;
}

// Each device's shard against its slice of the reference (the reference distributed like the
// output), judged with the output's tolerances. Empty when the reference does not have the
// composed output's shape (the output's own verdict already says so).
std::vector<DeviceCheck> check_devices(const MeshTensor& actual, const Tensor& expected,
                                       const Tolerances& tolerances,
                                       const MetricsOptions& options) {
  std::vector<DeviceCheck> checks;
  if (!expected.defined() || expected.shape() != actual.global_shape()) return checks;
  const MeshTensor slices = distribute(expected, actual.mesh, actual.placements);
  for (int device = 0; device < actual.mesh.size(); ++device) {
    DeviceCheck& check = checks.emplace_back();
    check.device = device;
    check.row = device / actual.mesh.cols;
    check.col = device % actual.mesh.cols;
    try {
      check.metrics = compute_metrics(actual.shards[device], slices.shards[device], options);
      check.verdict = evaluate(*check.metrics, tolerances);
    } catch (const std::exception& error) {
      check.metrics.reset();
      check.verdict = {false, {std::string("metrics: ") + error.what()}};
    }
  }
  return checks;
}

std::vector<OutputCheck> compare_outputs(const CallDescription& description,
                                         const CallData& data) {
  std::vector<OutputCheck> checks;
  for (const NamedTensor& actual : data.device_outputs) {
    OutputCheck check;
    check.name = actual.name;
    const NamedTensor* expected = detail::find_named(data.reference_outputs, actual.name);
    const DType actual_dtype = actual.tensor.defined() ? actual.tensor.dtype()
                               : actual.mesh != nullptr ? actual.mesh->shards.at(0).dtype()
                                                        : DType::float32;
    const DType expected_dtype = expected != nullptr && expected->tensor.defined()
                                     ? expected->tensor.dtype()
                                     : actual_dtype;
    check.tolerances = tolerances_for(description, actual.name, actual_dtype, expected_dtype);
    const auto compose_failure = data.compose_failures.find(actual.name);
    if (expected == nullptr) {
      check.verdict = {false, {"missing in the reference output"}};
    } else if (compose_failure != data.compose_failures.end()) {
      check.verdict = {false, {"compose: " + compose_failure->second}};
    } else {
      try {
        check.metrics =
            compute_metrics(actual.tensor, expected->tensor, description.options.metrics);
        check.verdict = evaluate(*check.metrics, check.tolerances);
      } catch (const std::exception& error) {
        check.metrics.reset();
        check.verdict = {false, {std::string("metrics: ") + error.what()}};
      }
    }
    if (actual.mesh != nullptr && expected != nullptr) {
      check.devices = check_devices(*actual.mesh, expected->tensor, check.tolerances,
                                    description.options.metrics);
    }
    checks.push_back(std::move(check));
  }
  for (const NamedTensor& expected : data.reference_outputs) {
    if (detail::find_named(data.device_outputs, expected.name) != nullptr) continue;
    OutputCheck check;
    check.name = expected.name;
    const DType dtype = expected.tensor.defined() ? expected.tensor.dtype() : DType::float32;
    check.tolerances = tolerances_for(description, expected.name, dtype, dtype);
    check.verdict = {false, {"missing in the device output"}};
    checks.push_back(std::move(check));
  }
  return checks;
}

// Whether `tensor_name` ("kv/0") belongs to the top-level input `top` ("kv").
bool belongs_to(const std::string& tensor_name, const std::string& top) {
  return tensor_name == top || (tensor_name.size() > top.size() &&
                                tensor_name.compare(0, top.size(), top) == 0 &&
                                tensor_name[top.size()] == '/');
}

// The inputs the reference and the sinks receive: the call's, with the in-place ones cloned.
CallInputs snapshot_in_place(const CallInputs& inputs) {
  CallInputs snapshot = inputs;
  for (NamedTensor& named : snapshot.tensors) {
    const bool in_place =
        std::any_of(inputs.updated_in_place.begin(), inputs.updated_in_place.end(),
                    [&](const std::string& top) { return belongs_to(named.name, top); });
    if (in_place && named.tensor.defined()) named.tensor = named.tensor.clone();
  }
  return snapshot;
}

std::int64_t elapsed_ns(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              start)
      .count();
}

const std::vector<NamedTensor> kNoTensors;

// Hands a finished call to the plan's sinks.
void dispatch_call(const CallDescription& description, const CallPlan& plan,
                   ValidationRecord& record, const CallInputs& inputs, const CallData& data,
                   bool device_returned) {
  const CheckedCall checked{record,
                            plan.validate,
                            device_returned,
                            description.spec,
                            description.impl_config,
                            inputs.tensors,
                            data.device_outputs,
                            plan.validate && plan.sinks.reference_outputs ? data.reference_outputs
                                                                          : kNoTensors};
  detail::dispatch(plan.sinks, record, checked);
}

}  // namespace

std::shared_ptr<const CallDescription> describe_call(std::string name, CompareOptions options,
                                                     const std::source_location& location,
                                                     std::optional<std::size_t> input_count,
                                                     std::optional<std::size_t> output_count) {
  if (name.empty()) throw std::invalid_argument("[compare_to_reference] name must not be empty");
  complete_names(name, options.input_names, input_count, "input_names",
                 "device_fn's arguments:", "arg");
  complete_names(name, options.output_names, output_count, "output_names",
                 "device_fn's outputs:", "out");
  auto description = std::make_shared<CallDescription>();
  for (const auto& [key, tolerances] : options.output_tolerances) {
    const std::string top_level = key.substr(0, key.find('/'));
    if (std::find(options.output_names.begin(), options.output_names.end(), top_level) ==
        options.output_names.end()) {
      throw std::invalid_argument(error_prefix(name) + "output_tolerances key \"" + key +
                                  "\" names no output (outputs: " + join(options.output_names) +
                                  ")");
    }
    description->output_tolerances.emplace_back(key, tolerances);
  }
  std::sort(description->output_tolerances.begin(), description->output_tolerances.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  if (options.sample_every.has_value() && *options.sample_every < 1) {
    throw std::invalid_argument(error_prefix(name) + "sample_every must be >= 1, got " +
                                std::to_string(*options.sample_every));
  }
  if (options.sample_first.has_value() && *options.sample_first < 0) {
    throw std::invalid_argument(error_prefix(name) + "sample_first must be >= 0, got " +
                                std::to_string(*options.sample_first));
  }
  description->spec = parse_json_object(name, options.spec_json, "spec_json");
  description->impl_config =
      parse_json_object(name, options.impl_config_json, "impl_config_json");

  description->location = source_location_of(location);
  description->name_state = validation_registry().name_state(name);
  description->name = std::move(name);
  description->options = std::move(options);
  return description;
}

const Tensor& CallInputs::tensor(std::string_view name) const {
  const NamedTensor* found = detail::find_named(tensors, name);
  if (found == nullptr) {
    throw std::invalid_argument("[call inputs] no tensor input \"" + std::string(name) + "\"");
  }
  return found->tensor;
}

std::vector<Tensor> CallInputs::list(std::string_view name) const {
  std::vector<Tensor> elements;
  const std::string prefix = std::string(name) + "/";
  for (std::size_t i = 0;; ++i) {
    const NamedTensor* element = detail::find_named(tensors, prefix + std::to_string(i));
    if (element == nullptr) return elements;
    elements.push_back(element->tensor);
  }
}

std::int64_t CallInputs::integer(std::string_view name) const {
  for (const auto& [scalar_name, value] : scalars) {
    if (scalar_name != name) continue;
    if (const auto* signed_value = std::get_if<std::int64_t>(&value)) return *signed_value;
    if (const auto* unsigned_value = std::get_if<std::uint64_t>(&value)) {
      return static_cast<std::int64_t>(*unsigned_value);
    }
    throw std::invalid_argument("[call inputs] scalar input \"" + std::string(name) +
                                "\" is not an integer");
  }
  throw std::invalid_argument("[call inputs] no scalar input \"" + std::string(name) + "\"");
}

CallPlan plan_call(const CallDescription& description) {
  detail::ensure_settings_loaded();
  CallPlan plan;
  const bool validate = description.options.enabled &&
                        detail::validation_state.load(std::memory_order_acquire) == detail::kValidationOn &&
                        name_passes_filter(*description.name_state);
  if (!validate) {
    if (!detail::sinks_see_unvalidated_calls()) return plan;
    plan.sinks = detail::select_sinks(description.name, false);
    if (plan.sinks.sinks.empty()) return plan;
  }
  plan.call_index = description.name_state->calls.fetch_add(1, std::memory_order_relaxed);
  plan.first_call = plan.call_index == 0;
  if (validate) {
    plan.validate = sampled(plan.call_index, sampling_for(description.options));
    plan.sinks = detail::select_sinks(description.name, plan.validate);
  }
  return plan;
}

ValidationRecord run_checked_call(const CallDescription& description, const CallPlan& plan,
                                  UntypedCall& call) {
  CallData data;
  if (call.input_failure.has_value()) data.errors.push_back(*call.input_failure);
  const CallInputs snapshot = call.inputs.updated_in_place.empty()
                                  ? CallInputs{}
                                  : snapshot_in_place(call.inputs);
  const CallInputs& seen_inputs = call.inputs.updated_in_place.empty() ? call.inputs : snapshot;

  const auto device_start = std::chrono::steady_clock::now();
  try {
    call.device.run(call.inputs);
  } catch (...) {
    data.device_ns = elapsed_ns(device_start);
    if (plan.validate) {
      data.errors.push_back({"device", "threw: " + detail::exception_message(std::current_exception())});
      ValidationRecord record = make_record(description, plan, call, seen_inputs, data);
      record.passed = false;
      dispatch_call(description, plan, record, seen_inputs, data, /*device_returned=*/false);
    }
    throw;
  }
  data.device_ns = elapsed_ns(device_start);
  try {
    data.device_outputs = call.device.outputs();
    data.compose_failures = compose_mesh_outputs(data.device_outputs);
    data.device_outputs_ready = true;
  } catch (...) {
    data.device_outputs.clear();
    data.errors.push_back({"output_mapping", detail::exception_message(std::current_exception())});
  }

  if (plan.validate && !call.input_failure.has_value()) {
    bool reference_returned = false;
    const auto reference_start = std::chrono::steady_clock::now();
    try {
      call.reference.run(seen_inputs);
      reference_returned = true;
    } catch (...) {
      data.errors.push_back(
          {"reference", "threw: " + detail::exception_message(std::current_exception())});
    }
    data.reference_ns = elapsed_ns(reference_start);
    if (reference_returned) {
      try {
        data.reference_outputs = call.reference.outputs();
        const auto failures = compose_mesh_outputs(data.reference_outputs);
        if (!failures.empty()) {
          throw std::invalid_argument(failures.begin()->first + ": " + failures.begin()->second);
        }
        data.reference_outputs_ready = true;
      } catch (...) {
        data.reference_outputs.clear();
        data.errors.push_back({"reference_output_mapping",
                               detail::exception_message(std::current_exception())});
      }
      if (call.teacher_force) {
        try {
          data.teacher_forced =
              call.teacher_force(data.reference_outputs_ready ? &data.reference_outputs : nullptr);
        } catch (...) {
          data.errors.push_back(
              {"teacher_forcing", detail::exception_message(std::current_exception())});
        }
      }
    }
  }

  ValidationRecord record = make_record(description, plan, call, seen_inputs, data);
  if (plan.validate) {
    if (data.device_outputs_ready && data.reference_outputs_ready) {
      record.outputs = compare_outputs(description, data);
    }
    record.passed = record.errors.empty() &&
                    std::all_of(record.outputs.begin(), record.outputs.end(),
                                [](const OutputCheck& check) { return check.verdict.passed; });
  }
  dispatch_call(description, plan, record, seen_inputs, data, /*device_returned=*/true);
  if (plan.validate && !record.passed && description.options.raise_on_failure) {
    throw ValidationError(std::move(record));
  }
  return record;
}

ValidationRecord run_checked_call(const CallDescription& description, UntypedCall& call) {
  const CallPlan plan = plan_call(description);
  if (!plan.checked()) {
    call.device.run(call.inputs);
    return {};
  }
  return run_checked_call(description, plan, call);
}

namespace detail {

const NamedTensor* find_named(const std::vector<NamedTensor>& tensors, std::string_view name) {
  const auto it = std::find_if(tensors.begin(), tensors.end(),
                               [&](const NamedTensor& t) { return t.name == name; });
  return it == tensors.end() ? nullptr : &*it;
}

std::string exception_message(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& exception) {
    return exception.what();
  } catch (...) {
    return "unknown exception";
  }
}

void clone_tensors(std::vector<NamedTensor>& tensors) {
  for (NamedTensor& named : tensors) {
    if (named.tensor.defined()) named.tensor = named.tensor.clone();
  }
}

}  // namespace detail
}  // namespace ttt
