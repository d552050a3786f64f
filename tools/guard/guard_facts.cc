// ttt_guard_facts: the facts of the behaviour guard (docs/guard.md) as canonical JSON Lines.
//
// tools/guard/record.sh drives `ttt` and this program; each command prints one JSON object per
// line on stdout, the lines sorted bytewise, so that two recordings compare with `diff`. Every
// line starts with the fields that name it (suite and case, model, trace and call), nested
// objects have sorted keys, and numbers are written as nlohmann::json writes doubles (the
// shortest text that reads back to the same value). Nothing machine- or time-dependent is kept:
// timings, file paths of the run, source locations.
//
// It reads only public APIs and the files `ttt` writes, so that it builds unchanged before and
// after a refactor of the internals it guards. It is not part of the `ttt` CLI.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "coverage/catalog/catalog.h"
#include "coverage/record.h"
#include "coverage/report.h"
#include "suites/suite/suite.h"
#include "suites/suite/suite_file.h"
#include "validation/input/input_file.h"
#include "validation/input/json_reader.h"
#include "validation/tensor/dtype.h"
#include "validation/tensor/tensor.h"

namespace {

using Json = nlohmann::json;
using Line = nlohmann::ordered_json;  // Naming fields first, then the rest in sorted order.

constexpr int kExitOk = 0;
constexpr int kExitBadInput = 2;

constexpr std::uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;

std::uint64_t fnv1a64(std::span<const unsigned char> bytes, std::uint64_t hash = kFnvOffsetBasis) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::uint64_t fnv1a64(std::string_view text, std::uint64_t hash = kFnvOffsetBasis) {
  return fnv1a64({reinterpret_cast<const unsigned char*>(text.data()), text.size()}, hash);
}

std::string hex64(std::uint64_t value) {
  char buffer[17];
  std::snprintf(buffer, sizeof(buffer), "%016llx", static_cast<unsigned long long>(value));
  return buffer;
}

// FNV-1a 64 of a tensor's in-memory values (float32 for every floating format but float64,
// which keeps double; integers natively), little-endian as the host holds them.
std::string tensor_hash(const ttt::Tensor& tensor) {
  const auto bytes = [&](const auto* data) {
    return std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(data),
                                          tensor.nbytes());
  };
  const ttt::DType dtype = tensor.dtype();
  if (ttt::is_held_as_float32(dtype)) return hex64(fnv1a64(bytes(tensor.data<float>())));
  if (dtype == ttt::DType::float64) return hex64(fnv1a64(bytes(tensor.data<double>())));
  if (dtype == ttt::DType::int32) return hex64(fnv1a64(bytes(tensor.data<std::int32_t>())));
  return hex64(fnv1a64(bytes(tensor.data<std::int64_t>())));
}

// Appends `rest`'s fields (sorted, as nlohmann::json keeps them) after those `line` has.
Line with_rest(Line line, const Json& rest) {
  for (const auto& [key, value] : rest.items()) {
    if (!line.contains(key)) line[key] = value;
  }
  return line;
}

// Prints `lines` sorted bytewise, one compact JSON object each.
void print_sorted(const std::vector<Line>& lines) {
  std::vector<std::string> text;
  text.reserve(lines.size());
  for (const Line& line : lines) text.push_back(line.dump());
  std::sort(text.begin(), text.end());
  for (const std::string& row : text) std::cout << row << '\n';
}

// The fields a line is keyed by; the rest of the object follows them (with_rest), whatever it
// holds: these files are our own outputs, read to be printed, not interpreted.
Json field(const ttt::JsonNode& object, std::string_view key) { return object.at(key).json(); }

Json without(Json object, std::initializer_list<const char*> keys) {
  for (const char* key : keys) object.erase(key);
  return object;
}

// seeded-inputs SUITE.json...: per seeded case, the hash, dtype and shape of every input the
// case's target draws with the seed `ttt suite run` gives it (docs/suites.md "Seeded inputs":
// FNV-1a(case id) XOR the suite seed).
void seeded_inputs(const std::vector<std::string>& files) {
  std::vector<Line> lines;
  for (const std::string& path : files) {
    const ttt::SuiteFile file = ttt::load_suite_file(path);
    const ttt::Suite suite = ttt::make_suite(file);
    for (std::size_t i = 0; i < file.cases.size(); ++i) {
      const ttt::SuiteFileCase& definition = file.cases[i];
      if (definition.trace) continue;  // Read from a trace, not drawn.
      const ttt::SuiteCase& suite_case = suite.case_at(i);
      const std::uint64_t seed = fnv1a64(suite_case.id()) ^ file.seed;
      const std::optional<ttt::CaseInputs> inputs =
          suite_case.target().seeded_inputs(definition.shapes, definition.seeded, seed);
      if (!inputs) {
        throw std::invalid_argument(path + ": case '" + suite_case.id() +
                                    "': its target drew no seeded inputs");
      }
      Json tensors = Json::array();
      for (const ttt::NamedTensor& input : inputs->tensors) {
        tensors.push_back({{"name", input.name},
                           {"dtype", std::string(ttt::dtype_name(input.tensor.dtype()))},
                           {"shape", input.tensor.shape()},
                           {"fnv1a64", tensor_hash(input.tensor)}});
      }
      const ttt::CaseDescription description = suite_case.target().describe();
      Line line;
      line["suite"] = file.name;
      line["case"] = suite_case.id();
      line["kind"] = description.kind;
      line["mode"] = description.mode;
      line["identity"] = description.identity;
      line["shapes"] = ttt::to_json(definition.shapes);
      line["activation_std"] = definition.seeded.activation_std;
      line["weight_std"] = definition.seeded.weight_std;
      line["seed"] = hex64(seed);
      line["inputs"] = std::move(tensors);
      line["scalars"] = inputs->scalars;
      lines.push_back(std::move(line));
    }
  }
  print_sorted(lines);
}

