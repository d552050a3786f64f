#include "suites/suite/suite.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "blocks/common/block_kind.h"
#include "blocks/common/device_model.h"
#include "suites/suite/internal/capture.h"
#include "suites/suite/internal/hash.h"
#include "validation/markup/number.h"
#include "validation/wrapper/registry.h"
#include "validation/wrapper/switches.h"

namespace ttt {
namespace {

// Sets validation on or off for a scope and restores what it was.
class ScopedValidation {
 public:
  explicit ScopedValidation(bool enabled) : was_enabled_(validation_enabled()) {
    set_validation_enabled(enabled);
  }
  ~ScopedValidation() { set_validation_enabled(was_enabled_); }
  ScopedValidation(const ScopedValidation&) = delete;
  ScopedValidation& operator=(const ScopedValidation&) = delete;

 private:
  bool was_enabled_;
};

// A compare_to_reference callable as a case target.
class WrappedTarget final : public CaseTarget {
 public:
  explicit WrappedTarget(suite_detail::WrappedCall call) : call_(std::move(call)) {}

  CaseDescription describe() const override {
    CaseDescription description;
    description.kind = "wrapped";
    description.default_id = call_.name;
    description.call = call_.name;
    return description;
  }

  BoundCase bind(const CaseInputs& inputs) const override {
    if (inputs.tensors.size() != call_.arity) {
      throw std::invalid_argument("[suite] '" + call_.name + "' takes " +
                                  std::to_string(call_.arity) + " tensor argument(s), " +
                                  std::to_string(inputs.tensors.size()) + " input(s) given");
    }
    BoundCase bound;
    bound.check = [call = call_, tensors = in_argument_order(inputs.tensors)](
                      const MetricsOptions&) { return check(call, tensors); };
    bound.run_device = [call = call_, tensors = in_argument_order(inputs.tensors)] {
      const ScopedValidation off(false);
      call.call(tensors);
    };
    return bound;
  }

 private:
  // Inputs named after the callable's arguments (captured ones come in name order) put in
  // argument order; others as given.
  std::vector<NamedTensor> in_argument_order(const std::vector<NamedTensor>& tensors) const {
    const auto position = [&](const std::string& name) -> std::optional<std::size_t> {
      for (std::size_t i = 0; i < call_.input_names.size(); ++i) {
        if (call_.input_names[i] == name) return i;
      }
      if (call_.input_names.empty() && name.rfind("arg", 0) == 0 && name.size() > 3 &&
          name.find_first_not_of("0123456789", 3) == std::string::npos) {
        return static_cast<std::size_t>(std::stoull(name.substr(3)));
      }
      return std::nullopt;
    };
    std::vector<NamedTensor> ordered(tensors.size());
    std::vector<bool> placed(tensors.size(), false);
    for (const NamedTensor& tensor : tensors) {
      const std::optional<std::size_t> at = position(tensor.name);
      if (!at || *at >= tensors.size() || placed[*at]) return tensors;
      ordered[*at] = tensor;
      placed[*at] = true;
    }
    return ordered;
  }

  // One validated call; its record gives the metrics (judged later with the case's own
  // expectations).
  static std::vector<OutputResult> check(const suite_detail::WrappedCall& call,
                                         const std::vector<NamedTensor>& tensors) {
    const std::int64_t mark = validation_registry().next_sequence();
    {
      const ScopedValidation on(true);
      call.call(tensors);
    }
    RecordQuery query;
    query.min_sequence = mark;
    std::optional<ValidationRecord> record;
    for (ValidationRecord& candidate : validation_registry().records(query)) {
      if (candidate.name == call.name) record = std::move(candidate);
    }
    if (!record) {
      throw std::runtime_error("[suite] the call of '" + call.name +
                               "' was not validated (TTT_VALIDATE_FILTER, sampling, or the "
                               "callable was wrapped with enabled = false)");
    }
    for (std::size_t i = 0; i < record->inputs.size() && i < tensors.size(); ++i) {
      const std::string& given = tensors[i].name;
      if (!given.empty() && given != record->inputs[i].name) {
        throw std::invalid_argument("[suite] input " + std::to_string(i) + " of '" + call.name +
                                    "' is given as '" + given + "', the callable names it '" +
                                    record->inputs[i].name + "'");
      }
    }
    if (!record->errors.empty()) {
      std::string message = "[suite] '" + call.name + "' failed before comparing:";
      for (const StageFailure& failure : record->errors) {
        message += " " + failure.stage + ": " + failure.message + ";";
      }
      message.pop_back();
      throw std::runtime_error(message);
    }
    std::vector<OutputResult> outputs;
    for (const OutputCheck& check : record->outputs) {
      if (!check.metrics) {
        throw std::runtime_error("[suite] '" + call.name + "' output " + check.name +
                                 ": no metrics: " + check.verdict.text());
      }
      OutputResult output{check.name, *check.metrics, std::nan("")};
      // rmse^2 / nmse = sum(e^2) / n: the reference's mean square, when the error is not zero.
      if (check.metrics->nmse > 0.0 && std::isfinite(check.metrics->nmse)) {
        output.reference_rms = check.metrics->rmse / std::sqrt(check.metrics->nmse);
      }
      outputs.push_back(std::move(output));
    }
    return outputs;
  }

