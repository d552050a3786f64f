// Small helpers shared by the trace library's writer, reader, recovery and replay.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "validation/tensor/tensor.h"

namespace ttt::trace_internal {

// The trace format's fixed names.
inline constexpr std::string_view kFormatName = "ttt-trace";
inline constexpr std::int64_t kFormatVersion = 1;
inline constexpr std::string_view kJournalSuffix = ".journal";

// "/calls/000012": six digits at least, more when the sequence number needs them.
std::string call_group_path(std::int64_t seq);

// Shell-style glob ('*', '?', '[...]') over the whole of `text` ('/' and '.' are ordinary).
bool glob_match(const std::string& pattern, const std::string& text);

// The current time in UTC as ISO 8601 ("2026-12-08T00:41:07Z"): the files' "created_utc".
std::string utc_now_iso8601();

// True when every path component of `name` ('/'-separated) is non-empty and not "." or "..".
bool valid_relative_name(std::string_view name);

}  // namespace ttt::trace_internal