// The value a one-record report found for a domain parameter: the domain's value it matched, a
// value outside the domain, or null when the record has none.
Json parameter_value(const ttt::ParameterCoverage& parameter) {
  if (!parameter.tested.empty()) return parameter.tested.front();
  if (!parameter.outside.empty()) return parameter.outside.front();
  return nullptr;
}

// coverage-facts RECORDS.jsonl...: per distinct coverage record, what the coverage library makes
// of it against the built-in catalog: the catalog configurations it exercises (model and
// block|mode|identity|weight_dtype), or the configuration no model needs, and the value of every
// domain parameter of its family (derived head_dim, group_size, dims, routing, ...).
void coverage_facts(const std::vector<std::string>& files) {
  const ttt::Catalog& catalog = ttt::builtin_catalog();
  std::vector<Line> lines;
  for (const ttt::CoverageRecord& record :
       ttt::aggregate_coverage(ttt::read_coverage_files(files))) {
    const ttt::CoverageReport report = ttt::build_coverage_report({record}, catalog);
    Json matches = Json::array();
    for (const ttt::ModelCoverage& model : report.models) {
      for (const ttt::ConfigCoverage& config : model.configurations) {
        if (config.status != ttt::ConfigStatus::missing) {
          matches.push_back(model.name + ": " + config.config.key());
        }
      }
    }
    Json unmatched = Json::array();
    for (const ttt::UnmatchedConfig& config : report.unmatched) {
      unmatched.push_back({{"block", config.block},
                           {"mode", config.mode},
                           {"identity", config.identity},
                           {"weight_dtype", config.weight_dtype},
                           {"problem", config.problem}});
    }
    Json parameters = Json::object();
    for (const ttt::BlockCoverage& block : report.blocks) {
      if (block.records == 0) continue;
      for (const ttt::ParameterCoverage& parameter : block.parameters) {
        parameters[block.block + "." + parameter.name] = parameter_value(parameter);
      }
    }
    const Json json = ttt::to_json(record);
    Line line;
    line["source"] = record.source;
    line["origin"] = record.origin;
    line["kind"] = record.kind;
    line["mode"] = record.mode;
    line["identity"] = record.identity;
    line["matches"] = std::move(matches);
    line["unmatched"] = std::move(unmatched);
    line["parameters"] = std::move(parameters);
    lines.push_back(with_rest(std::move(line), without(json, {"ttt_coverage"})));
  }
  print_sorted(lines);
}

// catalog CATALOG.json (`ttt coverage catalog --json`): one line per model, one per configuration.
void catalog_lines(const std::string& path) {
  const Json catalog = ttt::read_json_file(path, "the catalog JSON");
  const ttt::JsonNode models(catalog, path);
  std::vector<Line> lines;
  for (std::size_t m = 0; m < models.size(); ++m) {
    const ttt::JsonNode model = models.at(m);
    const Json name = field(model, "name");
    Line line;
    line["model"] = name;
    lines.push_back(with_rest(std::move(line), without(model.json(), {"configurations"})));
    const ttt::JsonNode configurations = model.at("configurations");
    for (std::size_t c = 0; c < configurations.size(); ++c) {
      const ttt::JsonNode config = configurations.at(c);
      Line row;
      row["model"] = name;
      row["block"] = field(config, "block");
      row["mode"] = field(config, "mode");
      row["identity"] = field(config, "identity");
      row["weight_dtype"] = field(config, "weight_dtype");
      lines.push_back(with_rest(std::move(row), config.json()));
    }
  }
  print_sorted(lines);
}

// Keeps the accuracy verdicts: a latency verdict depends on the machine.
Json accuracy_verdicts(const Json& verdicts) {
  Json kept = Json::array();
  if (!verdicts.is_array()) return kept;
  for (const Json& verdict : verdicts) {
    const Json expectation = verdict.value("expectation", Json(""));
    if (expectation.is_string() && expectation.get<std::string>().starts_with("accuracy:")) {
      kept.push_back(verdict);
    }
  }
  return kept;
}

