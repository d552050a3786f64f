#include "coverage/gate/suite_coverage.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "validation/input/input_file.h"

namespace ttt {

std::vector<CoverageRecord> coverage_records(const SuiteResult& suite) {
  std::vector<CoverageRecord> records;
  for (const CaseResult& result : suite.cases) {
    if (result.status == CaseStatus::not_run) continue;
    if (result.kind.empty() || result.kind == "wrapped" || result.kind == "module") continue;
    CallObservation observation;
    observation.source = "suite";
    observation.origin = suite.name;
    observation.name = result.id;
    observation.kind = result.kind;
    observation.mode = result.mode;
    observation.spec = result.spec;
    observation.impl_config = result.impl_config;
    observation.device = result.device;
    observation.vocab_shards = result.vocab_shards;
    for (const CaseInput& input : result.inputs) {
      observation.inputs.push_back({input.name, input.shape, input.dtype});
    }
    observation.outcome = result.status == CaseStatus::pass ? CallObservation::Outcome::passed
                                                            : CallObservation::Outcome::failed;
    records.push_back(make_coverage_record(observation));
  }
  return records;
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
