// Coverage records from suite results: one per case that ran (docs/coverage.md "Sources"); and
// reading coverage data that may be either a coverage file or suite results.
#pragma once

#include <string>
#include <vector>

#include "coverage/catalog/catalog.h"
#include "coverage/record.h"
#include "coverage/report.h"
#include "suites/suite/results.h"

namespace ttt {

// The record of one case of `suite`: source "suite", origin the suite's name, the case's block
// kind, mode, Spec, ImplConfig, device and inputs; passed when the case passed, failed when it
// failed or erred. Returns nothing for a case that did not run (not_run), or whose kind is not a
// block ("wrapped" and "module" cases carry no Spec).
std::vector<CoverageRecord> coverage_records(const SuiteResult& suite);
// Every suite's records, in order.
std::vector<CoverageRecord> coverage_records(const RunResults& results);

// The coverage report of suite results: what the seeds call suite.coverage_report().
//   ttt::RunResults results = suite.run();
//   std::cout << ttt::format_coverage_console(ttt::coverage_report(results));
CoverageReport coverage_report(const RunResults& results,
                               const Catalog& catalog = builtin_catalog(),
                               const CoverageReportOptions& options = {});

// Reads coverage data in either form `ttt coverage` accepts: a JSON Lines coverage file, or suite
// results (a JSON document whose "format" is "ttt-suite-results", as `ttt suite run --json`
// writes), whose cases become records. Throws std::invalid_argument naming the file (and line or
// JSON path) for anything else.
std::vector<CoverageRecord> read_coverage_data(const std::string& path);
// read_coverage_data() of every file, in order.
std::vector<CoverageRecord> read_coverage_data(const std::vector<std::string>& paths);

}  // namespace ttt
