// Process-wide switches of compare_to_reference: on/off, a name filter and sampling.
//
// Settings come from the environment on first use and can be changed by the API at any time, from
// any thread:
//   TTT_VALIDATE=0|1          validation off / on (default: on).
//   TTT_VALIDATE_FILTER=GLOBS only names matching the filter are validated (default: all).
//   TTT_VALIDATE_EVERY=N      validate every Nth call of each name: calls 0, N, 2N, ... (default
//   1). TTT_VALIDATE_FIRST=N      validate only the first N calls of each name (default 0: all).
// A filter is a comma-separated list of fnmatch globs ('*', '?', '[...]'; '*' also matches '.');
// a glob starting with '-' excludes: "layers.*,-layers.*.mlp" validates every layer but the MLPs.
// With validation off (and no trace capture active) a wrapped call costs at most 2 ns more than
// calling the device function directly (bench/wrapper_bench.cc).
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace ttt {

// Turns validation on or off for every wrapped callable (overrides TTT_VALIDATE).
void set_validation_enabled(bool enabled);
// Whether validation is on globally.
bool validation_enabled();

// Sets the name filter (overrides TTT_VALIDATE_FILTER). "" or "*" validates every name.
// Throws std::invalid_argument for an empty glob in the list ("a,,b") naming the filter.
void set_validation_filter(std::string filter);
// The current name filter ("*" when unset).
std::string validation_filter();
// True when `name` passes `filter` (the syntax above). Exposed for tools and tests.
bool filter_matches(std::string_view filter, std::string_view name);
// True when a thing known by several `names` (a suite case's id and "<suite>/<id>") passes
// `filter`: an exclusion matching any of its names rejects it, a glob matching any selects it.
bool filter_matches_any(std::string_view filter, std::initializer_list<std::string_view> names);

// Which calls of a name are validated: call index i (from 0) is validated when
// i % every == 0 and (first == 0 or i < first).
struct SamplingSettings {
  std::int64_t every = 1;  // Default: every call. REQUIRES: >= 1.
  std::int64_t first = 0;  // Default 0: no limit. REQUIRES: >= 0.
};
// Sets the process-wide sampling (overrides TTT_VALIDATE_EVERY / TTT_VALIDATE_FIRST); a wrapped
// callable's CompareOptions::sample_every / sample_first override it. Throws
// std::invalid_argument for every < 1 or first < 0.
void set_validation_sampling(SamplingSettings sampling);
SamplingSettings validation_sampling();
// Whether call `call_index` of a name is validated under `sampling`.
bool sampled(std::int64_t call_index, SamplingSettings sampling);

// Reads TTT_VALIDATE, TTT_VALIDATE_FILTER, TTT_VALIDATE_EVERY and TTT_VALIDATE_FIRST again,
// replacing what the API set (unset variables restore the defaults). Settings are read once
// automatically on first use; call this after setenv() in tests or tools. Throws
// std::invalid_argument naming the variable and its value when a value is malformed
// (TTT_VALIDATE accepts exactly "0" or "1"); the settings are then left unchanged.
void reload_validation_settings_from_environment();

namespace detail {

// The fast path's only state: kSettingsUnread until the environment was read, then whether
// validation is on. Constant-initialized, so wrapped calls made during static initialization work.
inline constexpr int kSettingsUnread = 0;
inline constexpr int kValidationOff = 1;
inline constexpr int kValidationOn = 2;
inline std::atomic<int> validation_state{kSettingsUnread};

// Reads the environment once (thread-safe); later calls return immediately.
void ensure_settings_loaded();
// Increases whenever the filter changes; name-level caches compare against it.
std::uint64_t filter_generation();

}  // namespace detail

}  // namespace ttt
