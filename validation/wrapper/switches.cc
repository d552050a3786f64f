#include "validation/wrapper/switches.h"

#include <fnmatch.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace ttt {
namespace {

struct Settings {
  std::string filter = "*";
  SamplingSettings sampling;
};

std::mutex& settings_mutex() {
  static std::mutex mutex;
  return mutex;
}

// Guarded by settings_mutex(); the on/off state lives in detail::validation_state.
Settings& settings() {
  static Settings value;
  return value;
}

std::atomic<std::uint64_t> filter_generation_counter{0};
std::once_flag environment_once;

// Splits a filter on ',' into its globs. Throws for an empty element.
std::vector<std::string_view> split_filter(std::string_view filter) {
  std::vector<std::string_view> globs;
  if (filter.empty()) return globs;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = filter.find(',', start);
    const std::string_view glob = filter.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (glob.empty() || glob == "-") {
      throw std::invalid_argument("[validation filter] \"" + std::string(filter) +
                                  "\" has an empty glob; expected comma-separated globs such as "
                                  "\"layers.*,-layers.*.mlp\"");
    }
    globs.push_back(glob);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return globs;
}

bool glob_matches(std::string_view glob, std::string_view name) {
  return fnmatch(std::string(glob).c_str(), std::string(name).c_str(), 0) == 0;
}

std::int64_t parse_count(const char* variable, const char* text, std::int64_t minimum) {
  const std::string_view value(text);
  std::int64_t parsed = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
  if (value.empty() || error != std::errc() || end != value.data() + value.size() ||
      parsed < minimum) {
    throw std::invalid_argument(std::string("[") + variable + "] expected an integer >= " +
                                std::to_string(minimum) + ", got \"" + std::string(value) + "\"");
  }
  return parsed;
}

void check_sampling(SamplingSettings sampling) {
  if (sampling.every < 1 || sampling.first < 0) {
    throw std::invalid_argument(
        "[set_validation_sampling] every must be >= 1 and first >= 0, got "
        "every=" +
        std::to_string(sampling.every) + ", first=" + std::to_string(sampling.first));
  }
}

const char* non_empty_env(const char* variable) {
  const char* value = std::getenv(variable);
  return value != nullptr && value[0] != '\0' ? value : nullptr;
}

// Reads every variable first, then applies them together, so a malformed one changes nothing.
void load_environment() {
  bool enabled = true;
  if (const char* value = non_empty_env("TTT_VALIDATE")) {
    const std::string_view text(value);
    if (text != "0" && text != "1") {
      throw std::invalid_argument("[TTT_VALIDATE] expected 0 or 1, got \"" + std::string(text) +
                                  "\"");
    }
    enabled = text == "1";
  }
  Settings loaded;
  if (const char* value = non_empty_env("TTT_VALIDATE_FILTER")) {
    split_filter(value);
    loaded.filter = value;
  }
  if (const char* value = non_empty_env("TTT_VALIDATE_EVERY")) {
    loaded.sampling.every = parse_count("TTT_VALIDATE_EVERY", value, 1);
  }
  if (const char* value = non_empty_env("TTT_VALIDATE_FIRST")) {
    loaded.sampling.first = parse_count("TTT_VALIDATE_FIRST", value, 0);
  }
  {
    std::lock_guard lock(settings_mutex());
    settings() = std::move(loaded);
    filter_generation_counter.fetch_add(1, std::memory_order_release);
  }
  detail::validation_state.store(enabled ? detail::kValidationOn : detail::kValidationOff,
                                 std::memory_order_release);
}

}  // namespace

namespace detail {

void ensure_settings_loaded() {
  if (validation_state.load(std::memory_order_acquire) != kSettingsUnread) return;
  std::call_once(environment_once, load_environment);
}

std::uint64_t filter_generation() {
  return filter_generation_counter.load(std::memory_order_acquire);
}

}  // namespace detail

void set_validation_enabled(bool enabled) {
  detail::ensure_settings_loaded();
  detail::validation_state.store(enabled ? detail::kValidationOn : detail::kValidationOff,
                                 std::memory_order_release);
}

bool validation_enabled() {
  detail::ensure_settings_loaded();
  return detail::validation_state.load(std::memory_order_acquire) == detail::kValidationOn;
}

void set_validation_filter(std::string filter) {
  split_filter(filter);
  detail::ensure_settings_loaded();
  std::lock_guard lock(settings_mutex());
  settings().filter = filter.empty() ? "*" : std::move(filter);
  filter_generation_counter.fetch_add(1, std::memory_order_release);
}

std::string validation_filter() {
  detail::ensure_settings_loaded();
  std::lock_guard lock(settings_mutex());
  return settings().filter;
}

bool filter_matches(std::string_view filter, std::string_view name) {
  return filter_matches_any(filter, {name});
}

bool filter_matches_any(std::string_view filter, std::initializer_list<std::string_view> names) {
  const auto any_name = [&](std::string_view glob) {
    return std::any_of(names.begin(), names.end(),
                       [&](std::string_view name) { return glob_matches(glob, name); });
  };
  bool any_positive = false;
  bool included = false;
  for (const std::string_view glob : split_filter(filter)) {
    if (glob.front() == '-') {
      if (any_name(glob.substr(1))) return false;
    } else {
      any_positive = true;
      included = included || any_name(glob);
    }
  }
  return included || !any_positive;
}

void set_validation_sampling(SamplingSettings sampling) {
  check_sampling(sampling);
  detail::ensure_settings_loaded();
  std::lock_guard lock(settings_mutex());
  settings().sampling = sampling;
}

SamplingSettings validation_sampling() {
  detail::ensure_settings_loaded();
  std::lock_guard lock(settings_mutex());
  return settings().sampling;
}

bool sampled(std::int64_t call_index, SamplingSettings sampling) {
  return call_index % sampling.every == 0 && (sampling.first == 0 || call_index < sampling.first);
}

void reload_validation_settings_from_environment() {
  detail::ensure_settings_loaded();
  load_environment();
}

}  // namespace ttt