  suite_detail::WrappedCall call_;
};

std::string join_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += "\n  " + line;
  return text;
}

std::string milliseconds(double nanoseconds) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.3f ms", nanoseconds / 1e6);
  return buffer;
}

ExpectationVerdict judge_latency(const LatencyBudget& budget, const TimingSamples& timing) {
  const std::vector<std::int64_t>& samples = timing.of(budget.clock);
  std::vector<double> values(samples.begin(), samples.end());
  const double quantile = percentile(values, budget.p);
  const TimingStats stats = compute_timing_stats(samples);
  // The budget is a threshold: printed in full, and what is derived from it for display without
  // binary noise (docs/report-format.md, "Numbers"); the measured quantile keeps enough digits
  // to stay on its side of the limit.
  const double limit_ms = budget.limit_ns() / 1e6;
  const bool passed = quantile <= budget.limit_ns();
  std::string message =
      "p" + format_scaled(budget.p * 100.0) + " " + format_beside(quantile / 1e6, limit_ms) +
      " ms" + (passed ? " <= " : " > ") + format_number(budget.latency_ms) + " ms + " +
      format_scaled(budget.tolerance * 100.0) + "% = " + format_scaled(limit_ms) + " ms (" +
      std::string(timing_clock_name(budget.clock)) + "; min " + milliseconds(stats.min) + ", p50 " +
      milliseconds(stats.p50) + ", mean " + milliseconds(stats.mean) + ", " +
      std::to_string(stats.count) + " repetitions)";
  return {"latency", passed, message};
}

// Whether the cost model can cost a case's call: a call of a block kind in prefill or decode.
bool costable(const CaseDescription& description) {
  return find_block_kind(description.kind) != nullptr &&
         (description.mode == "prefill" || description.mode == "decode");
}

// The work of a costable case's call with seeded `shapes`. Throws std::invalid_argument when the
// cost model refuses it (a kind without declared costs).
DeviceCost call_device_cost(const CaseDescription& description, const CaseShapes& shapes) {
  return device_cost(
      *find_block_kind(description.kind),
      {description.spec, description.impl_config, description.identity},
      parse_mode(description.mode),
      {.batch = shapes.batch, .seq_len = shapes.seq_len, .context_len = shapes.context_len});
}

// A device-time budget judged on the call's cost: its predicted time on every named topology.
// Throws std::invalid_argument when a topology cannot run the call (fewer devices than its mesh).
ExpectationVerdict judge_device_time(const DeviceTimeBudget& budget, const DeviceCost& cost) {
  bool passed = true;
  std::string message;
  for (const auto& [topology, limit_us] : budget) {
    const CostTime time = predict_time(cost, find_device_model(topology));
    const double us = time.total_ns / 1e3;
    const bool within = us <= limit_us;
    passed = passed && within;
    message += std::string(message.empty() ? "" : "; ") + topology + " " +
               format_beside(us, limit_us) + " us" + (within ? " <= " : " > ") +
               format_number(limit_us) + " us (" + std::string(cost_bound_name(time.bound)) +
               " bound)";
  }
  return {"device_time", passed, "device time " + message};
}

std::vector<CaseInput> describe_inputs(const CaseInputs& inputs) {
  std::vector<CaseInput> described;
  for (const NamedTensor& input : inputs.tensors) {
    described.push_back({input.name, input.tensor.shape(), input.tensor.dtype()});
  }
  return described;
}

}  // namespace

