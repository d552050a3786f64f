#include "coverage/sources.h"

#include <nlohmann/json.hpp>

#include "validation/input/input_file.h"

namespace ttt {
namespace {

// Parses JSON text a record or trace holds; text that is not a JSON object gives {}.
nlohmann::json object_or_empty(const std::string& text) {
  try {
    nlohmann::json parsed = parse_json(text, "");
    return parsed.is_object() ? parsed : nlohmann::json::object();
  } catch (const std::invalid_argument&) {
    return nlohmann::json::object();
  }
}

}  // namespace

CoverageRecord coverage_record(const ValidationRecord& record, const std::string& origin) {
  CallObservation observation;
  observation.source = "wrapper";
  observation.origin = origin;
  observation.name = record.name;
  observation.kind = record.block;
  observation.spec = object_or_empty(record.spec_json);
  observation.impl_config = object_or_empty(record.impl_config_json);
  observation.device = record.device;
  observation.fingerprint = record.fingerprint;
  observation.inputs = record.inputs;
  observation.outcome =
      record.passed ? CallObservation::Outcome::passed : CallObservation::Outcome::failed;
  return make_coverage_record(observation);
}

std::vector<CoverageRecord> coverage_records(const TraceReader& trace, const ReplayReport& report) {
  std::vector<CoverageRecord> records;
  for (const ReplayedCall& replayed : report.calls) {
    if (replayed.status == ReplayStatus::skipped) continue;
    const TraceCall call = trace.call(replayed.seq);
    CallObservation observation;
    observation.source = "replay";
    observation.origin = trace.path();
    observation.name = call.name;
    observation.kind = call.block;
    observation.spec = object_or_empty(call.spec_json);
    observation.impl_config = object_or_empty(call.impl_config_json);
    observation.scalars = object_or_empty(call.scalars_json);
    observation.device = call.device;
    observation.fingerprint = call.fingerprint;
    for (const TraceTensor& input : call.inputs) {
      observation.inputs.push_back({input.name, input.shape, input.dtype});
    }
    observation.outcome = replayed.status == ReplayStatus::pass ? CallObservation::Outcome::passed
                                                                : CallObservation::Outcome::failed;
    records.push_back(make_coverage_record(observation));
  }
  return records;
}

}  // namespace ttt
