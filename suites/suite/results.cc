#include "suites/suite/results.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "blocks/common/device_model.h"
#include "validation/input/input_file.h"
#include "validation/input/json_reader.h"
#include "validation/markup/junit.h"
#include "validation/markup/number.h"

namespace ttt {
namespace {

using Json = nlohmann::json;

// The accuracy thresholds an expectation may set, with the direction each is judged in.
struct ThresholdField {
  const char* name;
  std::optional<double> Tolerances::*member;
};
constexpr ThresholdField kThresholds[] = {
    {"pcc", &Tolerances::pcc},
    {"max_abs_error", &Tolerances::max_abs_error},
    {"mean_abs_error", &Tolerances::mean_abs_error},
    {"rmse", &Tolerances::rmse},
    {"nmse", &Tolerances::nmse},
    {"max_rel_error", &Tolerances::max_rel_error},
    {"cosine_similarity", &Tolerances::cosine_similarity},
    {"max_ulp_error", &Tolerances::max_ulp_error},
    {"mismatched_fraction", &Tolerances::mismatched_fraction},
    {"ccc", &Tolerances::ccc},
    {"sqnr_db", &Tolerances::sqnr_db},
};

Json number_or_null(double value) { return std::isfinite(value) ? Json(value) : Json(nullptr); }

std::string fixed(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", digits, value);
  return buffer;
}

Json inputs_to_json(const std::vector<CaseInput>& inputs) {
  Json list = Json::array();
  for (const CaseInput& input : inputs) {
    list.push_back({{"name", input.name},
                    {"shape", input.shape},
                    {"dtype", std::string(dtype_name(input.dtype))}});
  }
  return list;
}

Json timing_to_json(const TimingSamples& timing) {
  Json json = {{"warmup", timing.warmup},
               {"repetitions", timing.wall_ns.size()},
               {"wall_ns", timing.wall_ns},
               {"cpu_ns", timing.cpu_ns}};
  if (!timing.wall_ns.empty()) {
    json["wall"] = to_json(compute_timing_stats(timing.wall_ns));
    json["cpu"] = to_json(compute_timing_stats(timing.cpu_ns));
  }
  return json;
}

std::vector<std::int64_t> integers_of(const JsonNode& node) {
  std::vector<std::int64_t> values;
  for (std::size_t i = 0; i < node.size(); ++i) values.push_back(node.at(i).integer());
  return values;
}

// Repetition times: a negative or zero wall time is nonsense that would hide any slowdown in a
// comparison (a -5 ns baseline), so it is refused naming its JSON path.
std::vector<std::int64_t> times_of(const JsonNode& node, std::int64_t minimum) {
  std::vector<std::int64_t> values;
  for (std::size_t i = 0; i < node.size(); ++i)
    values.push_back(node.at(i).integer_at_least(minimum));
  return values;
}

TimingSamples timing_from_json(const JsonNode& node) {
  TimingSamples timing;
  timing.warmup = node.at("warmup").integer_at_least(0);
  timing.wall_ns = times_of(node.at("wall_ns"), 1);
  timing.cpu_ns = times_of(node.at("cpu_ns"), 0);
  if (timing.wall_ns.size() != timing.cpu_ns.size()) {
    node.fail("wall_ns has " + std::to_string(timing.wall_ns.size()) + " repetitions, cpu_ns " +
              std::to_string(timing.cpu_ns.size()));
  }
  return timing;
}

std::string optional_string(const JsonNode& node, std::string_view key) {
  const auto found = node.find(key);
  return found ? found->string() : std::string();
}

CaseResult case_from_json(const JsonNode& node) {
  CaseResult result;
  result.id = node.at("id").string();
  result.index = node.at("index").integer_at_least(0);
  result.identity = optional_string(node, "identity");
  result.kind = optional_string(node, "kind");
  result.mode = optional_string(node, "mode");
  result.module = optional_string(node, "module");
  result.call = optional_string(node, "call");
  if (const auto spec = node.find("spec")) result.spec = spec->object();
  if (const auto config = node.find("impl_config")) result.impl_config = config->object();
  result.preset = optional_string(node, "preset");
  result.device = optional_string(node, "device");
  if (const auto shapes = node.find("shapes")) result.shapes = shapes->object();
  result.input_source = optional_string(node, "input_source");
  if (const auto inputs = node.find("inputs")) {
    for (std::size_t i = 0; i < inputs->size(); ++i) {
      const JsonNode input = inputs->at(i);
      CaseInput parsed;
      parsed.name = input.at("name").string();
      parsed.shape = integers_of(input.at("shape"));
      try {
        parsed.dtype = parse_dtype(input.at("dtype").string());
      } catch (const std::invalid_argument& error) {
        input.at("dtype").fail(error.what());
      }
      result.inputs.push_back(std::move(parsed));
    }
  }
  if (const auto fingerprint = node.find("fingerprint")) {
    result.fingerprint = fingerprint_from_json(*fingerprint);
  }
  if (const auto device_cost = node.find("device_cost")) {
    if (!device_cost->is_object()) device_cost->fail("expected an object");
    result.device_cost = device_cost->json();
  }
  if (const auto shards = node.find("vocab_shards")) {
    result.vocab_shards = shards->integer_at_least(1);
  }
  if (const auto occurrences = node.find("occurrences")) {
    result.occurrences = occurrences->integer_at_least(0);
  }
  if (const auto tags = node.find("tags")) {
    for (std::size_t i = 0; i < tags->size(); ++i) result.tags.push_back(tags->at(i).string());
  }
  if (const auto expectations = node.find("expectations")) {
    result.expectations = expectations_from_json(expectations->json(), expectations->path());
  }
  try {
    result.status = parse_case_status(node.at("status").string());
  } catch (const std::invalid_argument& error) {
    node.at("status").fail(error.what());
  }
  if (const auto verdicts = node.find("verdicts")) {
    for (std::size_t i = 0; i < verdicts->size(); ++i) {
      const JsonNode verdict = verdicts->at(i);
      result.verdicts.push_back({verdict.at("expectation").string(), verdict.at("passed").boolean(),
                                 verdict.at("message").string()});
    }
  }
  result.error = optional_string(node, "error");
  if (const auto outputs = node.find("outputs")) {
    for (std::size_t i = 0; i < outputs->size(); ++i) {
      const JsonNode output = outputs->at(i);
      OutputResult parsed;
      parsed.name = output.at("name").string();
      if (const auto rms = output.find("reference_rms")) parsed.reference_rms = rms->number();
      parsed.metrics = metrics_from_json(output.at("metrics"));
      result.outputs.push_back(std::move(parsed));
    }
  }
  if (const auto timing = node.find("timing"); timing && !timing->json().is_null()) {
    result.timing = timing_from_json(*timing);
  }
  if (const auto seconds = node.find("seconds")) result.seconds = seconds->number();
  return result;
}

SuiteResult suite_from_json(const JsonNode& node) {
  SuiteResult suite;
  suite.name = node.at("name").string();
  suite.file = optional_string(node, "file");
  suite.model = optional_string(node, "model");
  suite.mesh = optional_string(node, "mesh");
  suite.fingerprint = node.at("fingerprint").string();
  suite.total_cases = node.at("total_cases").integer_at_least(0);
  if (const auto filter = node.find("filter")) suite.filter = filter->string();
  suite.tags = optional_string(node, "tags");
  if (const auto seed = node.find("seed")) {
    if (!seed->json().is_number_unsigned() && !seed->json().is_number_integer()) {
      seed->fail("expected an unsigned integer");
    }
    suite.seed = seed->json().get<std::uint64_t>();
  }
  const JsonNode shard = node.at("shard");
  suite.shard_total = shard.at("total").integer_at_least(1);
  suite.shards = integers_of(shard.at("indices"));
  for (std::size_t i = 0; i < suite.shards.size(); ++i) {
    if (suite.shards[i] < 0 || suite.shards[i] >= suite.shard_total) {
      shard.at("indices").at(i).fail("shard index outside [0, " +
                                     std::to_string(suite.shard_total) + ")");
    }
  }
  const JsonNode cases = node.at("cases");
  for (std::size_t i = 0; i < cases.size(); ++i) suite.cases.push_back(case_from_json(cases.at(i)));
  return suite;
}

// Counts of a list of cases.
void count(const CaseResult& result, RunSummary& summary) {
  ++summary.cases;
  switch (result.status) {
    case CaseStatus::pass:
      ++summary.passed;
      break;
    case CaseStatus::fail:
      ++summary.failed;
      break;
    case CaseStatus::error:
      ++summary.errors;
      break;
    case CaseStatus::not_run:
      ++summary.not_run;
      break;
  }
}

// The lowest PCC over a case's outputs, or NaN without outputs.
double worst_pcc(const CaseResult& result) {
  double worst = std::nan("");
  for (const OutputResult& output : result.outputs) {
    if (std::isnan(worst) || output.metrics.pcc < worst) worst = output.metrics.pcc;
  }
  return worst;
}

}  // namespace

void LatencyBudget::validate() const {
  if (!(p >= 0.0 && p <= 1.0)) {
    throw std::invalid_argument("p: expected a number in [0, 1], got " + format_number(p));
  }
  if (!(latency_ms > 0.0) || !std::isfinite(latency_ms)) {
    throw std::invalid_argument("ms: expected a number > 0, got " + format_number(latency_ms));
  }
  if (!(tolerance >= 0.0) || !std::isfinite(tolerance)) {
    throw std::invalid_argument("tolerance: expected a number >= 0, got " +
                                format_number(tolerance));
  }
}

bool Expectations::empty() const {
  if (latency.has_value() || !device_us.empty() || accuracy.require_allclose) return false;
  for (const ThresholdField& field : kThresholds) {
    if ((accuracy.*field.member).has_value()) return false;
  }
  return true;
}

nlohmann::json to_json(const Expectations& expectations) {
  Json json = Json::object();
  for (const ThresholdField& field : kThresholds) {
    if (const auto& value = expectations.accuracy.*field.member) json[field.name] = *value;
  }
  if (expectations.accuracy.require_allclose) json["require_allclose"] = true;
  if (expectations.accuracy.allow_nonfinite_mismatch) json["allow_nonfinite_mismatch"] = true;
  if (expectations.latency) {
    const LatencyBudget& budget = *expectations.latency;
    json["latency"] = {{"p", budget.p},
                       {"ms", budget.latency_ms},
                       {"tolerance", budget.tolerance},
                       {"clock", std::string(timing_clock_name(budget.clock))}};
  }
  if (!expectations.device_us.empty()) json["device_us"] = expectations.device_us;
  return json;
}

Expectations expectations_from_json(const nlohmann::json& json, const std::string& path) {
  const JsonNode node(json, "", path);
  node.allow_only({"pcc", "max_abs_error", "mean_abs_error", "rmse", "nmse", "max_rel_error",
                   "cosine_similarity", "max_ulp_error", "mismatched_fraction", "ccc", "sqnr_db",
                   "require_allclose", "allow_nonfinite_mismatch", "latency", "device_us"});
  Expectations expectations;
  for (const ThresholdField& field : kThresholds) {
    if (const auto value = node.find(field.name)) {
      const double number = value->number();
      if (!std::isfinite(number) || number < 0.0) value->fail("expected a finite number >= 0");
      const std::string_view name = field.name;
      if ((name == "pcc" || name == "ccc") && number > 1.0) {
        value->fail("expected a " + std::string(name == "pcc" ? "PCC" : "CCC") + " in [0, 1], got " +
                    std::to_string(number));
      }
      expectations.accuracy.*field.member = number;
    }
  }
  if (const auto flag = node.find("require_allclose")) {
    expectations.accuracy.require_allclose = flag->boolean();
  }
  if (const auto flag = node.find("allow_nonfinite_mismatch")) {
    expectations.accuracy.allow_nonfinite_mismatch = flag->boolean();
  }
  if (const auto latency = node.find("latency")) {
    latency->allow_only({"p", "ms", "tolerance", "clock"});
    LatencyBudget budget;
    if (const auto p = latency->find("p")) {
      budget.p = p->number();
      if (!(budget.p >= 0.0 && budget.p <= 1.0)) p->fail("expected a number in [0, 1]");
    }
    const JsonNode ms = latency->at("ms");
    budget.latency_ms = ms.number();
    if (!(budget.latency_ms > 0.0)) ms.fail("expected a number > 0");
    if (const auto tolerance = latency->find("tolerance")) {
      budget.tolerance = tolerance->number();
      if (!(budget.tolerance >= 0.0)) tolerance->fail("expected a number >= 0");
    }
    if (const auto clock = latency->find("clock")) {
      try {
        budget.clock = parse_timing_clock(clock->string());
      } catch (const std::invalid_argument& error) {
        clock->fail(error.what());
      }
    }
    expectations.latency = budget;
  }
  if (const auto budget = node.find("device_us")) {
    if (budget->object().empty()) {
      budget->fail("expected an object of topology -> microseconds, e.g. {\"N150\": 40}");
    }
    for (const auto& item : budget->json().items()) {
      const JsonNode value = budget->at(item.key());
      try {
        find_device_model(item.key());
      } catch (const std::invalid_argument& error) {
        value.fail(error.what());
      }
      const double us = value.number();
      if (!(us > 0.0) || !std::isfinite(us)) value.fail("expected a number > 0 (microseconds)");
      expectations.device_us[item.key()] = us;
    }
  }
  return expectations;
}

std::string_view case_status_name(CaseStatus status) {
  switch (status) {
    case CaseStatus::pass:
      return "pass";
    case CaseStatus::fail:
      return "fail";
    case CaseStatus::error:
      return "error";
    case CaseStatus::not_run:
      return "not_run";
  }
  return "not_run";
}

CaseStatus parse_case_status(std::string_view name) {
  for (CaseStatus status :
       {CaseStatus::pass, CaseStatus::fail, CaseStatus::error, CaseStatus::not_run}) {
    if (case_status_name(status) == name) return status;
  }
  throw std::invalid_argument("unknown case status '" + std::string(name) +
                              "' (expected one of: pass, fail, error, not_run)");
}

std::vector<std::string> CaseResult::failure_lines() const {
  std::vector<std::string> lines;
  if (status == CaseStatus::error) lines.push_back("error: " + error);
  for (const ExpectationVerdict& verdict : verdicts) {
    if (!verdict.passed) lines.push_back(verdict.expectation + ": " + verdict.message);
  }
  return lines;
}

bool SuiteResult::complete() const {
  std::set<std::int64_t> present(shards.begin(), shards.end());
  for (std::int64_t i = 0; i < shard_total; ++i) {
    if (present.count(i) == 0) return false;
  }
  return true;
}

RunSummary RunResults::summary() const {
  RunSummary summary;
  for (const SuiteResult& suite : suites) {
    for (const CaseResult& result : suite.cases) count(result, summary);
  }
  return summary;
}

std::string utc_now_iso8601() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

nlohmann::json to_json(const CaseResult& result) {
  Json verdicts = Json::array();
  for (const ExpectationVerdict& verdict : result.verdicts) {
    verdicts.push_back({{"expectation", verdict.expectation},
                        {"passed", verdict.passed},
                        {"message", verdict.message}});
  }
  Json outputs = Json::array();
  for (const OutputResult& output : result.outputs) {
    outputs.push_back({{"name", output.name},
                       {"reference_rms", number_or_null(output.reference_rms)},
                       {"metrics", to_json(output.metrics)}});
  }
  Json json = {{"id", result.id},
               {"index", result.index},
               {"identity", result.identity},
               {"kind", result.kind},
               {"mode", result.mode},
               {"module", result.module},
               {"call", result.call},
               {"spec", result.spec},
               {"impl_config", result.impl_config},
               {"preset", result.preset},
               {"device", result.device},
               {"shapes", result.shapes},
               {"input_source", result.input_source},
               {"inputs", inputs_to_json(result.inputs)},
               {"occurrences", result.occurrences},
               {"tags", result.tags},
               {"expectations", to_json(result.expectations)},
               {"status", std::string(case_status_name(result.status))},
               {"verdicts", verdicts},
               {"error", result.error},
               {"outputs", outputs},
               {"timing", result.timing ? timing_to_json(*result.timing) : Json(nullptr)},
               {"seconds", result.seconds}};
  if (result.vocab_shards > 1) json["vocab_shards"] = result.vocab_shards;
  if (result.fingerprint) json["fingerprint"] = to_json(*result.fingerprint);
  if (result.device_cost) json["device_cost"] = *result.device_cost;
  return json;
}

nlohmann::json to_json(const RunResults& results) {
  Json suites = Json::array();
  for (const SuiteResult& suite : results.suites) {
    Json cases = Json::array();
    for (const CaseResult& result : suite.cases) cases.push_back(to_json(result));
    suites.push_back({{"name", suite.name},
                      {"file", suite.file},
                      {"model", suite.model},
                      {"fingerprint", suite.fingerprint},
                      {"total_cases", suite.total_cases},
                      {"filter", suite.filter},
                      {"tags", suite.tags},
                      {"seed", suite.seed},
                      {"shard", {{"indices", suite.shards}, {"total", suite.shard_total}}},
                      {"complete", suite.complete()},
                      {"cases", cases}});
    if (!suite.mesh.empty()) suites.back()["mesh"] = suite.mesh;
  }
  const RunSummary summary = results.summary();
  return {{"format", std::string(kSuiteResultsFormat)},
          {"format_version", kSuiteResultsFormatVersion},
          {"created_utc", results.created_utc},
          {"machine", to_json(results.machine)},
          {"summary",
           {{"cases", summary.cases},
            {"passed", summary.passed},
            {"failed", summary.failed},
            {"errors", summary.errors},
            {"not_run", summary.not_run},
            {"ok", summary.ok()}}},
          {"suites", suites}};
}

RunResults run_results_from_json(const nlohmann::json& json) {
  const JsonNode root(json, "");
  const std::string format = root.at("format").string();
  if (format != kSuiteResultsFormat) {
    root.at("format").fail("is '" + format + "', expected '" + std::string(kSuiteResultsFormat) +
                           "'");
  }
  const std::int64_t version = root.at("format_version").integer();
  if (version > kSuiteResultsFormatVersion || version < 1) {
    root.at("format_version")
        .fail("version " + std::to_string(version) + " is not supported (this build reads up to " +
              std::to_string(kSuiteResultsFormatVersion) + ")");
  }
  RunResults results;
  results.created_utc = optional_string(root, "created_utc");
  results.machine = machine_info_from_json(root.at("machine"));
  const JsonNode suites = root.at("suites");
  for (std::size_t i = 0; i < suites.size(); ++i) {
    results.suites.push_back(suite_from_json(suites.at(i)));
  }
  return results;
}

RunResults load_run_results(const std::string& path) {
  const Json json = read_json_file(path, "the results file");
  try {
    return run_results_from_json(json);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument(path + ": " + error.what());
  }
}

void write_run_results(const std::string& path, const RunResults& results) {
  const std::string text = to_json(results).dump(2) + "\n";
  if (path == "-") {
    std::cout << text;
    return;
  }
  std::ofstream out(path);
  out << text;
  if (!out) throw std::runtime_error(path + ": cannot write the results");
}

std::string to_junit_xml(const RunResults& results) {
  std::vector<JUnitSuite> suites;
  for (const SuiteResult& suite : results.suites) {
    JUnitSuite& s = suites.emplace_back();
    s.name = suite.name;
    s.timestamp = results.created_utc;
    s.hostname = results.machine.hostname;
    s.properties = {{"cpu_model", results.machine.cpu_model},
                    {"commit", results.machine.commit},
                    {"fingerprint", suite.fingerprint}};
    for (const CaseResult& result : suite.cases) {
      JUnitCase& c = s.cases.emplace_back();
      c.classname = suite.name;
      c.name = result.id;
      c.seconds = result.seconds;
      if (!result.identity.empty()) c.properties.push_back({"identity", result.identity});
      // Measurements: printed in full, for tools that read them back.
      const double pcc = worst_pcc(result);
      if (!std::isnan(pcc)) c.properties.push_back({"worst_pcc", format_number(pcc)});
      if (result.timing && !result.timing->wall_ns.empty()) {
        const TimingStats wall = compute_timing_stats(result.timing->wall_ns);
        c.properties.push_back({"wall_p50_ms", format_number(wall.p50 / 1e6)});
        c.properties.push_back({"wall_p90_ms", format_number(wall.p90 / 1e6)});
      }
      const std::vector<std::string> lines = result.failure_lines();
      for (const std::string& line : lines) c.text += line + "\n";
      if (result.status == CaseStatus::fail) {
        c.result = JUnitResult::failed;
        c.type = "ExpectationFailure";
        c.message = lines.empty() ? "failed" : lines.front();
      } else if (result.status == CaseStatus::error) {
        c.result = JUnitResult::error;
        c.type = "CaseError";
        c.message = result.error;
      } else if (result.status == CaseStatus::not_run) {
        c.result = JUnitResult::skipped;
        c.message = "not run: an earlier case failed (fail_fast)";
      }
    }
  }
  return render_junit("ttt.suites", suites);
}

RunResults merge_run_results(const std::vector<RunResults>& parts,
                             const std::vector<std::string>& sources) {
  if (parts.empty()) throw std::invalid_argument("[suite merge] no results to merge");
  if (sources.size() != parts.size()) {
    throw std::invalid_argument("[suite merge] one source name per part is required");
  }
  const MachineInfo& machine = parts.front().machine;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const MachineInfo& other = parts[i].machine;
    const auto differs = [&](const char* what, const std::string& a, const std::string& b) {
      if (a == b) return;
      throw std::invalid_argument("[suite merge] " + sources.front() + " and " + sources[i] +
                                  " ran with different " + what + " ('" + a + "' vs '" + b +
                                  "'): their timings cannot be merged");
    };
    differs("CPU models", machine.cpu_model, other.cpu_model);
    differs("core counts", std::to_string(machine.cores), std::to_string(other.cores));
    differs("build types", machine.build_type, other.build_type);
    differs("commits", machine.commit, other.commit);
  }