const Tensor& CaseInputs::tensor(std::string_view name) const {
  for (const NamedTensor& input : tensors) {
    if (input.name == name) return input.tensor;
  }
  std::string have;
  for (const NamedTensor& input : tensors) have += (have.empty() ? "" : ", ") + input.name;
  throw std::invalid_argument("missing input '" + std::string(name) +
                              "' (have: " + (have.empty() ? "none" : have) + ")");
}

bool CaseInputs::has(std::string_view name) const {
  for (const NamedTensor& input : tensors) {
    if (input.name == name) return true;
  }
  return false;
}

nlohmann::json to_json(const CaseShapes& shapes) {
  nlohmann::json json = {{"batch", shapes.batch}};
  if (shapes.seq_len > 0) json["seq_len"] = shapes.seq_len;
  if (shapes.context_len > 0) json["context_len"] = shapes.context_len;
  return json;
}

std::optional<CaseInputs> CaseTarget::seeded_inputs(const CaseShapes&, const SeededInputs&,
                                                    std::uint64_t) const {
  return std::nullopt;
}

SuiteDefinitionError::SuiteDefinitionError(const std::string& suite,
                                           std::vector<std::string> problems)
    : std::invalid_argument("[suite " + suite + "] " + std::to_string(problems.size()) +
                            (problems.size() == 1 ? " problem:" : " problems:") +
                            join_lines(problems)),
      problems_(std::move(problems)) {}

SuiteCase::SuiteCase(std::shared_ptr<const CaseTarget> target) : target_(std::move(target)) {
  if (!target_) throw std::invalid_argument("[suite] add_case: the target is null");
  description_ = target_->describe();
  id_ = description_.default_id;
}

SuiteCase& SuiteCase::named(std::string id) {
  id_ = std::move(id);
  return *this;
}

SuiteCase& SuiteCase::with_inputs(std::vector<NamedTensor> tensors, nlohmann::json scalars) {
  given_ = CaseInputs{std::move(tensors), std::move(scalars)};
  return *this;
}

SuiteCase& SuiteCase::with_seeded_inputs(CaseShapes shapes, SeededInputs seeded) {
  seeded_ = std::make_pair(shapes, seeded);
  return *this;
}

SuiteCase& SuiteCase::with_inputs_from(std::shared_ptr<const InputCapture> capture,
                                       CaptureOptions options) {
  capture_ = std::move(capture);
  capture_options_ = std::move(options);
  return *this;
}

SuiteCase& SuiteCase::with_inputs_from(std::function<void()> run, CaptureOptions options) {
  return with_inputs_from(std::make_shared<const InputCapture>(std::move(run)), std::move(options));
}

SuiteCase& SuiteCase::with_inputs_from_trace(TraceInputs trace) {
  trace_ = std::move(trace);
  return *this;
}

SuiteCase& SuiteCase::expect_pcc(double minimum) {
  expectations_.accuracy.pcc = minimum;
  return *this;
}

SuiteCase& SuiteCase::expect_max_abs_error(double maximum) {
  expectations_.accuracy.max_abs_error = maximum;
  return *this;
}

SuiteCase& SuiteCase::expect_nmse(double maximum) {
  expectations_.accuracy.nmse = maximum;
  return *this;
}

SuiteCase& SuiteCase::expect_accuracy(const Tolerances& tolerances) {
  expectations_.accuracy = expectations_.accuracy.merged(tolerances);
  return *this;
}

SuiteCase& SuiteCase::expect_perf(LatencyBudget budget) {
  expectations_.latency = budget;
  return *this;
}

SuiteCase& SuiteCase::expect_device_time(DeviceTimeBudget budget) {
  expectations_.device_us = std::move(budget);
  return *this;
}

SuiteCase& SuiteCase::occurs(std::int64_t times) {
  occurrences_ = times;
  return *this;
}

SuiteCase& SuiteCase::vocab_shard_of(std::int64_t shards) {
  vocab_shards_ = shards;
  return *this;
}

SuiteCase& SuiteCase::as_module(std::string module) {
  description_.module = std::move(module);
  return *this;
}

SuiteCase& SuiteCase::tagged(std::vector<std::string> tags) {
  tags_ = std::move(tags);
  return *this;
}

SuiteCase& SuiteCase::timing(int warmup, int repetitions) {
  warmup_ = warmup;
  repetitions_ = repetitions;
  return *this;
}

const std::string& SuiteCase::id() const { return id_; }