// suite-results RESULTS.json (`ttt suite run --json`): one line per case with everything but its
// timing (`timing`, `seconds`) and latency verdicts.
void suite_results(const std::string& path) {
  const Json results = ttt::read_json_file(path, "the suite results");
  std::vector<Line> lines;
  const ttt::JsonNode suites = ttt::JsonNode(results, path).at("suites");
  for (std::size_t s = 0; s < suites.size(); ++s) {
    const ttt::JsonNode suite = suites.at(s);
    const Json name = field(suite, "name");
    const ttt::JsonNode cases = suite.at("cases");
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const ttt::JsonNode c = cases.at(i);
      Line line;
      line["suite"] = name;
      line["id"] = field(c, "id");
      line["kind"] = field(c, "kind");
      line["mode"] = field(c, "mode");
      line["status"] = field(c, "status");
      line["verdicts"] = accuracy_verdicts(c.json().value("verdicts", Json::array()));
      lines.push_back(
          with_rest(std::move(line), without(c.json(), {"timing", "seconds", "verdicts"})));
    }
  }
  print_sorted(lines);
}

// validation-report REPORT.json (`ttt demo`'s report.json, docs/report-format.md): one line per
// record without its times (`device_ns`, `reference_ns`) and source location.
void validation_report(const std::string& path) {
  const Json report = ttt::read_json_file(path, "the validation report");
  std::vector<Line> lines;
  const ttt::JsonNode records = ttt::JsonNode(report, path).at("records");
  for (std::size_t i = 0; i < records.size(); ++i) {
    const ttt::JsonNode record = records.at(i);
    Line line;
    line["name"] = field(record, "name");
    line["call_index"] = field(record, "call_index");
    line["passed"] = field(record, "passed");
    line["verdict"] = field(record, "verdict");
    lines.push_back(with_rest(std::move(line),
                              without(record.json(), {"device_ns", "reference_ns", "location"})));
  }
  print_sorted(lines);
}

// replay-report REPLAY.json (`ttt replay --json`): one line per call, named by the trace's file
// name (not its path), and one line with the summary.
void replay_report(const std::string& path) {
  const Json report = ttt::read_json_file(path, "the replay report");
  const ttt::JsonNode root(report, path);
  const std::string trace = std::filesystem::path(root.at("trace").string()).filename().string();
  std::vector<Line> lines;
  const ttt::JsonNode calls = root.at("calls");
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const ttt::JsonNode call = calls.at(i);
    Line line;
    line["trace"] = trace;
    line["seq"] = field(call, "seq");
    line["name"] = field(call, "name");
    line["status"] = field(call, "status");
    lines.push_back(with_rest(std::move(line), call.json()));
  }
  Line summary;
  summary["trace"] = trace;
  summary["summary"] = field(root, "summary");
  lines.push_back(std::move(summary));
  print_sorted(lines);
}

constexpr const char* kUsage =
    "usage: ttt_guard_facts COMMAND FILE...\n"
    "Prints the behaviour guard's facts as sorted JSON Lines (docs/guard.md).\n"
    "  seeded-inputs SUITE.json...     hashes of every seeded case's inputs\n"
    "  coverage-facts RECORDS.jsonl... what coverage makes of each record (catalog matches, "
    "domain values)\n"
    "  catalog CATALOG.json            `ttt coverage catalog --json`, one line per configuration\n"
    "  suite-results RESULTS.json      `ttt suite run --json`, one line per case, no timings\n"
    "  validation-report REPORT.json   a validation report (ttt demo's report.json), no timings\n"
    "  replay-report REPLAY.json       `ttt replay --json`, one line per call\n";

int run(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    std::cout << kUsage;
    return args.empty() ? kExitBadInput : kExitOk;
  }
  const std::string& command = args[0];
  const std::vector<std::string> files(args.begin() + 1, args.end());
  const bool single = command == "catalog" || command == "suite-results" ||
                      command == "validation-report" || command == "replay-report";
  const bool multiple = command == "seeded-inputs" || command == "coverage-facts";
  if (!single && !multiple) {
    throw std::invalid_argument("unknown command '" + command + "' (see --help)");
  }
  if (files.empty() || (single && files.size() != 1)) {
    throw std::invalid_argument("'" + command + "' takes " + (single ? "one file" : "files") +
                                ", got " + std::to_string(files.size()));
  }
  if (command == "seeded-inputs") seeded_inputs(files);
  if (command == "coverage-facts") coverage_facts(files);
  if (command == "catalog") catalog_lines(files[0]);
  if (command == "suite-results") suite_results(files[0]);
  if (command == "validation-report") validation_report(files[0]);
  if (command == "replay-report") replay_report(files[0]);
  std::cout.flush();
  if (!std::cout) throw std::runtime_error("cannot write to standard output");
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& error) {
    std::cerr << "ttt_guard_facts: error: " << error.what() << '\n';
    return kExitBadInput;
  }
}