  RunResults merged;
  merged.machine = machine;
  // The busiest part decides whether the merged timings are noisy; a part that did not record
  // its load leaves the merged load unknown.
  for (const RunResults& part : parts) {
    if (!part.machine.load || !merged.machine.load) {
      merged.machine.load = std::nullopt;
      break;
    }
    MachineLoad& load = *merged.machine.load;
    load.load_1min = std::max(load.load_1min, part.machine.load->load_1min);
    load.load_5min = std::max(load.load_5min, part.machine.load->load_5min);
    load.load_15min = std::max(load.load_15min, part.machine.load->load_15min);
    load.cpu_steal = std::max(load.cpu_steal, part.machine.load->cpu_steal);
  }
  merged.created_utc = parts.front().created_utc;
  // Suites by name in order of first appearance, with the source that brought each part.
  std::map<std::string, std::size_t> position;
  std::vector<std::string> first_source;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    merged.created_utc = std::max(merged.created_utc, parts[p].created_utc);
    for (const SuiteResult& suite : parts[p].suites) {
      const auto found = position.find(suite.name);
      if (found == position.end()) {
        position.emplace(suite.name, merged.suites.size());
        merged.suites.push_back(suite);
        first_source.push_back(sources[p]);
        continue;
      }
      SuiteResult& into = merged.suites[found->second];
      const std::string& earlier = first_source[found->second];
      const auto refuse = [&](const std::string& what) {
        throw std::invalid_argument("[suite merge] suite '" + suite.name + "' in " + sources[p] +
                                    " does not match " + earlier + ": " + what);
      };
      if (suite.fingerprint != into.fingerprint) {
        refuse("different definitions (fingerprint " + suite.fingerprint + " vs " +
               into.fingerprint + ")");
      }
      if (suite.filter != into.filter) {
        refuse("different filters ('" + suite.filter + "' vs '" + into.filter + "')");
      }
      if (suite.tags != into.tags) {
        refuse("different tag selections ('" + suite.tags + "' vs '" + into.tags + "')");
      }
      if (suite.shard_total != into.shard_total) {
        refuse("different shard counts (" + std::to_string(suite.shard_total) + " vs " +
               std::to_string(into.shard_total) + ")");
      }
      if (suite.seed != into.seed) {
        refuse("different seeds (" + std::to_string(suite.seed) + " vs " +
               std::to_string(into.seed) + ")");
      }
      for (std::int64_t shard : suite.shards) {
        if (std::find(into.shards.begin(), into.shards.end(), shard) != into.shards.end()) {
          refuse("both hold shard " + std::to_string(shard) + "/" +
                 std::to_string(suite.shard_total));
        }
        into.shards.push_back(shard);
      }
      std::set<std::string> ids;
      for (const CaseResult& result : into.cases) ids.insert(result.id);
      for (const CaseResult& result : suite.cases) {
        if (!ids.insert(result.id).second) refuse("both hold case '" + result.id + "'");
        into.cases.push_back(result);
      }
    }
  }
  for (SuiteResult& suite : merged.suites) {
    std::sort(suite.shards.begin(), suite.shards.end());
    std::stable_sort(suite.cases.begin(), suite.cases.end(),
                     [](const CaseResult& a, const CaseResult& b) { return a.index < b.index; });
  }
  return merged;
}