Suite::Suite(std::string name, SuiteOptions options)
    : name_(std::move(name)), options_(std::move(options)) {
  if (name_.empty()) throw std::invalid_argument("[suite] the suite name is empty");
}

SuiteCase& Suite::add_case(std::shared_ptr<const CaseTarget> target) {
  cases_.push_back(SuiteCase(std::move(target)));
  return cases_.back();
}

void Suite::set_source(std::string file, std::string model) {
  file_ = std::move(file);
  model_ = std::move(model);
}

void Suite::set_mesh(std::string mesh) { mesh_ = std::move(mesh); }

void Suite::set_definition(nlohmann::json definition) { definition_ = std::move(definition); }

std::vector<std::string> Suite::problems() const {
  std::vector<std::string> problems;
  if (options_.warmup < 0) {
    problems.push_back("options.warmup is " + std::to_string(options_.warmup) + ", must be >= 0");
  }
  if (options_.repetitions < kMinRepetitions) {
    problems.push_back("options.repetitions is " + std::to_string(options_.repetitions) +
                       ", must be >= " + std::to_string(kMinRepetitions));
  }
  if (options_.shard.total < 1 || options_.shard.index < 0 ||
      options_.shard.index >= options_.shard.total) {
    problems.push_back("options.shard " + std::to_string(options_.shard.index) + "/" +
                       std::to_string(options_.shard.total) +
                       " is not a shard (need 0 <= index < total)");
  }
  std::map<std::string, std::size_t> first_with_id;
  for (std::size_t i = 0; i < cases_.size(); ++i) {
    const SuiteCase& c = cases_[i];
    const std::string where = "case " + std::to_string(i) + " '" + c.id_ + "': ";
    if (c.id_.empty()) problems.push_back("case " + std::to_string(i) + ": the id is empty");
    const auto [found, inserted] = first_with_id.emplace(c.id_, i);
    if (!inserted) {
      problems.push_back(where + "the id is also case " + std::to_string(found->second) +
                         "'s; ids must be unique (name cases with .named())");
    }
    for (const std::string& problem : c.target_->problems()) problems.push_back(where + problem);
    const int sources =
        (c.given_ ? 1 : 0) + (c.seeded_ ? 1 : 0) + (c.capture_ ? 1 : 0) + (c.trace_ ? 1 : 0);
    if (sources == 0) {
      problems.push_back(where +
                         "no inputs (with_inputs, with_seeded_inputs, with_inputs_from or "
                         "with_inputs_from_trace)");
    } else if (sources > 1) {
      problems.push_back(where + "several input sources; give exactly one");
    }
    if (c.seeded_ && !c.target_->can_seed()) {
      problems.push_back(where + "its target (" + c.description_.kind +
                         ") cannot draw seeded inputs");
    }
    if (c.capture_) {
      if (!c.capture_->function()) problems.push_back(where + "with_inputs_from: no callable");
      if (c.capture_options_.call.empty() && c.description_.call.empty()) {
        problems.push_back(where + "with_inputs_from: name the call (CaptureOptions::call)");
      }
      if (c.capture_options_.call_index < 0) {
        problems.push_back(where + "with_inputs_from: call_index must be >= 0");
      }
    }
    if (c.expectations_.empty()) {
      problems.push_back(where +
                         "no expectation (expect_pcc, expect_max_abs_error, expect_nmse, "
                         "expect_accuracy, expect_perf or expect_device_time)");
    }
    if (!c.expectations_.device_us.empty()) {
      if (!c.seeded_ || !costable(c.description_)) {
        problems.push_back(where +
                           "a device-time budget needs a seeded case of a block kind in "
                           "prefill or decode, whose call the cost model costs from its Spec and "
                           "shapes (this one: '" +
                           c.description_.kind + "'" +
                           (c.description_.mode.empty() ? "" : " in " + c.description_.mode) +
                           (c.seeded_ ? "" : ", inputs not seeded") + ")");
      } else {
        try {
          judge_device_time(c.expectations_.device_us,
                            call_device_cost(c.description_, c.seeded_->first));
        } catch (const std::invalid_argument& error) {
          problems.push_back(where + "device-time budget: " + error.what());
        }
      }
    }
    if (c.expectations_.latency) {
      try {
        c.expectations_.latency->validate();
      } catch (const std::invalid_argument& error) {
        problems.push_back(where + "latency budget: " + error.what());
      }
    }
    if (c.occurrences_ < 0) problems.push_back(where + "occurrences must be >= 0");
    if (c.vocab_shards_ < 1) problems.push_back(where + "vocab_shards must be >= 1");
    if (c.warmup_ && *c.warmup_ < 0) problems.push_back(where + "warm-up must be >= 0");
    if (c.repetitions_ && *c.repetitions_ < kMinRepetitions) {
      problems.push_back(where + "repetitions " + std::to_string(*c.repetitions_) + " < " +
                         std::to_string(kMinRepetitions));
    }
  }
  return problems;
}

