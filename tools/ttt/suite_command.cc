// `ttt suite run|merge|list|check`: run declarative suites (suites/*.json), merge shard results,
// list and check suite files (docs/cli.md "ttt suite / ttt compose", docs/suites.md). The work is
// in suites/suite; this file parses flags and prints.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "command.h"
#include "coverage/catalog/catalog.h"
#include "coverage/record.h"
#include "coverage/report.h"
#include "coverage/suite_coverage.h"
#include "suites/suite/calibrate.h"
#include "suites/suite/registry.h"
#include "suites/suite/results.h"
#include "suites/suite/suite_file.h"
#include "validation/wrapper/progress.h"

namespace ttt::cli {
namespace {

struct RunArguments {
  std::vector<std::string> files;
  std::string filter = "*";
  std::string json_file;
  std::string junit_file;
  std::string coverage_file;
  std::string registry_file;
  std::string shard;
  std::vector<std::string> tags;
  std::vector<std::string> exclude_tags;
  int repetitions = 0;
  int warmup = -1;
  bool fail_fast = false;
  bool warm_caches = false;
  bool quiet = false;
};

struct MergeArguments {
  std::vector<std::string> files;
  std::string json_file;
  std::string junit_file;
  bool require_complete = false;
};

void write_outputs(const RunResults& results, const std::string& json_file,
                   const std::string& junit_file) {
  if (!json_file.empty()) write_run_results(json_file, results);
  if (!junit_file.empty()) write_output(junit_file, to_junit_xml(results));
}

int run_suites_command(const RunArguments& args) {
  SuiteRunOptions options;
  options.filter = args.filter;
  if (!args.shard.empty()) {
    options.shard = parse_shard(args.shard);
  } else if (const auto shard = shard_from_environment()) {
    options.shard = *shard;
  }
  options.require_tags = args.tags;
  options.exclude_tags = args.exclude_tags;
  options.repetitions = args.repetitions;
  options.warmup = args.warmup;
  options.fail_fast = args.fail_fast;
  options.cold_caches = !args.warm_caches;
  // Read before the run, so that a bad registry fails before minutes of cases.
  const std::optional<Registry> registry =
      args.registry_file.empty() ? std::nullopt
                                 : std::optional<Registry>(load_registry(args.registry_file));
  ProgressReporter progress = stderr_progress();
  if (!args.quiet) {
    options.on_case_done = [&progress](std::size_t done, std::size_t total,
                                       const CaseResult& result) {
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%.1f s", result.seconds);
      progress.step(
          "suite", done, total,
          std::string(case_status_name(result.status)) + " " + result.id + " (" + seconds + ")");
    };
  }
  const RunResults results = run_suite_files(args.files, options);
  const RunSummary summary = results.summary();
  if (summary.cases == 0) {
    throw std::invalid_argument("no case selected (--filter '" + args.filter +
                                "', tags and shard)");
  }
  write_outputs(results, args.json_file, args.junit_file);
  if (!args.coverage_file.empty()) {
    write_coverage_file(args.coverage_file, aggregate_coverage(coverage_records(results)));
  }
  if (args.json_file != "-" && !args.quiet) std::cout << format_run_summary(results);
  if (registry) {
    // Standard output may carry the JSON; the report then goes to standard error.
    (args.json_file == "-" ? std::cerr : std::cout)
        << format_misses(find_misses(*registry, observed_blocks(results)), *registry);
  }
  return summary.ok() ? kExitOk : kExitFailed;
}

int merge_command(const MergeArguments& args) {
  std::vector<RunResults> parts;
  for (const std::string& file : args.files) parts.push_back(load_run_results(file));
  const RunResults merged = merge_run_results(parts, args.files);
  bool complete = true;
  for (const SuiteResult& suite : merged.suites) {
    if (suite.complete()) continue;
    complete = false;
    std::cerr << "ttt: warning: suite " << suite.name << " has " << suite.shards.size() << " of "
              << suite.shard_total << " shards\n";
  }
  if (args.require_complete && !complete) {
    throw std::invalid_argument("shards are missing (--require-complete)");
  }
  write_outputs(merged, args.json_file, args.junit_file);
  if (args.json_file != "-") std::cout << format_run_summary(merged);
  return kExitOk;
}

int list_command(const std::vector<std::string>& files) {
  for (const std::string& path : files) {
    const SuiteFile file = load_suite_file(path);
    std::cout << file.name << " (" << path << ")";
    if (!file.model_name.empty()) std::cout << ", model " << file.model_name;
    std::cout << ", " << file.cases.size() << " cases\n";
    for (const SuiteFileCase& c : file.cases) {
      std::cout << "  " << c.id << "  " << c.block << " " << mode_name(c.mode);
      if (c.module) std::cout << "  module " << c.module->module << " x" << c.occurrences;
      for (const std::string& tag : c.tags) std::cout << "  [" << tag << "]";
      std::cout << "\n";
    }
  }
  return kExitOk;
}

struct CheckArguments {
  std::vector<std::string> files;
  std::string coverage_file;
  std::vector<std::string> require_models;
};

int check_command(const CheckArguments& args) {
  // Standard output may carry the records; the rest then goes to standard error.
  std::ostream& info = args.coverage_file == "-" ? std::cerr : std::cout;
  std::vector<CoverageRecord> plan;
  for (const std::string& path : args.files) {
    const SuiteFile file = load_suite_file(path);
    make_suite(file).validate();
    info << path << ": ok (" << file.cases.size() << " cases)\n";
    if (args.coverage_file.empty() && args.require_models.empty()) continue;
    const std::vector<CoverageRecord> planned = planned_coverage_records(file);
    plan.insert(plan.end(), planned.begin(), planned.end());
  }
  // Every model is looked up before anything is written: an unknown one is a usage error (exit 2).
  // A model is a report row: "llama-3.1-8b", or on a topology it targets "llama-3.1-70b@T3K".
  const CoverageReport rows =
      args.require_models.empty()
          ? CoverageReport{}
          : restrict_to_models(build_coverage_report(plan, builtin_catalog()), args.require_models);
  if (!args.coverage_file.empty()) {
    write_coverage_file(args.coverage_file, aggregate_coverage(plan));
  }
  bool complete = true;
  for (const std::string& name : args.require_models) {
    const ModelCoverage& model = *rows.find_model(name);
    std::ostream& out = model.counts.exercised == model.counts.configurations ? info : std::cerr;
    out << model.name << ": the cases plan " << model.counts.exercised << "/"
        << model.counts.configurations << " configurations\n";
    for (const ConfigCoverage& config : model.configurations) {
      if (config.status != ConfigStatus::missing) continue;
      std::cerr << "  not planned: " << config.config.block << " " << config.config.mode << " "
                << config.config.weight_dtype << " " << config.config.identity << "\n";
    }
    complete = complete && model.counts.exercised == model.counts.configurations;
  }
  return complete ? kExitOk : kExitFailed;
}

struct CalibrateArguments {
  std::string file;
  CalibrationOptions options;
  std::string filter = "*";
  std::vector<std::string> tags;
  std::string json_file;
  std::string output;
};

int calibrate_command(const CalibrateArguments& args) {
  CalibrationOptions options = args.options;
  options.run.filter = args.filter;
  options.run.require_tags = args.tags;
  const Calibration calibration = calibrate_suite_file(args.file, options);
  if (args.json_file != "-") std::cout << format_calibration(calibration);
  if (!args.json_file.empty()) write_output(args.json_file, to_json(calibration).dump(2) + "\n");
  if (!args.output.empty()) {
    const nlohmann::json written =
        calibrated_suite_json(load_suite_file(args.file).definition, calibration);
    write_output(args.output, written.dump(2) + "\n");
  }
  bool errors = false;
  for (const CaseCalibration& c : calibration.cases) errors = errors || !c.error.empty();
  return errors ? kExitFailed : kExitOk;
}

const CommandRegistration kRegistration("suite", [](CLI::App& app) {
  CLI::App* command = app.add_subcommand(
      "suite",
      "Run declarative suites of block cases (suites/*.json), merge shard results,\n"
      "list or check suite files.");
  command->require_subcommand(1);
  command->footer(
      "Examples:\n"
      "  ttt suite check suites/*.json\n"
      "  ttt suite run suites/llama-3.2-1b.json --tag quick");
  auto selected = std::make_shared<std::function<int()>>();

  auto run = std::make_shared<RunArguments>();
  CLI::App* run_command = command->add_subcommand(
      "run",
      "Run suite files. Exit 0 every case passed, 1 a case failed or errred, 2 bad input.\n"
      "Sharding: --shard I/N, else GTEST_SHARD_INDEX / GTEST_TOTAL_SHARDS.");
  run_command->add_option("files", run->files, "Suite files (JSON)")->required();
  run_command->add_option("--filter", run->filter,
                          "Run cases whose id (or suite/id) matches: comma-separated globs, "
                          "'-' excludes");
  run_command->add_option("--json", run->json_file, "Write the results JSON to FILE ('-': stdout)");
  run_command->add_option("--junit", run->junit_file, "Write JUnit XML to FILE");
  run_command->add_option("--coverage", run->coverage_file,
                          "Write coverage records of the cases that ran to FILE (JSON Lines, "
                          "docs/coverage.md)");
  run_command->add_option("--registry", run->registry_file,
                          "Report the cases whose fingerprints have no evidence in this "
                          "registry (suites/registry/registry.json; docs/fingerprints.md)");
  run_command->add_option("--shard", run->shard, "Run shard I of N (I/N, 0-based)");
  run_command->add_option("--tag", run->tags, "Run only cases with this tag (repeatable)");
  run_command->add_option("--exclude-tag", run->exclude_tags,
                          "Skip cases with this tag (repeatable)");
  run_command->add_option("--repetitions", run->repetitions, "Timed repetitions per case (>= 9)")
      ->check(CLI::Range(kMinRepetitions, 1000000));
  run_command->add_option("--warmup", run->warmup, "Untimed repetitions per case")
      ->check(CLI::Range(0, 1000000));
  run_command->add_flag("--fail-fast", run->fail_fast, "Stop at the first failing case");
  run_command->add_flag("--warm-caches", run->warm_caches,
                        "Do not evict the caches before each repetition (for models whose "
                        "weights fit in the last-level cache)");
  run_command->add_flag("--quiet", run->quiet, "Print nothing but errors");
  run_command->footer(
      "Examples:\n"
      "  ttt suite run suites/llama-3.2-1b.json --tag quick\n"
      "  ttt suite run suites/llama-3.2-1b.json --json results.json --junit results.xml "
      "--coverage coverage.jsonl");
  run_command->callback(
      [selected, run] { *selected = [run] { return run_suites_command(*run); }; });

  auto merge = std::make_shared<MergeArguments>();
  CLI::App* merge_cmd = command->add_subcommand(
      "merge",
      "Combine shard results of the same suites into one. Refuses results of\n"
      "different suites, seeds, filters, commits or machines.");
  merge_cmd->add_option("files", merge->files, "Results JSON files")->required();
  merge_cmd->add_option("--json", merge->json_file, "Write the merged JSON to FILE ('-': stdout)");
  merge_cmd->add_option("--junit", merge->junit_file, "Write JUnit XML to FILE");
  merge_cmd->add_flag("--require-complete", merge->require_complete,
                      "Exit 2 when a shard is missing");
  merge_cmd->footer(
      "Examples:\n"
      "  ttt suite run suites/llama-3.2-1b.json --shard 0/2 --json part0.json\n"
      "  ttt suite run suites/llama-3.2-1b.json --shard 1/2 --json part1.json\n"
      "  ttt suite merge part0.json part1.json --json results.json --require-complete");
  merge_cmd->callback([selected, merge] { *selected = [merge] { return merge_command(*merge); }; });

  auto list_files = std::make_shared<std::vector<std::string>>();
  CLI::App* list = command->add_subcommand("list", "List the cases of suite files");
  list->add_option("files", *list_files, "Suite files")->required();
  list->footer("Examples:\n  ttt suite list suites/llama-3.2-1b.json");
  list->callback(
      [selected, list_files] { *selected = [list_files] { return list_command(*list_files); }; });

  auto check_args = std::make_shared<CheckArguments>();
  CLI::App* check = command->add_subcommand(
      "check",
      "Parse and validate suite files, without running them. Exit 0, 1 when a --require-model\n"
      "configuration is not planned, 2 bad input.");
  check->add_option("files", check_args->files, "Suite files")->required();
  check->add_option("--coverage", check_args->coverage_file,
                    "Write the coverage records the cases plan to FILE ('-': stdout; JSON "
                    "Lines, docs/coverage.md \"Planned coverage\")");
  check->add_option("--require-model", check_args->require_models,
                    "A catalog model every configuration of which some case must plan, or "
                    "MODEL@TOPOLOGY for the model on a mesh it targets (llama-3.1-70b@T3K; "
                    "repeatable)");
  check->footer(
      "Examples:\n"
      "  ttt suite check suites/*.json\n"
      "  ttt suite check suites/gpt2.json --require-model GPT-2 --coverage plan.jsonl");
  check->callback(
      [selected, check_args] { *selected = [check_args] { return check_command(*check_args); }; });

  auto calibrate_args = std::make_shared<CalibrateArguments>();
  CLI::App* calibrate = command->add_subcommand(
      "calibrate",
      "Measure each case's metrics over many seeds and derive thresholds with a stated false-\n"
      "alarm rate, and the miss rate of injected faults (docs/suites.md \"Calibration\"). Exit 0,\n"
      "1 when a case erred, 2 bad input.");
  calibrate->add_option("file", calibrate_args->file, "A suite file")->required();
  calibrate->add_option("--seeds", calibrate_args->options.seeds,
                        "Seeds per case (>= 10, default 30)");
  calibrate->add_option("--false-alarm", calibrate_args->options.false_alarm,
                        "Wanted false-alarm rate per case output (default 0.001)");
  calibrate->add_option("--filter", calibrate_args->filter, "Globs on case ids (default *)");
  calibrate->add_option("--tag", calibrate_args->tags, "Only cases with this tag (repeatable)");
  calibrate->add_option("--json", calibrate_args->json_file,
                        "Write the calibration as JSON ('-': stdout)");
  calibrate->add_option("-o,--output", calibrate_args->output,
                        "Write the suite file with the thresholds and their rates written in");
  calibrate->footer(
      "Examples:\n"
      "  ttt suite calibrate suites/llama-3.2-1b.json --tag quick --seeds 30 -o calibrated.json");
  calibrate->callback([selected, calibrate_args] {
    *selected = [calibrate_args] { return calibrate_command(*calibrate_args); };
  });

  return [selected] { return (*selected)(); };
});

}  // namespace
}  // namespace ttt::cli
