#include "coverage/report.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <stdexcept>
#include <string_view>

#include "coverage/internal/block_facts.h"
#include "validation/markup/number.h"
#include "validation/mesh/mesh.h"

namespace ttt {
namespace {

using coverage_detail::BlockFacts;
using coverage_detail::FieldContext;
using coverage_detail::same_value;
using coverage_detail::value_less;
using coverage_detail::value_text;

// Call counts summed over records; `what` names the sum in an overflow error.
struct Outcome {
  std::uint64_t calls = 0;
  std::uint64_t passed = 0;
  std::uint64_t failed = 0;
  void add(const CoverageRecord& record, const std::string& what) {
    calls = add_call_counts(calls, record.calls, what);
    passed = add_call_counts(passed, record.passed, what);
    failed = add_call_counts(failed, record.failed, what);
  }
};

ConfigStatus status_of(const Outcome& outcome) {
  if (outcome.calls == 0) return ConfigStatus::missing;
  if (outcome.failed > 0) return ConfigStatus::failing;
  if (outcome.passed > 0) return ConfigStatus::passing;
  return ConfigStatus::unchecked;
}

void count(CoverageCounts& counts, ConfigStatus status) {
  ++counts.configurations;
  if (status != ConfigStatus::missing) ++counts.exercised;
  if (status == ConfigStatus::passing) ++counts.passing;
}

std::string lower(std::string_view text) {
  std::string result(text);
  for (char& c : result) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return result;
}

// The model called `name` in `report`; throws std::invalid_argument listing the models it has.
const ModelCoverage& required_model(const CoverageReport& report, const std::string& name) {
  if (const ModelCoverage* model = report.find_model(name)) return *model;
  std::string names;
  for (const ModelCoverage& known : report.models) {
    names += (names.empty() ? "" : ", ") + known.name;
  }
  throw std::invalid_argument("[coverage] no model '" + name +
                              "' in the catalog (models: " + names + ")");
}

// The index of `value` in `domain`, or nullopt.
std::optional<std::size_t> index_in(const std::vector<nlohmann::json>& domain,
                                    const nlohmann::json& value) {
  for (std::size_t i = 0; i < domain.size(); ++i) {
    if (same_value(domain[i], value)) return i;
  }
  return std::nullopt;
}

void insert_sorted(std::vector<nlohmann::json>& values, const nlohmann::json& value) {
  if (index_in(values, value).has_value()) return;
  values.insert(std::upper_bound(values.begin(), values.end(), value, value_less), value);
}

// "a, b, c" with at most `limit` values ("..., and 4 more").
std::string list_values(const std::vector<nlohmann::json>& values, std::size_t limit = 10) {
  std::string text;
  for (std::size_t i = 0; i < values.size() && i < limit; ++i) {
    text += (i == 0 ? "" : ", ") + value_text(values[i]);
  }
  if (values.size() > limit) text += ", ... (" + std::to_string(values.size() - limit) + " more)";
  return text;
}

std::string parameter_summary(const ParameterCoverage& parameter) {
  std::string text = parameter.name + ": ";
  const bool numeric = !parameter.tested.empty() &&
                       std::all_of(parameter.domain.begin(), parameter.domain.end(),
                                   [](const nlohmann::json& v) { return v.is_number(); });
  const std::string of = " (" + std::to_string(parameter.tested.size()) + " of " +
                         std::to_string(parameter.domain.size()) + " values)";
  if (parameter.domain.empty()) {
    text += "no values declared (no catalog model needs this block)";
  } else if (parameter.tested.empty()) {
    text += "nothing tested; missing: " + list_values(parameter.missing);
  } else if (numeric) {
    const nlohmann::json& low =
        *std::min_element(parameter.tested.begin(), parameter.tested.end(), value_less);
    const nlohmann::json& high =
        *std::max_element(parameter.tested.begin(), parameter.tested.end(), value_less);
    text += "tested [" + value_text(low) + ", " + value_text(high) + "]" + of;
    std::vector<nlohmann::json> below;
    std::vector<nlohmann::json> between;
    std::vector<nlohmann::json> above;
    for (const nlohmann::json& value : parameter.missing) {
      (value_less(value, low) ? below : value_less(high, value) ? above : between).push_back(value);
    }
    if (parameter.missing.empty()) {
      text += "; all values tested";
    } else {
      text += "; missing";
      std::string separator = " ";
      if (!below.empty()) {
        text += separator + "< " + value_text(low) + ": " + list_values(below);
        separator = "; ";
      }
      if (!between.empty()) {
        text += separator + "inside: " + list_values(between);
        separator = "; ";
      }
      if (!above.empty()) text += separator + "> " + value_text(high) + ": " + list_values(above);
    }
  } else {
    text += "tested " + list_values(parameter.tested) + of;
    text += parameter.missing.empty() ? "; all values tested"
                                      : "; missing: " + list_values(parameter.missing);
  }
  if (!parameter.outside.empty()) {
    text += "; outside the domain: " + list_values(parameter.outside);
  }
  return text;
}

// The report's rows: each model on one device (topology ""), then on each topology it targets
// with more than one device (its mesh_name: "T3K").
std::vector<std::pair<const CatalogModel*, std::string>> demanded_rows(const Catalog& catalog) {
  std::vector<std::pair<const CatalogModel*, std::string>> rows;
  for (const CatalogModel& model : catalog.models) {
    rows.emplace_back(&model, "");
    for (const std::string& topology : model.topologies) {
      const Mesh mesh = parse_mesh(topology);
      if (mesh.size() > 1) rows.emplace_back(&model, mesh_name(mesh));
    }
  }
  return rows;
}

// A record with its facts, described once.
struct DescribedRecord {
  const CoverageRecord* record = nullptr;
  BlockFacts facts;
  std::string key;
};

BlockCoverage block_coverage(const std::string& block, const BlockDomain* domain,
                             const std::vector<DescribedRecord>& records, int strength) {
  BlockCoverage coverage;
  coverage.block = block;
  std::vector<const DescribedRecord*> mine;
  Outcome totals;
  for (const DescribedRecord& described : records) {
    if (described.facts.block != block) continue;
    mine.push_back(&described);
    ++coverage.records;
    totals.add(*described.record, "the calls of block " + block);
  }
  coverage.calls = totals.calls;
  coverage.passed = totals.passed;
  coverage.failed = totals.failed;
  if (domain == nullptr) return coverage;
  coverage.has_domain = true;
  std::vector<std::size_t> tway_index;  // Parameter index -> position among t-way parameters.
  std::vector<std::size_t> domain_sizes;
  std::vector<std::vector<std::optional<std::size_t>>> tests(mine.size());
  for (const DomainParameter& declared : domain->parameters) {
    ParameterCoverage parameter;
    parameter.name = declared.name;
    parameter.field = declared.field;
    parameter.tway = declared.tway;
    parameter.domain = declared.values;
    for (std::size_t k = 0; k < mine.size(); ++k) {
      const CoverageRecord& record = *mine[k]->record;
      const FieldContext context{&mine[k]->facts, record.mode, record.device, record.batch,
                                 record.seq_len};
      const nlohmann::json value = coverage_detail::field_value(declared.field, context);
      std::optional<std::size_t> index;
      if (value.is_null()) {
        ++parameter.unknown;
      } else {
        index = index_in(parameter.domain, value);
        insert_sorted(index.has_value() ? parameter.tested : parameter.outside, value);
        if (index.has_value() && record.failed > 0) insert_sorted(parameter.failing, value);
      }
      if (declared.tway) tests[k].push_back(index);
    }
    // Tested, failing and missing values in the domain's order.
    std::vector<nlohmann::json> seen = std::move(parameter.tested);
    std::vector<nlohmann::json> failed = std::move(parameter.failing);
    parameter.tested.clear();
    parameter.failing.clear();
    for (const nlohmann::json& value : parameter.domain) {
      (index_in(seen, value).has_value() ? parameter.tested : parameter.missing).push_back(value);
      if (index_in(failed, value).has_value()) parameter.failing.push_back(value);
    }
    parameter.summary = parameter_summary(parameter);
    if (declared.tway) {
      coverage.tway_parameters.push_back(declared.name);
      domain_sizes.push_back(declared.values.size());
    }
    coverage.parameters.push_back(std::move(parameter));
  }
  const auto tway_position = [&](const std::string& name) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < coverage.tway_parameters.size(); ++i) {
      if (coverage.tway_parameters[i] == name) return i;
    }
    return std::nullopt;
  };
  const auto domain_of = [&](const std::string& name) -> const std::vector<nlohmann::json>& {
    for (const ParameterCoverage& parameter : coverage.parameters) {
      if (parameter.name == name) return parameter.domain;
    }
    throw std::logic_error("[coverage] constraint on unknown parameter " + name);
  };
  std::vector<TwayConstraint> constraints;
  for (const DomainConstraint& declared : domain->constraints) {
    const std::optional<std::size_t> if_at = tway_position(declared.if_parameter);
    const std::optional<std::size_t> then_at = tway_position(declared.then_parameter);
    if (!if_at.has_value() || !then_at.has_value()) continue;
    const std::optional<std::size_t> if_value =
        index_in(domain_of(declared.if_parameter), declared.if_value);
    if (!if_value.has_value()) continue;
    TwayConstraint constraint{*if_at, *if_value, *then_at, {}};
    for (const nlohmann::json& allowed : declared.allowed) {
      if (const auto index = index_in(domain_of(declared.then_parameter), allowed)) {
        constraint.allowed.push_back(*index);
      }
    }
    constraints.push_back(std::move(constraint));
  }
  coverage.tway = compute_tway_coverage(domain_sizes, tests, strength, constraints);
  return coverage;
}

}  // namespace