void Suite::validate() const {
  std::vector<std::string> list = problems();
  if (!list.empty()) throw SuiteDefinitionError(name_, std::move(list));
}

std::optional<Fingerprint> case_fingerprint(const CaseDescription& description,
                                            const CaseShapes& shapes) {
  const BlockKind* kind = find_block_kind(description.kind);
  if (kind == nullptr || (description.mode != "prefill" && description.mode != "decode")) {
    return std::nullopt;
  }
  return fingerprint_of(*kind,
                        {description.spec, description.impl_config, description.identity},
                        parse_mode(description.mode),
                        {.batch = shapes.batch,
                         .seq_len = shapes.seq_len,
                         .context_len = shapes.context_len});
}

namespace {

// The device cost of a seeded case's call on the case's device (docs/cost-model.md); unset for
// what is not a call of a block kind in a mode. A call the cost model refuses (a device it does
// not know, a mesh larger than the device) records the reason instead of a number.
std::optional<nlohmann::json> case_device_cost(const CaseDescription& description,
                                               const CaseShapes& shapes) {
  if (!costable(description)) return std::nullopt;
  nlohmann::json json = {{"device", description.device}};
  try {
    const DeviceCost cost = call_device_cost(description, shapes);
    json["cost"] = cost;
    json["time"] = predict_time(cost, find_device_model(description.device));
  } catch (const std::invalid_argument& error) {
    json["error"] = error.what();
  }
  return json;
}

}  // namespace

std::string Suite::fingerprint() const {
  std::uint64_t hash = suite_detail::fnv1a64(name_);
  if (!definition_.is_null()) hash = suite_detail::fnv1a64(definition_.dump(), hash);
  for (const SuiteCase& c : cases_) {
    nlohmann::json item = {{"id", c.id_},
                           {"kind", c.description_.kind},
                           {"mode", c.description_.mode},
                           {"spec", c.description_.spec},
                           {"impl_config", c.description_.impl_config},
                           {"expectations", to_json(c.expectations_)},
                           {"occurrences", c.occurrences_}};
    if (c.vocab_shards_ > 1) item["vocab_shards"] = c.vocab_shards_;
    if (c.seeded_) item["shapes"] = to_json(c.seeded_->first);
    hash = suite_detail::fnv1a64(item.dump(), hash);
  }
  return suite_detail::hex64(hash);
}

std::vector<std::size_t> Suite::selected_cases() const {
  std::vector<std::size_t> selected;
  std::int64_t position = 0;
  for (std::size_t i = 0; i < cases_.size(); ++i) {
    const std::string& id = cases_[i].id_;
    if (!filter_matches_any(options_.filter, {id, name_ + "/" + id})) continue;
    const std::vector<std::string>& tags = cases_[i].tags_;
    const auto tagged = [&tags](const std::string& tag) {
      return std::find(tags.begin(), tags.end(), tag) != tags.end();
    };
    if (!std::all_of(options_.require_tags.begin(), options_.require_tags.end(), tagged) ||
        std::any_of(options_.exclude_tags.begin(), options_.exclude_tags.end(), tagged)) {
      continue;
    }
    if (position++ % options_.shard.total == options_.shard.index) selected.push_back(i);
  }
  return selected;
}

SuiteResult Suite::run_cases() const { return run_impl(false); }

SuiteResult Suite::run_impl(bool skip_all) const {
  validate();
  return run_indices(selected_cases(), skip_all);
}

CaseResult Suite::run_case(std::size_t index) const {
  validate();
  if (index >= cases_.size()) {
    throw std::out_of_range("[suite " + name_ + "] no case " + std::to_string(index));
  }
  return std::move(run_indices({index}, false).cases.front());
}

