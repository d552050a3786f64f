#include "validation/wrapper/registry.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "validation/wrapper/switches.h"

namespace ttt {
namespace {

std::optional<double> median(std::vector<double> values) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const std::size_t middle = values.size() / 2;
  if (values.size() % 2 == 1) return values[middle];
  return (values[middle - 1] + values[middle]) / 2.0;
}

// Times of the calls that are not first calls, or of every call when only first calls exist.
std::optional<double> warm_median(const std::vector<std::pair<bool, double>>& first_and_time) {
  std::vector<double> warm;
  std::vector<double> all;
  for (const auto& [first, time] : first_and_time) {
    all.push_back(time);
    if (!first) warm.push_back(time);
  }
  return median(warm.empty() ? all : warm);
}

// Keeps the worse of `worst` and `value`; NaN is worse than any number.
void keep_worst(std::optional<double>& worst, double value, bool higher_is_worse) {
  if (worst.has_value() && std::isnan(*worst)) return;
  if (!worst.has_value() || std::isnan(value) ||
      (higher_is_worse ? value > *worst : value < *worst)) {
    worst = value;
  }
}

bool matches(const RecordQuery& query, const ValidationRecord& record) {
  return record.sequence >= query.min_sequence && (!query.failed_only || !record.passed) &&
         filter_matches(query.name_filter, record.name);
}

}  // namespace

std::string SourceLocation::text() const { return file + ":" + std::to_string(line); }

SourceLocation source_location_of(const std::source_location& location) {
  return {location.file_name(), location.line(), readable_function_name(location.function_name())};
}

namespace {

bool opens(char c) { return c == '(' || c == '[' || c == '{'; }
bool closes(char c) { return c == ')' || c == ']' || c == '}'; }

// GCC names a lambda "<lambda(int)>" after its enclosing function ("ttt::f()::<lambda(int)>"):
// keep the enclosing function, whose parameters then end the name.
std::string_view without_lambda(std::string_view pretty) {
  const std::size_t lambda = pretty.find("::<lambda(");
  return lambda == std::string_view::npos ? pretty : pretty.substr(0, lambda);
}

// True when the '<' or '>' at `at` belongs to an operator's name ("operator<", "operator->").
bool in_operator_name(std::string_view text, std::size_t at) {
  std::size_t start = at;
  while (start > 0 && (text[start - 1] == '<' || text[start - 1] == '>' || text[start - 1] == '-' ||
                       text[start - 1] == '=')) {
    --start;
  }
  return start >= 8 && text.substr(start - 8, 8) == "operator";
}

}  // namespace

std::string readable_function_name(std::string_view pretty) {
  // GCC appends the template arguments: "... [with T = int; U = ...]".
  if (const std::size_t with = pretty.find(" [with "); with != std::string_view::npos) {
    pretty = pretty.substr(0, with);
  }
  pretty = without_lambda(pretty);
  // Drop the parameter list: the group the last ')' closes (after it: const, &, noexcept).
  if (const std::size_t close = pretty.rfind(')'); close != std::string_view::npos) {
    int depth = 0;
    for (std::size_t i = close + 1; i-- > 0;) {
      if (pretty[i] == ')') ++depth;
      if (pretty[i] == '(' && --depth == 0) {
        pretty = pretty.substr(0, i);  // "operator()(int)" keeps "operator()".
        break;
      }
    }
  }
  // Drop the return type (before the last space outside brackets) and template arguments.
  std::string name;
  int depth = 0;
  for (std::size_t i = 0; i < pretty.size(); ++i) {
    const char c = pretty[i];
    const bool operator_char = (c == '<' || c == '>') && in_operator_name(pretty, i);
    if (c == '<' && !operator_char) {
      ++depth;
      continue;
    }
    if (c == '>' && !operator_char) {
      if (depth > 0) --depth;
      continue;
    }
    if (depth > 0) continue;
    if (c == ' ' && !name.empty()) {
      // A space outside template arguments ends the return type, unless it sits inside a
      // bracketed part of the name ("(anonymous namespace)").
      int open = 0;
      for (char seen : name) open += opens(seen) ? 1 : closes(seen) ? -1 : 0;
      if (open == 0) {
        name.clear();
        continue;
      }
    }
    name += c;
  }
  return name.empty() ? std::string(pretty) : name;
}

std::vector<std::string> ValidationRecord::failure_lines() const {
  std::vector<std::string> lines;
  for (const StageFailure& error : errors) lines.push_back(error.stage + ": " + error.message);
  for (const OutputCheck& output : outputs) {
    for (const std::string& failure : output.verdict.failures) {
      lines.push_back(output.name + ": " + failure);
    }
    if (output.verdict.passed) continue;
    for (const DeviceCheck& check : output.devices) {
      for (const std::string& failure : check.verdict.failures) {
        lines.push_back(output.name + " device " + std::to_string(check.device) + " (row " +
                        std::to_string(check.row) + ", col " + std::to_string(check.col) +
                        "): " + failure);
      }
    }
  }
  return lines;
}

