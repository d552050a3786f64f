// `ttt coverage report|merge|catalog`: coverage reports against the catalog, merging coverage
// files, and the catalog itself (docs/coverage.md, docs/cli.md "ttt coverage"). The work is in
// coverage/; this file parses flags and prints.
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "coverage/catalog/catalog.h"
#include "coverage/record.h"
#include "coverage/report.h"
#include "coverage/suite_coverage.h"
#include "validation/markup/number.h"

namespace ttt::cli {
namespace {

struct ReportArguments {
  std::vector<std::string> data;
  std::string catalog;
  std::string json_file;
  std::string markdown_file;
  std::string html_file;
  double fail_under = 100.0;
  bool fail_under_given = false;
  std::vector<std::string> require_models;
  int strength = 2;
};

struct MergeArguments {
  std::vector<std::string> files;
  std::string output;
};

struct CatalogArguments {
  std::string catalog;
  std::string model;
  std::string json_file;
};

Catalog catalog_from(const std::string& directory) {
  return directory.empty() ? builtin_catalog() : load_catalog(directory);
}

int run_report(const ReportArguments& args) {
  // Standard output holds the console text or one report ('-'), never a mix.
  const int reports_to_stdout =
      (args.json_file == "-") + (args.markdown_file == "-") + (args.html_file == "-");
  if (reports_to_stdout > 1) {
    throw std::invalid_argument(
        "[coverage report] only one of --json, --markdown and --html may write to standard "
        "output ('-')");
  }
  // Checked here rather than by a CLI11 validator, whose range check lets NaN through (every
  // comparison with NaN is false) and whose message does not follow `ttt: error:`.
  if (!(args.fail_under >= 0.0 && args.fail_under <= 100.0)) {
    throw std::invalid_argument(
        "[coverage report] --fail-under: expected a percentage in [0, 100], got " +
        format_number(args.fail_under));
  }
  const Catalog catalog = catalog_from(args.catalog);
  CoverageReportOptions options;
  options.strength = args.strength;
  options.sources = args.data;
  CoverageReport report = build_coverage_report(read_coverage_data(args.data), catalog, options);
  // The report is about the models asked for (an unknown one is a usage error, exit 2).
  if (!args.require_models.empty()) {
    report = restrict_to_models(std::move(report), args.require_models);
  }
  // Checked before printing, so an unknown --require-model is a usage error (exit 2).
  const bool checking = args.fail_under_given || !args.require_models.empty();
  const CoverageCheck check =
      checking ? check_coverage(report, args.fail_under, args.require_models) : CoverageCheck{};
  if (reports_to_stdout == 0) std::cout << format_coverage_console(report);
  if (!args.json_file.empty()) write_output(args.json_file, to_json(report).dump(2) + "\n");
  if (!args.markdown_file.empty()) {
    write_output(args.markdown_file, format_coverage_markdown(report));
  }
  if (!args.html_file.empty()) write_output(args.html_file, format_coverage_html(report));
  for (const std::string& failure : check.failures) {
    std::cerr << "coverage below the floor: " << failure << "\n";
  }
  return check.passed ? kExitOk : kExitFailed;
}

int run_merge(const MergeArguments& args) {
  const std::vector<CoverageRecord> merged = aggregate_coverage(read_coverage_data(args.files));
  write_coverage_file(args.output, merged);
  if (args.output != "-") {
    std::cerr << "merged " << args.files.size() << " files into " << merged.size()
              << " records: " << args.output << "\n";
  }
  return kExitOk;
}

// `ttt coverage catalog --json`: each model with its derived configurations.
nlohmann::json catalog_json(const std::vector<const CatalogModel*>& models) {
  nlohmann::json out = nlohmann::json::array();
  for (const CatalogModel* model : models) {
    nlohmann::json configurations = nlohmann::json::array();
    for (const CatalogConfig& config : model->configurations) {
      configurations.push_back({{"block", config.block},
                                {"mode", config.mode},
                                {"identity", config.identity},
                                {"weight_dtype", config.weight_dtype},
                                {"presets", config.presets},
                                {"count", config.count},
                                {"spec", config.spec},
                                {"impl_config", config.impl_config}});
    }
    out.push_back({{"name", model->name},
                   {"hf_id", model->hf_id},
                   {"architecture", model->architecture},
                   {"configurations", std::move(configurations)},
                   {"unsupported", model->unsupported},
                   {"topologies", model->topologies}});
    if (!model->id.empty()) out.back()["id"] = model->id;
  }
  return out;
}

int run_catalog(const CatalogArguments& args) {
  const Catalog catalog = catalog_from(args.catalog);
  std::vector<const CatalogModel*> models;
  if (!args.model.empty()) {
    const CatalogModel* model = catalog.find_model(args.model);
    if (model == nullptr) {
      std::string names;
      for (const CatalogModel& known : catalog.models)
        names += (names.empty() ? "" : ", ") + known.name;
      throw std::invalid_argument("[coverage catalog] no model '" + args.model +
                                  "' (models: " + names + ")");
    }
    models.push_back(model);
  } else {
    for (const CatalogModel& model : catalog.models) models.push_back(&model);
  }
  if (!args.json_file.empty()) write_output(args.json_file, catalog_json(models).dump(2) + "\n");
  if (args.json_file == "-") return kExitOk;
  for (const CatalogModel* model : models) {
    std::string topologies;
    for (const std::string& topology : model->topologies) {
      topologies += (topologies.empty() ? "" : ", ") + topology;
    }
    std::cout << model->name << " (" << model->architecture << ", " << model->configurations.size()
              << " configurations" << (topologies.empty() ? "" : "; on " + topologies) << ")\n";
    for (const CatalogConfig& config : model->configurations) {
      std::cout << "  " << config.block << " " << config.mode << " x" << config.count << " "
                << config.weight_dtype << " " << config.identity << "\n";
    }
    for (const std::string& feature : model->unsupported) {
      std::cout << "  unsupported: " << feature << "\n";
    }
  }
  return kExitOk;
}

const CommandRegistration kRegistration("coverage", [](CLI::App& app) {
  CLI::App* command = app.add_subcommand(
      "coverage",
      "Block coverage: which configurations real models need were exercised and passed\n"
      "(docs/coverage.md).");
  command->require_subcommand(1);
  command->footer(
      "Examples:\n"
      "  ttt suite run suites/llama-3.2-1b.json --json results.json --coverage coverage.jsonl\n"
      "  ttt coverage report coverage.jsonl results.json --html coverage.html\n"
      "  ttt coverage catalog --model llama-3.2-1b");

  auto report = std::make_shared<ReportArguments>();
  CLI::App* report_command = command->add_subcommand(
      "report",
      "Report coverage records (JSON Lines files, or suite results JSON) against the catalog:\n"
      "per model, per block parameter, and t-way combinatorial coverage. Exit 0, 1 when\n"
      "--fail-under or --require-model is not met, 2 bad input.");
  report_command->add_option("data", report->data, "Coverage files or suite results")
      ->required()
      ->check(CLI::ExistingFile);
  report_command->add_option("--catalog", report->catalog,
                             "A catalog directory (models.json, domains.json); default: built-in");
  report_command->add_option("--json", report->json_file,
                             "Write the report as JSON to FILE ('-': stdout, instead of the text)");
  report_command->add_option(
      "--markdown", report->markdown_file,
      "Write the report as Markdown to FILE ('-': stdout, instead of the text)");
  report_command->add_option(
      "--html", report->html_file,
      "Write a self-contained HTML report to FILE ('-': stdout, instead of the text)");
  CLI::Option* fail_under = report_command->add_option(
      "--fail-under", report->fail_under,
      "Exit 1 when the passing share (percent) is below PCT: of each --require-model, "
      "else of the whole catalog");
  report_command->add_option("--require-model", report->require_models,
                             "A model that must reach --fail-under (default 100); the report "
                             "then shows only these models (repeatable)");
  report_command->add_option("--strength", report->strength, "t of t-way coverage (default 2)")
      ->check(CLI::Range(1, 6));
  report_command->footer(
      "Examples:\n"
      "  ttt suite run suites/llama-3.2-1b.json --json results.json --coverage coverage.jsonl\n"
      "  ttt coverage report coverage.jsonl results.json --html coverage.html --json "
      "coverage.json\n"
      "  ttt coverage report coverage.jsonl --require-model llama-3.2-1b --fail-under 100 "
      "--markdown -");

  auto merge = std::make_shared<MergeArguments>();
  CLI::App* merge_command = command->add_subcommand(
      "merge", "Merge coverage files (or suite results) into one aggregated coverage file.");
  merge_command->add_option("files", merge->files, "Coverage files or suite results")
      ->required()
      ->check(CLI::ExistingFile);
  merge_command->add_option("-o,--output", merge->output, "The merged file ('-': stdout)")
      ->required();
  merge_command->footer(
      "Examples:\n"
      "  ttt suite run suites/llama-3.2-1b.json --json results.json --coverage coverage.jsonl\n"
      "  ttt coverage merge coverage.jsonl results.json -o all.jsonl");

  auto catalog = std::make_shared<CatalogArguments>();
  CLI::App* catalog_command =
      command->add_subcommand("catalog", "List the block configurations each catalog model needs.");
  catalog_command->add_option("--catalog", catalog->catalog,
                              "A catalog directory; default: built-in");
  catalog_command->add_option("--model", catalog->model, "Only this model");
  catalog_command->add_option(
      "--json", catalog->json_file,
      "Write the catalog as JSON to FILE ('-': stdout, instead of the text)");
  catalog_command->footer(
      "Examples:\n"
      "  ttt coverage catalog --model llama-3.2-1b\n"
      "  ttt coverage catalog --json catalog.json");

  return [=]() -> int {
    if (report_command->parsed()) {
      report->fail_under_given = fail_under->count() > 0;
      return run_report(*report);
    }
    if (merge_command->parsed()) return run_merge(*merge);
    return run_catalog(*catalog);
  };
});

}  // namespace
}  // namespace ttt::cli