SuiteResult Suite::run_indices(const std::vector<std::size_t>& selected, bool skip_all) const {
  SuiteResult suite;
  suite.name = name_;
  suite.file = file_;
  suite.model = model_;
  suite.mesh = mesh_;
  suite.fingerprint = fingerprint();
  suite.total_cases = static_cast<std::int64_t>(cases_.size());
  suite.filter = options_.filter;
  for (const std::string& tag : options_.require_tags) {
    suite.tags += (suite.tags.empty() ? "+" : ",+") + tag;
  }
  for (const std::string& tag : options_.exclude_tags) {
    suite.tags += (suite.tags.empty() ? "-" : ",-") + tag;
  }
  suite.seed = options_.seed;
  suite.shards = {options_.shard.index};
  suite.shard_total = options_.shard.total;

  // Inputs captured from callables: each callable runs once for all the cases that name it.
  std::map<std::size_t, CaseInputs> captured;
  std::map<std::size_t, std::string> capture_errors;
  std::map<const InputCapture*, std::vector<std::size_t>> by_capture;
  for (std::size_t index : selected) {
    if (cases_[index].capture_ && !skip_all)
      by_capture[cases_[index].capture_.get()].push_back(index);
  }
  for (const auto& [capture, indices] : by_capture) {
    std::vector<suite_detail::CaptureRequest> requests;
    for (std::size_t index : indices) {
      const SuiteCase& c = cases_[index];
      requests.push_back(
          {c.capture_options_.call.empty() ? c.description_.call : c.capture_options_.call,
           c.capture_options_.call_index});
    }
    try {
      std::vector<suite_detail::CaptureOutcome> outcomes =
          suite_detail::capture_call_inputs(capture->function(), requests);
      for (std::size_t i = 0; i < indices.size(); ++i) {
        if (outcomes[i].inputs) {
          captured.emplace(indices[i], std::move(*outcomes[i].inputs));
        } else {
          capture_errors.emplace(indices[i], outcomes[i].error);
        }
      }
    } catch (const std::exception& error) {
      for (std::size_t index : indices) capture_errors.emplace(index, error.what());
    }
  }

  bool stopped = skip_all;
  for (std::size_t index : selected) {
    const SuiteCase& c = cases_[index];
    CaseResult result;
    result.id = c.id_;
    result.index = static_cast<std::int64_t>(index);
    result.identity = c.description_.identity;
    result.kind = c.description_.kind;
    result.mode = c.description_.mode;
    result.module = c.description_.module;
    result.spec = c.description_.spec;
    result.impl_config = c.description_.impl_config;
    result.preset = c.description_.preset;
    result.device = c.description_.device;
    result.occurrences = c.occurrences_;
    result.vocab_shards = c.vocab_shards_;
    result.tags = c.tags_;
    result.expectations = c.expectations_;
    if (c.seeded_) {
      result.shapes = to_json(c.seeded_->first);
      result.input_source = "seeded";
      result.fingerprint = case_fingerprint(c.description_, c.seeded_->first);
      result.device_cost = case_device_cost(c.description_, c.seeded_->first);
    } else if (c.capture_) {
      result.call = c.capture_options_.call.empty() ? c.description_.call : c.capture_options_.call;
      result.input_source = "captured";
    } else if (c.trace_) {
      result.call = c.trace_->call;
      result.input_source = "trace:" + c.trace_->file;
    } else {
      result.input_source = "given";
    }
    if (stopped) {
      result.status = CaseStatus::not_run;
      suite.cases.push_back(std::move(result));
      continue;
    }

    const auto start = std::chrono::steady_clock::now();
    try {
      CaseInputs inputs;
      if (c.given_) {
        inputs = *c.given_;
      } else if (c.seeded_) {
        const std::uint64_t case_seed = suite_detail::fnv1a64(c.id_) ^ options_.seed;
        std::optional<CaseInputs> drawn =
            c.target_->seeded_inputs(c.seeded_->first, c.seeded_->second, case_seed);
        if (!drawn) throw std::invalid_argument("the target cannot draw seeded inputs");
        inputs = std::move(*drawn);
      } else if (c.capture_) {
        const auto error = capture_errors.find(index);
        if (error != capture_errors.end()) throw std::runtime_error(error->second);
        inputs = std::move(captured.at(index));
        captured.erase(index);
      } else {
        inputs = suite_detail::read_trace_inputs(*c.trace_);
      }
      result.inputs = describe_inputs(inputs);
      const BoundCase bound = c.target_->bind(inputs);
      result.outputs = bound.check(options_.metrics);
      const Expectations& expect = c.expectations_;
      Expectations accuracy_only = expect;
      accuracy_only.latency.reset();
      accuracy_only.device_us.clear();
      if (!accuracy_only.empty()) {
        for (const OutputResult& output : result.outputs) {
          const Verdict verdict = evaluate(output.metrics, expect.accuracy);
          result.verdicts.push_back({"accuracy:" + output.name, verdict.passed, verdict.text()});
        }
      }
      if (!expect.device_us.empty()) {
        result.verdicts.push_back(judge_device_time(
            expect.device_us, call_device_cost(c.description_, c.seeded_->first)));
      }
      if (options_.timing) {
        result.timing = time_repetitions(bound.run_device, c.warmup_.value_or(options_.warmup),
                                         c.repetitions_.value_or(options_.repetitions),
                                         options_.cold_caches ? default_flush_bytes() : 0);
        if (expect.latency) {
          result.verdicts.push_back(judge_latency(*expect.latency, *result.timing));
        }
      }
      result.status = CaseStatus::pass;
      for (const ExpectationVerdict& verdict : result.verdicts) {
        if (!verdict.passed) result.status = CaseStatus::fail;
      }
    } catch (const std::exception& error) {
      result.status = CaseStatus::error;
      result.error = error.what();
    }
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (options_.fail_fast && result.status != CaseStatus::pass) stopped = true;
    if (options_.on_case_done) {
      options_.on_case_done(suite.cases.size() + 1, selected.size(), result);
    }
    suite.cases.push_back(std::move(result));
  }
  return suite;
}

