// Coverage reports: what coverage records exercised, measured against the catalog
// (docs/coverage.md "Reports").
//
//   std::vector<ttt::CoverageRecord> records = ttt::read_coverage_files(files);
//   ttt::CoverageReport report = ttt::build_coverage_report(records, ttt::builtin_catalog());
//   std::cout << ttt::format_coverage_console(report);
//
// A report has three parts:
//   - per model, the share of the block configurations it needs (catalog.h) that records
//     exercised, and that passed, with the missing and failing ones listed;
//   - per block family, for each domain parameter the values records tested against the declared
//     domain ("dim: tested 2048..4096 (2 values); missing < 2048: 768, 896, 1024, 1536");
//   - per block family, t-way combinatorial coverage over the parameters' domains (tway.h), with
//     the missing tuples.
// A record matches a catalog configuration when the block family, the mode, the Spec's identity
// string, the main weight's dtype and the topology (the Spec's mesh, else the device's) are equal
// (CatalogConfig::key()).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "coverage/catalog/catalog.h"
#include "coverage/record.h"
#include "coverage/tway.h"

namespace ttt {

// How a report is built. Every field has a default.
struct CoverageReportOptions {
  // t of the t-way coverage. REQUIRES: 1 <= strength <= 6. Default: 2 (pairwise).
  int strength = 2;
  // The data files the records came from, listed by the report.
  std::vector<std::string> sources{};
};

// What the records say about one catalog configuration.
enum class ConfigStatus {
  missing,    // No record matches it.
  unchecked,  // Exercised, but no call had a verdict (a trace without validation).
  failing,    // A matching call failed.
  passing,    // Matching calls passed and none failed.
};
// "missing", "unchecked", "failing", "passing".
const char* config_status_name(ConfigStatus status);

struct ConfigCoverage {
  CatalogConfig config;
  ConfigStatus status = ConfigStatus::missing;
  std::uint64_t calls = 0;
  std::uint64_t passed = 0;
  std::uint64_t failed = 0;
};

// Counts of configurations: all, exercised (any record), passing.
struct CoverageCounts {
  std::int64_t configurations = 0;
  std::int64_t exercised = 0;
  std::int64_t passing = 0;
  // exercised / configurations and passing / configurations in percent (100 with none).
  double exercised_pct() const;
  double passing_pct() const;
};

// One row per (model, topology): the model's configurations on one device, named as the model
// ("Llama-3.1-70B"), then on each multi-device topology it targets, named "<model>@<topology>"
// ("Llama-3.1-70B@TG"), which only records on that mesh cover.
struct ModelCoverage {
  std::string name;
  std::string hf_id;
  std::string topology;  // The mesh ("T3K"); "" for the configurations on one device.
  CoverageCounts counts;
  std::vector<ConfigCoverage> configurations;  // In catalog order.
  // Per block family present in the model, in the order of first appearance.
  std::vector<std::pair<std::string, CoverageCounts>> blocks;
  std::vector<std::string> unsupported;
};

// One domain parameter against the records of its block family.
struct ParameterCoverage {
  std::string name;
  std::string field;
  bool tway = true;
  std::vector<nlohmann::json> domain;   // As the catalog declares it (DomainParameter).
  std::vector<nlohmann::json> tested;   // Domain values some record has, in domain order.
  std::vector<nlohmann::json> failing;  // Tested values some failing call had, in domain order.
  std::vector<nlohmann::json> missing;  // Domain values no record has, in domain order.
  std::vector<nlohmann::json> outside;  // Values records have that the domain lacks (sorted).
  std::int64_t unknown = 0;             // Records without a value for the field.
  // "dim: tested 2048..4096 (2 of 9 values); missing < 2048: 768, 896, 1024, 1536; > 4096: 8192".
  std::string summary;
};

struct BlockCoverage {
  std::string block;
  std::int64_t records = 0;  // Aggregated records of this family.
  std::uint64_t calls = 0;
  std::uint64_t passed = 0;
  std::uint64_t failed = 0;
  bool has_domain = false;  // The catalog declares a domain for this family.
  std::vector<ParameterCoverage> parameters;
  std::vector<std::string> tway_parameters;  // Names, in TwayCoverage's parameter order.
  TwayCoverage tway;
};

// A configuration records exercised that no catalog model needs.
struct UnmatchedConfig {
  std::string block;
  std::string mode;
  std::string identity;
  std::string weight_dtype;
  std::string topology;  // The mesh ("T3K"); "" for one device.
  std::uint64_t calls = 0;
  std::uint64_t passed = 0;
  std::uint64_t failed = 0;
  std::string problem;  // Why the Spec could not be read, when it could not.
};

struct CoverageReport {
  std::string catalog;  // Catalog::source.
  int strength = 2;
  std::vector<std::string> sources;
  std::int64_t records = 0;  // Aggregated records.
  std::uint64_t calls = 0;
  std::uint64_t passed = 0;
  std::uint64_t failed = 0;
  // Over the distinct configurations of every catalog model.
  CoverageCounts summary;
  std::vector<ModelCoverage> models;  // In catalog order.
  std::vector<BlockCoverage> blocks;  // Domain families in catalog order, then others by name.
  std::vector<UnmatchedConfig> unmatched;

  // The model called `name` (case-insensitive), or nullptr.
  const ModelCoverage* find_model(std::string_view name) const;
};

// Builds the report of `records` (aggregated first) against `catalog`. Throws
// std::invalid_argument for a strength outside [1, 6].
CoverageReport build_coverage_report(const std::vector<CoverageRecord>& records,
                                     const Catalog& catalog,
                                     const CoverageReportOptions& options = {});

// `report` limited to the models called `names` (case-insensitive; in catalog order), its summary
// counted over their distinct configurations; block and unmatched parts are kept. Throws
// std::invalid_argument naming a model the report does not have (listing the ones it has).
CoverageReport restrict_to_models(CoverageReport report, const std::vector<std::string>& names);

// The result of checking a report against a floor.
struct CoverageCheck {
  bool passed = true;
  // "Llama-3.1-8B: 57.14% (8/14) of configurations pass, below 90%": the floor as given, the
  // share with the digits that show it below (docs/report-format.md "Numbers").
  std::vector<std::string> failures;
};

// Checks the passing share: of each model in `required_models` when it is not empty (each must
// reach `floor_pct`), else of the catalog summary. Throws std::invalid_argument naming a required
// model the catalog does not have (listing the catalog's models), and for a floor that is not a
// number in [0, 100] (NaN included).
CoverageCheck check_coverage(const CoverageReport& report, double floor_pct,
                             const std::vector<std::string>& required_models);

// Renderings. `max_listed` caps the missing configurations and tuples listed per model or block
// in text ("... and 12 more"); JSON lists everything.
std::string format_coverage_console(const CoverageReport& report, std::size_t max_listed = 20);
std::string format_coverage_markdown(const CoverageReport& report, std::size_t max_listed = 20);
// {"format": "ttt-coverage-report", "version": 1, ...} (docs/coverage.md "Report JSON").
nlohmann::json to_json(const CoverageReport& report);
// One self-contained HTML page (inline CSS and SVG, no script, no network resource): summary, a
// model x block heatmap, the per-model, per-parameter and t-way tables. Every configuration or
// value is drawn in one of five states, each with its CSS class and a legend entry: passing,
// failing, unchecked (exercised without a verdict), untested, and outside the domain (exercised,
// but no catalog model needs it). Models nothing exercised are listed in one line instead of
// taking a heatmap row each (unless no model was exercised at all).
std::string format_coverage_html(const CoverageReport& report);

}  // namespace ttt
