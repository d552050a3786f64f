#include "coverage/suite_coverage.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "validation/input/input_file.h"

namespace ttt {

namespace {

// What coverage sees of suite case `id` before its inputs and outcome: the block kind, mode,
// Spec, ImplConfig and device of `configured`, a CaseResult or (for a planned case) the
// CaseDescription of its target, which carry them under the same names.
template <typename Configured>
CallObservation case_observation(const std::string& suite, const std::string& id,
                                 const Configured& configured, std::int64_t vocab_shards) {
  CallObservation observation;
  observation.source = "suite";
  observation.origin = suite;
  observation.name = id;
  observation.kind = configured.kind;
  observation.mode = configured.mode;
  observation.spec = configured.spec;
  observation.impl_config = configured.impl_config;
  observation.device = configured.device;
  observation.vocab_shards = vocab_shards;
  return observation;
}

}  // namespace

std::vector<CoverageRecord> coverage_records(const SuiteResult& suite) {
  std::vector<CoverageRecord> records;
  for (const CaseResult& result : suite.cases) {
    if (result.status == CaseStatus::not_run) continue;
    if (result.kind.empty() || result.kind == "wrapped" || result.kind == "module") continue;
    CallObservation observation =
        case_observation(suite.name, result.id, result, result.vocab_shards);
    for (const CaseInput& input : result.inputs) {
      observation.inputs.push_back({input.name, input.shape, input.dtype});
    }
    observation.fingerprint = result.fingerprint;
    observation.outcome = result.status == CaseStatus::pass ? CallObservation::Outcome::passed
                                                            : CallObservation::Outcome::failed;
    records.push_back(make_coverage_record(observation));
  }
  return records;
}

std::vector<CoverageRecord> planned_coverage_records(const SuiteFile& file) {
  // The suite a run would build: its block targets resolve each case's Spec and ImplConfig (the
  // preset and overrides) exactly as the run does, and draw nothing until a case runs.
  const Suite suite = make_suite(file);
  std::vector<CoverageRecord> records;
  for (std::size_t i = 0; i < file.cases.size(); ++i) {
    const SuiteFileCase& planned = file.cases[i];
    const CaseDescription description = suite.case_at(i).target().describe();
    CallObservation observation = case_observation(file.name, planned.id, description,
                                                   planned.module ? planned.module->split : 1);
    observation.source = "plan";
    CoverageRecord record = make_coverage_record(observation);
    // The token dimensions a run records (make_coverage_record) from the activation its seeded
    // shapes give; a traced case's shapes are in the trace.
    if (!planned.trace) {
      record.batch = token_bucket(planned.shapes.batch);
      record.seq_len = planned.mode == Mode::prefill ? token_bucket(planned.shapes.seq_len) : 1;
      // The fingerprint the run's result will carry (Suite::run: seeded cases only).
      record.fingerprint = case_fingerprint(description, planned.shapes);
    }
    records.push_back(std::move(record));
  }
  return records;
}

std::vector<CatalogConfig> unexercised_configurations(const std::vector<CoverageRecord>& records,
                                                      const std::string& model,
                                                      const Catalog& catalog) {
  const CoverageReport report =
      restrict_to_models(build_coverage_report(records, catalog), {model});
  std::vector<CatalogConfig> missing;
  for (const ConfigCoverage& config : report.models.front().configurations) {
    if (config.status == ConfigStatus::missing) missing.push_back(config.config);
  }
  return missing;
}

std::vector<CoverageRecord> coverage_records(const RunResults& results) {
  std::vector<CoverageRecord> records;
  for (const SuiteResult& suite : results.suites) {
    std::vector<CoverageRecord> part = coverage_records(suite);
    records.insert(records.end(), part.begin(), part.end());
  }
  return records;
}

CoverageReport coverage_report(const RunResults& results, const Catalog& catalog,
                               const CoverageReportOptions& options) {
  return build_coverage_report(coverage_records(results), catalog, options);
}

std::vector<CoverageRecord> read_coverage_data(const std::string& path) {
  const std::string text = read_input_file(path, "the coverage data");
  // Suite results are one JSON document; a coverage file is one JSON object per line (a file of
  // one record parses as a document too, but has no "format"). Several lines are no document:
  // read_coverage_file reads them, and names the line of any error.
  nlohmann::json document;
  try {
    document = parse_json(text, path);
  } catch (const std::invalid_argument&) {
    document = nullptr;
  }
  if (document.is_object() && document.value("format", "") == std::string(kSuiteResultsFormat)) {
    try {
      return coverage_records(run_results_from_json(document));
    } catch (const std::invalid_argument& error) {
      throw std::invalid_argument(path + ": " + error.what());
    }
  }
  return read_coverage_file(path);
}

std::vector<CoverageRecord> read_coverage_data(const std::vector<std::string>& paths) {
  std::vector<CoverageRecord> records;
  for (const std::string& path : paths) {
    std::vector<CoverageRecord> part = read_coverage_data(path);
    records.insert(records.end(), part.begin(), part.end());
  }
  return records;
}

}  // namespace ttt
