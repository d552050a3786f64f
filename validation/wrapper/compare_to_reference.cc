#include "validation/wrapper/compare_to_reference.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "validation/wrapper/report.h"

namespace ttt {

ValidationError::ValidationError(ValidationRecord record)
    : std::runtime_error("[compare_to_reference] " + record.name + " call " +
                         std::to_string(record.call_index) + " failed (" + record.location.text() +
                         "): " + record.verdict_text()),
      record_(std::move(record)) {}

namespace detail {
namespace {

std::string error_prefix(const std::string& name) {
  return "[compare_to_reference] " + name + ": ";
}

// Fills default names ("arg0", ...) or checks the given ones.
void complete_names(const std::string& name, std::vector<std::string>& names, std::size_t count,
                    const std::string& field, const std::string& counted,
                    const std::string& default_prefix) {
  if (names.empty()) {
    for (std::size_t i = 0; i < count; ++i) names.push_back(default_prefix + std::to_string(i));
    return;
  }
  if (names.size() != count) {
    throw std::invalid_argument(error_prefix(name) + field + " has " +
                                std::to_string(names.size()) + " names, " + counted + " " +
                                std::to_string(count));
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

void check_json_object(const std::string& name, const std::string& text, const char* field) {
  const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) {
    throw std::invalid_argument(error_prefix(name) + field + " is not a JSON object: \"" + text +
                                "\"");
  }
}

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

bool name_passes_filter(NameState& state) {
  const std::uint64_t generation = filter_generation();
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
Tolerances tolerances_for(const WrapperCore& core, const std::string& output, DType actual_dtype,
                          DType expected_dtype) {
  const Tolerances base =
      core.options.tolerances.value_or(default_tolerances(actual_dtype, expected_dtype));
  for (const auto& [key, override_with] : core.output_tolerances) {
    const bool covers =
        output == key || (output.size() > key.size() && output.compare(0, key.size(), key) == 0 &&
                          output[key.size()] == '/');
    if (covers) return base.merged(override_with);
  }
  return base;
}

ValidationRecord make_record(const WrapperCore& core, const CallPlan& plan, const CallData& data) {
  ValidationRecord record;
  record.name = core.name;
  record.call_index = plan.call_index;
  record.first_call = plan.first_call;
  record.location = core.location;
  for (const NamedTensor& input : data.inputs) {
    if (input.tensor.defined()) {
      record.inputs.push_back({input.name, input.tensor.shape(), input.tensor.dtype()});
    }
  }
  for (const auto& [name, value] : data.scalars) record.scalars.push_back({name, value});
  record.errors = data.errors;
  record.device_ns = data.device_ns;
  record.reference_ns = data.reference_ns;
  record.teacher_forced = data.teacher_forced;
  record.block = core.options.block;
  record.spec_json = core.options.spec_json;
  record.impl_config_json = core.options.impl_config_json;
  record.device = core.options.device;
  return record;
}

const NamedTensor* find_named(const std::vector<NamedTensor>& tensors, const std::string& name) {
  const auto it = std::find_if(tensors.begin(), tensors.end(),
                               [&](const NamedTensor& t) { return t.name == name; });
  return it == tensors.end() ? nullptr : &*it;
}

std::vector<OutputCheck> compare_outputs(const WrapperCore& core, const CallData& data) {
  std::vector<OutputCheck> checks;
  for (const NamedTensor& actual : data.device_outputs) {
    OutputCheck check;
    check.name = actual.name;
    const NamedTensor* expected = find_named(data.reference_outputs, actual.name);
    const DType actual_dtype = actual.tensor.defined() ? actual.tensor.dtype() : DType::float32;
    const DType expected_dtype = expected != nullptr && expected->tensor.defined()
                                     ? expected->tensor.dtype()
                                     : actual_dtype;
    check.tolerances = tolerances_for(core, actual.name, actual_dtype, expected_dtype);
    if (expected == nullptr) {
      check.verdict = {false, {"missing in the reference output"}};
    } else {
      try {
        check.metrics = compute_metrics(actual.tensor, expected->tensor, core.options.metrics);
        check.verdict = evaluate(*check.metrics, check.tolerances);
      } catch (const std::exception& error) {
        check.metrics.reset();
        check.verdict = {false, {std::string("metrics: ") + error.what()}};
      }
    }
    checks.push_back(std::move(check));
  }
  for (const NamedTensor& expected : data.reference_outputs) {
    if (find_named(data.device_outputs, expected.name) != nullptr) continue;
    OutputCheck check;
    check.name = expected.name;
    const DType dtype = expected.tensor.defined() ? expected.tensor.dtype() : DType::float32;
    check.tolerances = tolerances_for(core, expected.name, dtype, dtype);
    check.verdict = {false, {"missing in the device output"}};
    checks.push_back(std::move(check));
  }
  return checks;
}

void capture(const CallPlan& plan, const CallData& data, const ValidationRecord& record) {
  const nlohmann::json serialized = record_to_json(record);
  CapturedCall call;
  call.name = record.name;
  call.block = record.block;
  call.spec_json = record.spec_json;
  call.impl_config_json = record.impl_config_json;
  call.device = record.device;
  call.scalars_json = serialized.at("scalars").dump();
  call.device_ns = data.device_ns;
  call.reference_ns = data.reference_ns;
  if (plan.validate) {
    call.verdict = record.passed ? "pass" : "fail";
    call.metrics_json =
        nlohmann::json{{"outputs", serialized.at("outputs")}, {"errors", serialized.at("errors")}}
            .dump();
  }
  call.inputs = data.inputs;
  call.outputs = data.device_outputs;
  if (plan.validate && plan.trace->capture_reference_outputs()) {
    call.reference_outputs = data.reference_outputs;
  }
  plan.trace->capture(call);
}

}  // namespace

std::shared_ptr<const WrapperCore> make_core(std::string name, CompareOptions options,
                                             const std::source_location& location,
                                             std::size_t argument_count, std::size_t output_count) {
  if (name.empty()) throw std::invalid_argument("[compare_to_reference] name must not be empty");
  complete_names(name, options.input_names, argument_count, "input_names",
                 "device_fn's arguments:", "arg");
  complete_names(name, options.output_names, output_count, "output_names",
                 "device_fn's outputs:", "out");
  auto core = std::make_shared<WrapperCore>();
  for (const auto& [key, tolerances] : options.output_tolerances) {
    const std::string top_level = key.substr(0, key.find('/'));
    if (std::find(options.output_names.begin(), options.output_names.end(), top_level) ==
        options.output_names.end()) {
      throw std::invalid_argument(error_prefix(name) + "output_tolerances key \"" + key +
                                  "\" names no output (outputs: " + join(options.output_names) +
                                  ")");
    }
    core->output_tolerances.emplace_back(key, tolerances);
  }
  std::sort(core->output_tolerances.begin(), core->output_tolerances.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  if (options.sample_every.has_value() && *options.sample_every < 1) {
    throw std::invalid_argument(error_prefix(name) + "sample_every must be >= 1, got " +
                                std::to_string(*options.sample_every));
  }
  if (options.sample_first.has_value() && *options.sample_first < 0) {
    throw std::invalid_argument(error_prefix(name) + "sample_first must be >= 0, got " +
                                std::to_string(*options.sample_first));
  }
  check_json_object(name, options.spec_json, "spec_json");
  check_json_object(name, options.impl_config_json, "impl_config_json");

  core->location = source_location_of(location);
  core->name_state = validation_registry().name_state(name);
  core->name = std::move(name);
  core->options = std::move(options);
  return core;
}

CallPlan plan_call(const WrapperCore& core) {
  ensure_settings_loaded();
  CallPlan plan;
  bool validate = core.options.enabled &&
                  validation_state.load(std::memory_order_acquire) == kValidationOn &&
                  name_passes_filter(*core.name_state);
  TraceSession* trace = active_trace_session();
  if (trace != nullptr && !trace->wants(core.name)) trace = nullptr;
  if (!validate && trace == nullptr) return plan;
  plan.call_index = core.name_state->calls.fetch_add(1, std::memory_order_relaxed);
  plan.first_call = plan.call_index == 0;
  plan.validate = validate && sampled(plan.call_index, sampling_for(core.options));
  plan.trace = trace;
  return plan;
}

void finish_call(const WrapperCore& core, const CallPlan& plan, CallData& data) {
  ValidationRecord record = make_record(core, plan, data);
  if (plan.validate) {
    if (data.device_outputs_ready && data.reference_outputs_ready) {
      record.outputs = compare_outputs(core, data);
    }
    record.passed = record.errors.empty() &&
                    std::all_of(record.outputs.begin(), record.outputs.end(),
                                [](const OutputCheck& check) { return check.verdict.passed; });
    record.sequence = validation_registry().add(record);
  }
  if (plan.trace != nullptr) capture(plan, data, record);
  if (plan.validate && !record.passed && core.options.raise_on_failure) {
    throw ValidationError(std::move(record));
  }
}

void record_device_exception(const WrapperCore& core, const CallPlan& plan, CallData& data,
                             std::exception_ptr error) {
  if (!plan.validate) return;
  data.errors.push_back({"device", "threw: " + exception_message(error)});
  ValidationRecord record = make_record(core, plan, data);
  record.passed = false;
  validation_registry().add(std::move(record));
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

void OutputCollector::on_read_only_tensor(const Tensor& tensor) {
  tensors.push_back({path(), tensor});
}

void OutputCollector::on_scalar(const ScalarValue& value) {
  Tensor tensor = std::visit(
      [](auto v) {
        if constexpr (std::is_same_v<decltype(v), double>) {
          return Tensor::scalar(static_cast<float>(v));
        } else {
          return Tensor::from_int64({}, {static_cast<std::int64_t>(v)});
        }
      },
      value);
  tensors.push_back({path(), std::move(tensor)});
}

void CloneVisitor::on_tensor(Tensor& tensor) {
  if (tensor.defined()) tensor = tensor.clone();
}

void ReplaceVisitor::on_tensor(Tensor& tensor) {
  const NamedTensor* replacement = find_named(replacements_, path());
  if (replacement == nullptr) {
    throw std::invalid_argument("[teacher forcing] the reference output has no tensor \"" + path() +
                                "\"");
  }
  const Tensor& expected = replacement->tensor;
  if (!tensor.defined() || !expected.defined()) {
    tensor = expected;
    return;
  }
  if (expected.shape() != tensor.shape()) {
    throw std::invalid_argument("[teacher forcing] " + path() + ": reference shape " +
                                shape_to_string(expected.shape()) + " differs from device shape " +
                                shape_to_string(tensor.shape()));
  }
  tensor = expected.dtype() == tensor.dtype() ? expected : expected.to(tensor.dtype());
}

void ReplaceVisitor::on_read_only_tensor(const Tensor&) {
  throw std::invalid_argument(
      "[teacher forcing] " + path() +
      " is read-only (its type's ttt_visit_tensors takes a const reference or visits a "
      "temporary); give ttt::mappers().with_to_device_output(...)");
}

}  // namespace detail
}  // namespace ttt