const char* config_status_name(ConfigStatus status) {
  switch (status) {
    case ConfigStatus::missing:
      return "missing";
    case ConfigStatus::unchecked:
      return "unchecked";
    case ConfigStatus::failing:
      return "failing";
    case ConfigStatus::passing:
      return "passing";
  }
  return "?";
}

double CoverageCounts::exercised_pct() const {
  return configurations == 0
             ? 100.0
             : 100.0 * static_cast<double>(exercised) / static_cast<double>(configurations);
}

double CoverageCounts::passing_pct() const {
  return configurations == 0
             ? 100.0
             : 100.0 * static_cast<double>(passing) / static_cast<double>(configurations);
}

const ModelCoverage* CoverageReport::find_model(std::string_view name) const {
  const std::string wanted = lower(name);
  for (const ModelCoverage& model : models) {
    if (lower(model.name) == wanted) return &model;
  }
  return nullptr;
}

CoverageReport build_coverage_report(const std::vector<CoverageRecord>& records,
                                     const Catalog& catalog, const CoverageReportOptions& options) {
  if (options.strength < 1 || options.strength > 6) {
    throw std::invalid_argument("[coverage report] strength must be in [1, 6], got " +
                                std::to_string(options.strength));
  }
  CoverageReport report;
  report.catalog = catalog.source;
  report.strength = options.strength;
  report.sources = options.sources;
  const std::vector<CoverageRecord> aggregated = aggregate_coverage(records);
  report.records = static_cast<std::int64_t>(aggregated.size());

  std::vector<DescribedRecord> described;
  std::map<std::string, Outcome> outcome_of;
  Outcome totals;
  for (const CoverageRecord& record : aggregated) {
    DescribedRecord item;
    item.record = &record;
    // From the kind: a mesh kind's record counts under its single-device block (record.block).
    item.facts =
        coverage_detail::describe_block(coverage_detail::split_kind(record.kind).first, record.spec,
                                        record.impl_config, record.device, record.mode);
    CatalogConfig as_config;
    as_config.block = item.facts.block;
    as_config.mode = record.mode;
    as_config.identity = item.facts.identity;
    as_config.weight_dtype = item.facts.weight_dtype;
    as_config.topology = item.facts.topology;
    item.key = as_config.key();
    outcome_of[item.key].add(record, "the calls of " + item.key);
    totals.add(record, "the calls of all records");
    described.push_back(std::move(item));
  }
  report.calls = totals.calls;
  report.passed = totals.passed;
  report.failed = totals.failed;

  std::map<std::string, ConfigStatus> distinct;
  for (const auto& [model, topology] : demanded_rows(catalog)) {
    ModelCoverage coverage;
    coverage.name = topology.empty() ? model->name : model->name + "@" + topology;
    coverage.hf_id = model->hf_id;
    coverage.topology = topology;
    coverage.unsupported = model->unsupported;
    for (const CatalogConfig& config : model->configurations) {
      ConfigCoverage item;
      item.config = config;
      item.config.topology = topology;
      const auto it = outcome_of.find(item.config.key());
      const Outcome outcome = it == outcome_of.end() ? Outcome{} : it->second;
      item.calls = outcome.calls;
      item.passed = outcome.passed;
      item.failed = outcome.failed;
      item.status = status_of(outcome);
      count(coverage.counts, item.status);
      auto block = std::find_if(coverage.blocks.begin(), coverage.blocks.end(),
                                [&](const auto& entry) { return entry.first == config.block; });
      if (block == coverage.blocks.end()) {
        coverage.blocks.emplace_back(config.block, CoverageCounts{});
        block = coverage.blocks.end() - 1;
      }
      count(block->second, item.status);
      distinct[item.config.key()] = item.status;
      coverage.configurations.push_back(std::move(item));
    }
    report.models.push_back(std::move(coverage));
  }
  for (const auto& [key, status] : distinct) count(report.summary, status);

  std::set<std::string> families;
  for (const DescribedRecord& item : described) families.insert(item.facts.block);
  for (const auto& [block, domain] : catalog.domains) {
    report.blocks.push_back(block_coverage(block, &domain, described, options.strength));
    families.erase(block);
  }
  for (const std::string& block : families) {
    report.blocks.push_back(block_coverage(block, nullptr, described, options.strength));
  }

  std::map<std::string, std::size_t> unmatched_index;
  for (const DescribedRecord& item : described) {
    if (distinct.count(item.key) != 0) continue;
    const auto [it, inserted] = unmatched_index.try_emplace(item.key, report.unmatched.size());
    if (inserted) {
      UnmatchedConfig config;
      config.block = item.facts.block;
      config.mode = item.record->mode;
      config.identity = item.facts.identity;
      config.weight_dtype = item.facts.weight_dtype;
      config.topology = item.facts.topology;
      config.problem = item.facts.problem;
      report.unmatched.push_back(std::move(config));
    }
    UnmatchedConfig& config = report.unmatched[it->second];
    const std::string what = "the calls of " + item.key;
    config.calls = add_call_counts(config.calls, item.record->calls, what);
    config.passed = add_call_counts(config.passed, item.record->passed, what);
    config.failed = add_call_counts(config.failed, item.record->failed, what);
  }
  return report;
}

