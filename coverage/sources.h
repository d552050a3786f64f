// Coverage records from the places calls are checked: the compare_to_reference wrapper's
// validation records and `ttt replay`'s replayed trace calls. (Suite results become records in
// coverage/suite_coverage.h.)
#pragma once

#include <string>
#include <vector>

#include "coverage/record.h"
#include "validation/trace/replay.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/registry.h"

namespace ttt {

// The record of one validated wrapper call: source "wrapper", the record's block, Spec,
// ImplConfig, device and tensor inputs, and its verdict (passed or failed); the mode comes from
// the block kind or the call's name (make_coverage_record). `origin` is copied into the record.
CoverageRecord coverage_record(const ValidationRecord& record, const std::string& origin = "");

// The records of the calls `report` replayed from `trace` (source "replay", origin the trace's
// path): one per call that passed or failed; skipped calls and calls not run are not covered.
// Throws TraceError when a call of the report cannot be read from `trace`.
std::vector<CoverageRecord> coverage_records(const TraceReader& trace, const ReplayReport& report);

}  // namespace ttt