RunResults Suite::run() const { return run_suites({this}); }

RunResults run_suites(const std::vector<const Suite*>& suites) {
  RunResults results;
  results.machine = current_machine();
  results.created_utc = utc_now_iso8601();
  const std::optional<CpuTimes> start = current_cpu_times();
  bool stopped = false;
  for (const Suite* suite : suites) {
    SuiteResult result = suite->run_impl(stopped);
    for (const CaseResult& c : result.cases) {
      if (suite->options().fail_fast && c.status != CaseStatus::pass) stopped = true;
    }
    results.suites.push_back(std::move(result));
  }
  results.machine.load = machine_load_since(start);
  return results;
}

namespace suite_detail {
namespace {
thread_local std::optional<ScopedOutputObserver::Observer> output_observer;
}  // namespace

ScopedOutputObserver::ScopedOutputObserver(Observer observer) {
  if (output_observer.has_value()) {
    throw std::logic_error("[ScopedOutputObserver] an observer is already in scope");
  }
  output_observer = std::move(observer);
}

ScopedOutputObserver::~ScopedOutputObserver() { output_observer.reset(); }

std::vector<OutputResult> compare_outputs(const std::vector<NamedTensor>& device,
                                          const std::vector<NamedTensor>& reference,
                                          const MetricsOptions& options) {
  std::vector<OutputResult> outputs;
  for (const NamedTensor& actual : device) {
    const NamedTensor* expected = nullptr;
    for (const NamedTensor& candidate : reference) {
      if (candidate.name == actual.name) expected = &candidate;
    }
    if (expected == nullptr) {
      throw std::runtime_error("output '" + actual.name + "' has no reference output");
    }
    if (output_observer.has_value()) (*output_observer)(actual, expected->tensor);
    OutputResult output{actual.name, compute_metrics(actual.tensor, expected->tensor, options),
                        0.0};
    double squares = 0.0;
    const Tensor values = expected->tensor.to(DType::float32);
    for (float value : values.floats()) squares += double(value) * double(value);
    output.reference_rms =
        values.numel() == 0 ? 0.0 : std::sqrt(squares / static_cast<double>(values.numel()));
    outputs.push_back(std::move(output));
  }
  for (const NamedTensor& expected : reference) {
    bool found = false;
    for (const NamedTensor& actual : device) found = found || actual.name == expected.name;
    if (!found) {
      throw std::runtime_error("reference output '" + expected.name + "' has no device output");
    }
  }
  return outputs;
}

std::shared_ptr<const CaseTarget> make_wrapped_target(WrappedCall call) {
  return std::make_shared<const WrappedTarget>(std::move(call));
}

}  // namespace suite_detail
}  // namespace ttt