CoverageReport restrict_to_models(CoverageReport report, const std::vector<std::string>& names) {
  for (const std::string& name : names) required_model(report, name);
  std::vector<ModelCoverage> kept;
  std::map<std::string, ConfigStatus> distinct;
  for (ModelCoverage& model : report.models) {
    const bool wanted = std::any_of(names.begin(), names.end(), [&](const std::string& name) {
      return lower(name) == lower(model.name);
    });
    if (!wanted) continue;
    for (const ConfigCoverage& config : model.configurations) {
      distinct[config.config.key()] = config.status;
    }
    kept.push_back(std::move(model));
  }
  report.models = std::move(kept);
  report.summary = CoverageCounts{};
  for (const auto& [key, status] : distinct) count(report.summary, status);
  return report;
}

CoverageCheck check_coverage(const CoverageReport& report, double floor_pct,
                             const std::vector<std::string>& required_models) {
  // Every comparison with NaN is false: a NaN floor would pass anything.
  if (!(floor_pct >= 0.0 && floor_pct <= 100.0)) {
    throw std::invalid_argument("[coverage] the floor must be a percentage in [0, 100], got " +
                                format_number(floor_pct));
  }
  CoverageCheck check;
  // The floor prints as given; the share beside it with the digits that show it is below.
  const auto below_floor = [&](const std::string& scope, const CoverageCounts& counts) {
    if (counts.passing_pct() >= floor_pct) return;
    check.passed = false;
    check.failures.push_back(scope + ": " + format_beside(counts.passing_pct(), floor_pct) + "% (" +
                             std::to_string(counts.passing) + "/" +
                             std::to_string(counts.configurations) +
                             ") of configurations pass, below " + format_number(floor_pct) + "%");
  };
  if (required_models.empty()) {
    below_floor("catalog", report.summary);
    return check;
  }
  for (const std::string& name : required_models) {
    const ModelCoverage& model = required_model(report, name);
    below_floor(model.name, model.counts);
  }
  return check;
}

}  // namespace ttt