std::string format_ns(double nanoseconds) {
  char buffer[32];
  const double magnitude = std::abs(nanoseconds);
  if (magnitude < 1e3) {
    std::snprintf(buffer, sizeof(buffer), "%.0f ns", nanoseconds);
  } else if (magnitude < 1e6) {
    std::snprintf(buffer, sizeof(buffer), "%.3g us", nanoseconds / 1e3);
  } else if (magnitude < 1e9) {
    std::snprintf(buffer, sizeof(buffer), "%.3g ms", nanoseconds / 1e6);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.3g s", nanoseconds / 1e9);
  }
  return buffer;
}

std::string format_run_summary(const RunResults& results) {
  std::ostringstream out;
  for (const SuiteResult& suite : results.suites) {
    out << "suite " << suite.name;
    if (!suite.model.empty()) out << " (model " << suite.model << ")";
    if (!suite.mesh.empty() && suite.mesh != "N150") out << " on mesh " << suite.mesh;
    if (suite.shard_total > 1) {
      out << ", shards";
      for (std::int64_t shard : suite.shards) out << " " << shard;
      out << " of " << suite.shard_total;
    }
    out << "\n";
    std::size_t width = 4;
    for (const CaseResult& result : suite.cases) width = std::max(width, result.id.size());
    char header[256];
    std::snprintf(header, sizeof(header), "  %-7s  %-*s  %10s  %10s  %10s\n", "STATUS",
                  static_cast<int>(width), "CASE", "WORST PCC", "WALL p50", "WALL p90");
    out << header;
    for (const CaseResult& result : suite.cases) {
      std::string status(case_status_name(result.status));
      for (char& c : status) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      const double pcc = worst_pcc(result);
      std::string p50 = "-";
      std::string p90 = "-";
      if (result.timing && !result.timing->wall_ns.empty()) {
        const TimingStats wall = compute_timing_stats(result.timing->wall_ns);
        p50 = format_ns(wall.p50);
        p90 = format_ns(wall.p90);
      }
      char line[512];
      std::snprintf(line, sizeof(line), "  %-7s  %-*s  %10s  %10s  %10s\n", status.c_str(),
                    static_cast<int>(width), result.id.c_str(),
                    std::isnan(pcc) ? "-" : fixed(pcc, 6).c_str(), p50.c_str(), p90.c_str());
      out << line;
    }
    for (const CaseResult& result : suite.cases) {
      for (const std::string& line : result.failure_lines()) {
        out << "  " << case_status_name(result.status) << " " << result.id << ": " << line << "\n";
      }
    }
  }
  const RunSummary summary = results.summary();
  out << summary.cases << " cases: " << summary.passed << " passed, " << summary.failed
      << " failed, " << summary.errors << " errors";
  if (summary.not_run > 0) out << ", " << summary.not_run << " not run";
  out << " (" << results.machine.cpu_model << ", " << results.machine.cores << " cores, "
      << results.machine.build_type << ", commit " << results.machine.commit << ")\n";
  return out.str();
}

}  // namespace ttt
