// Coverage records from suite results: one per case that ran (docs/coverage.md "Sources"); the
// records a suite file plans, before it runs ("Planned coverage"); and reading coverage data that
// may be either a coverage file or suite results.
#pragma once

#include <string>
#include <vector>

#include "coverage/catalog/catalog.h"
#include "coverage/record.h"
#include "coverage/report.h"
#include "suites/suite/results.h"
#include "suites/suite/suite_file.h"

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

// The records the cases of `file` will give when they run, without running them (nothing is
// drawn or computed): one per case, with the kind, mode, Spec, ImplConfig (preset and overrides
// applied), device and vocabulary shards a run records, source "plan", origin the suite's name,
// and one call without a verdict (unchecked). Planned records have no inputs; their batch and
// seq_len are the case's shapes, bucketed (0 for inputs read from a trace, whose shapes only the
// trace knows). Every case counts: the run options' filter, tags and shard play no part.
//   std::vector<ttt::CoverageRecord> plan = ttt::planned_coverage_records(ttt::load_suite_file(f));
std::vector<CoverageRecord> planned_coverage_records(const SuiteFile& file);

// The configurations of the catalog model called `model` (case-insensitive) that no record
// exercises, in catalog order: what a suite file still lacks to cover its model. Throws
// std::invalid_argument naming a model the catalog does not have (listing those it has).
std::vector<CatalogConfig> unexercised_configurations(const std::vector<CoverageRecord>& records,
                                                      const std::string& model,
                                                      const Catalog& catalog = builtin_catalog());

// Reads coverage data in either form `ttt coverage` accepts: a JSON Lines coverage file, or suite
// results (a JSON document whose "format" is "ttt-suite-results", as `ttt suite run --json`
// writes), whose cases become records. Throws std::invalid_argument naming the file (and line or
// JSON path) for anything else.
std::vector<CoverageRecord> read_coverage_data(const std::string& path);
// read_coverage_data() of every file, in order.
std::vector<CoverageRecord> read_coverage_data(const std::vector<std::string>& paths);

}  // namespace ttt