std::string ValidationRecord::verdict_text() const {
  const std::vector<std::string> lines = failure_lines();
  if (lines.empty()) return "pass";
  std::string text;
  for (const std::string& line : lines) {
    if (!text.empty()) text += "; ";
    text += line;
  }
  return text;
}

ValidationSummary summarize(const std::vector<ValidationRecord>& records) {
  struct Accumulator {
    NameSummary summary;
    std::vector<std::pair<bool, double>> device_times;
    std::vector<std::pair<bool, double>> reference_times;
  };
  ValidationSummary result;
  std::vector<Accumulator> per_name;
  std::map<std::string, std::size_t, std::less<>> index_of;
  for (const ValidationRecord& record : records) {
    auto [it, inserted] = index_of.try_emplace(record.name, per_name.size());
    if (inserted) {
      per_name.emplace_back();
      per_name.back().summary.name = record.name;
      per_name.back().summary.location = record.location;
      per_name.back().summary.block = record.block;
    }
    Accumulator& accumulator = per_name[it->second];
    NameSummary& summary = accumulator.summary;
    ++summary.calls;
    ++(record.passed ? summary.passed : summary.failed);
    ++result.calls;
    ++(record.passed ? result.passed : result.failed);
    for (const OutputCheck& output : record.outputs) {
      if (!output.metrics.has_value()) continue;
      keep_worst(summary.worst_pcc, output.metrics->pcc, /*higher_is_worse=*/false);
      keep_worst(summary.worst_max_abs_error, output.metrics->max_abs_error,
                 /*higher_is_worse=*/true);
    }
    accumulator.device_times.emplace_back(record.first_call, static_cast<double>(record.device_ns));
    if (record.reference_ns >= 0) {
      accumulator.reference_times.emplace_back(record.first_call,
                                               static_cast<double>(record.reference_ns));
    }
  }
  for (Accumulator& accumulator : per_name) {
    NameSummary& summary = accumulator.summary;
    summary.median_device_ns = warm_median(accumulator.device_times);
    summary.median_reference_ns = warm_median(accumulator.reference_times);
    if (summary.median_device_ns.has_value() && summary.median_reference_ns.has_value() &&
        *summary.median_device_ns > 0.0) {
      summary.speedup = *summary.median_reference_ns / *summary.median_device_ns;
    }
    result.names.push_back(std::move(summary));
  }
  return result;
}

std::int64_t ValidationRegistry::add(ValidationRecord record) {
  record.sequence = reserve_sequence();
  const std::int64_t sequence = record.sequence;
  store(std::move(record));
  return sequence;
}

std::int64_t ValidationRegistry::reserve_sequence() {
  std::lock_guard lock(mutex_);
  return next_sequence_++;
}

void ValidationRegistry::store(ValidationRecord record) {
  std::lock_guard lock(mutex_);
  // Another thread may store a later number first; the right place is then near the end.
  auto position = records_.end();
  while (position != records_.begin() && std::prev(position)->sequence > record.sequence) {
    --position;
  }
  records_.insert(position, std::move(record));
}

std::vector<ValidationRecord> ValidationRegistry::records(const RecordQuery& query) const {
  std::lock_guard lock(mutex_);
  std::vector<ValidationRecord> result;
  for (const ValidationRecord& record : records_) {
    if (matches(query, record)) result.push_back(record);
  }
  return result;
}

std::optional<ValidationRecord> ValidationRegistry::first_failure() const {
  std::lock_guard lock(mutex_);
  for (const ValidationRecord& record : records_) {
    if (!record.passed) return record;
  }
  return std::nullopt;
}

std::size_t ValidationRegistry::size() const {
  std::lock_guard lock(mutex_);
  return records_.size();
}

std::int64_t ValidationRegistry::next_sequence() const {
  std::lock_guard lock(mutex_);
  return next_sequence_;
}

ValidationSummary ValidationRegistry::summary(const RecordQuery& query) const {
  return summarize(records(query));
}

void ValidationRegistry::clear() {
  std::lock_guard lock(mutex_);
  records_.clear();
}

void ValidationRegistry::reset() {
  std::lock_guard lock(mutex_);
  records_.clear();
  for (auto& [name, state] : names_) state->calls.store(0, std::memory_order_relaxed);
}

std::shared_ptr<detail::NameState> ValidationRegistry::name_state(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto it = names_.find(name);
  if (it == names_.end()) {
    it = names_.emplace(name, std::make_shared<detail::NameState>(name)).first;
  }
  return it->second;
}

ValidationRegistry& validation_registry() {
  static ValidationRegistry* registry = new ValidationRegistry();  // Outlives static destructors.
  return *registry;
}

}  // namespace ttt
