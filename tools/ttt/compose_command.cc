// `ttt compose SUITE.json --results R.json`: predict the model's prefill and decode latency and
// the accuracy of its logits from block results alone; with --measure, run the real model (the
// causal LM of the suite's model, or a slice of it) and compare; judge the prediction against
// the model's targets (docs/cli.md, docs/suites.md "Composition" and "Model targets"). The work
// is in suites/suite/compose.h and model_targets.h; this file parses flags and prints.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "blocks/common/device_model.h"
#include "command.h"
#include "overhead_flags.h"
#include "suites/suite/compose.h"
#include "suites/suite/device_compose.h"
#include "suites/suite/model_targets.h"

namespace ttt::cli {
namespace {

struct ComposeArguments {
  std::string suite;
  std::string results;
  std::int64_t seq_len = 0;
  std::int64_t context_len = -1;
  std::int64_t batch = 1;
  std::int64_t layers = 0;
  std::int64_t vocab_size = 0;
  std::string preset;
  std::string clock = "wall";
  std::string statistic = "p50";
  std::string json_file;
  bool measure = false;
  bool warm_caches = false;
  double tolerance = 0.10;
  int repetitions = kMinRepetitions;
  int warmup = 2;
  std::string targets;
  bool no_targets = false;
  // --device-cost: the model and topologies to predict on, and the named overheads.
  bool device_cost = false;
  std::string model;
  std::vector<std::string> devices;
  OverheadFlags overhead;
};

// `ttt compose --device-cost`: the model (--model, else the suite's) on every --device (else the
// suite's device), from the cost model alone (suites/suite/device_compose.h).
int run_device_cost(const ComposeArguments& args) {
  std::optional<SuiteFile> suite;
  if (!args.suite.empty()) suite = load_suite_file(args.suite);
  std::optional<ModelDefinition> model;
  if (!args.model.empty()) {
    model = load_model(args.model);
  } else if (suite && suite->model) {
    model = suite->model;
  } else {
    throw std::invalid_argument(
        "[compose] --device-cost needs a model: --model NAME|config.json, or a suite naming one");
  }
  if (args.layers > 0 || args.vocab_size > 0) {
    model->spec = slice_spec(
        model->spec,
        args.layers > 0 ? args.layers : static_cast<std::int64_t>(model->spec.layers.size()),
        args.vocab_size);
  }
  std::vector<std::string> devices = args.devices;
  if (devices.empty() && suite) devices.emplace_back(device_name(suite->device));
  if (devices.empty()) {
    throw std::invalid_argument(
        "[compose] --device-cost needs --device (known: " + device_model_names() + ")");
  }
  DeviceComposeOptions options;
  if (args.seq_len > 0) options.seq_len = args.seq_len;
  options.context_len = args.context_len >= 0 ? args.context_len : options.seq_len;
  options.batch = args.batch;
  if (!args.preset.empty()) options.preset = parse_preset(args.preset);
  options.overheads = args.overhead.overheads();
  nlohmann::json json = nlohmann::json::array();
  std::string text;
  for (const std::string& name : devices) {
    const DeviceComposition composition =
        compose_device_cost(*model, find_device_model(name), options);
    json.push_back(to_json(composition));
    text += (text.empty() ? "" : "\n") + format_device_composition(composition);
  }
  if (!args.json_file.empty()) {
    write_output(args.json_file, nlohmann::json{{"device_cost", json}}.dump(2) + "\n");
  }
  if (args.json_file != "-") std::cout << text;
  return kExitOk;
}

// The targets to judge: --targets FILE, else the suite's targets/<model>.<device>.json when it
// exists. `note` says why found targets are not judged (a slice), for the text output.
std::optional<ModelTargets> find_targets(const ComposeArguments& args,
                                         const Composition& composition, std::string& note) {
  if (!args.targets.empty()) return load_model_targets(args.targets);
  if (args.no_targets) return std::nullopt;
  const std::string path = default_targets_path(args.suite, composition.model, composition.device);
  if (path.empty() || !std::filesystem::exists(path)) return std::nullopt;
  if (is_slice(composition)) {
    note = "\ntargets " + path + " not judged: the prediction is a slice (" +
           std::to_string(composition.layers) + " of " + std::to_string(composition.model_layers) +
           " layers, vocabulary " + std::to_string(composition.vocab_size) + " of " +
           std::to_string(composition.model_vocab_size) + ")\n";
    return std::nullopt;
  }
  return load_model_targets(path);
}

int run_compose(const ComposeArguments& args) {
  if (args.device_cost) return run_device_cost(args);
  if (args.suite.empty() || args.results.empty()) {
    throw std::invalid_argument(
        "[compose] a suite file and --results are required (without --device-cost)");
  }
  const SuiteFile suite = load_suite_file(args.suite);
  const RunResults results = load_run_results(args.results);
  ComposeOptions options;
  options.seq_len = args.seq_len;
  options.context_len = args.context_len;
  options.batch = args.batch;
  options.layers = args.layers;
  options.vocab_size = args.vocab_size;
  if (!args.preset.empty()) options.preset = parse_preset(args.preset);
  options.clock = parse_timing_clock(args.clock);
  options.statistic = args.statistic;
  const Composition composition = compose(suite, results, options);
  std::string targets_note;
  const std::optional<ModelTargets> targets = find_targets(args, composition, targets_note);
  std::optional<TargetsJudgement> judgement;
  if (targets) judgement = judge_targets(composition, *targets);

  nlohmann::json json = {{"composition", to_json(composition)}};
  json["targets"] = judgement ? to_json(*judgement) : nlohmann::json();
  std::optional<Comparison> comparison;
  if (args.measure) {
    MeasureOptions measure;
    measure.repetitions = args.repetitions;
    measure.warmup = args.warmup;
    measure.cold_caches = !args.warm_caches;
    const Measurement measurement = measure_model(suite, composition, measure);
    comparison = compare(composition, measurement, args.tolerance);
    json["measurement"] = to_json(measurement);
    json["comparison"] = to_json(*comparison);
  }
  if (!args.json_file.empty()) {
    write_output(args.json_file, json.dump(2) + "\n");
  }
  if (args.json_file != "-") {
    std::cout << format_composition(composition, comparison ? &*comparison : nullptr)
              << (judgement ? format_targets(*judgement) : targets_note);
  }
  const bool missed = (comparison && !comparison->ok()) || (judgement && !judgement->ok());
  return missed ? kExitFailed : kExitOk;
}

const CommandRegistration kRegistration("compose", [](CLI::App& app) {
  auto args = std::make_shared<ComposeArguments>();
  CLI::App* command = app.add_subcommand(
      "compose",
      "Predict a model's prefill and decode latency and its logits' accuracy from the block\n"
      "results of a suite (sum of occurrences x block latency; first-order error model), with\n"
      "each block's share. --measure runs the real model and compares. Judges the prediction\n"
      "against the model's targets (--targets, or the suite's targets/<model>.<device>.json).\n"
      "--device-cost predicts the time to first token and decode tokens/s/user on Tenstorrent\n"
      "topologies from the device cost model alone (docs/cost-model.md; nothing runs).\n"
      "Exit 0 ok, 1 a target or the measurement missed, 2 bad input.");
  command->add_option("suite", args->suite,
                      "The suite file (it names the model); optional with --device-cost");
  CLI::Option* results =
      command->add_option("--results", args->results,
                          "Results JSON of `ttt suite run` (merged); required without "
                          "--device-cost");
  command->add_option("--seq-len", args->seq_len, "Prefill tokens per user (default: the cases')")
      ->check(CLI::PositiveNumber);
  command
      ->add_option("--context-len", args->context_len,
                   "Decode past positions (default: the decode attention cases')")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--batch", args->batch, "Users (default 1)")->check(CLI::PositiveNumber);
  command
      ->add_option("--layers", args->layers,
                   "Predict a slice of this many layers (default: the model's)")
      ->check(CLI::PositiveNumber);
  command
      ->add_option("--vocab", args->vocab_size,
                   "The slice's vocabulary (default: the model's); LM head time scales "
                   "linearly")
      ->check(CLI::PositiveNumber);
  command->add_option("--preset", args->preset, "Compose the cases of this preset")
      ->check(CLI::IsMember({"accuracy", "performance"}));
  command->add_option("--clock", args->clock, "wall (default) or cpu")
      ->check(CLI::IsMember({"wall", "cpu"}));
  command->add_option("--statistic", args->statistic, "p50 (default), min or mean")
      ->check(CLI::IsMember({"p50", "min", "mean"}));
  command->add_option("--json", args->json_file, "Write the JSON to FILE ('-': stdout)");
  CLI::Option* targets =
      command->add_option("--targets", args->targets,
                          "Model targets to judge the prediction against (default: the suite's "
                          "targets/<model>.<device>.json when it exists)");
  command->add_flag("--no-targets", args->no_targets, "Do not look for the suite's targets file")
      ->excludes(targets);
  CLI::Option* measure =
      command->add_flag("--measure", args->measure,
                        "Run the real model (seeded weights) and compare with the prediction");
  command
      ->add_flag("--device-cost", args->device_cost,
                 "Predict on Tenstorrent devices from the cost model (docs/cost-model.md) "
                 "instead of from block results: TTFT and decode tokens/s/user per --device")
      ->excludes(results)
      ->excludes(measure)
      ->excludes(targets);
  command->add_option("--model", args->model,
                      "--device-cost: a catalog model or config.json (default: the suite's)");
  command
      ->add_option("--device", args->devices,
                   "--device-cost: topologies, comma-separated: N150, N300, T3K, TG, P100, P150 "
                   "(default: the suite's device)")
      ->delimiter(',');
  add_overhead_flags(command, args->overhead, "--device-cost: ");
  command->add_flag("--warm-caches", args->warm_caches,
                    "--measure: do not evict the caches before each forward (as `ttt suite run "
                    "--warm-caches`)");
  command
      ->add_option("--tolerance", args->tolerance,
                   "Latency tolerance of --measure, a fraction (default 0.10)")
      ->check(CLI::Range(0.0, 10.0));
  command->add_option("--repetitions", args->repetitions, "Timed forwards of --measure (>= 9)")
      ->check(CLI::Range(kMinRepetitions, 1000000));
  command->add_option("--warmup", args->warmup, "Untimed forwards of --measure")
      ->check(CLI::Range(0, 1000000));
  command->footer(
      "Examples:\n"
      "  ttt suite run suites/llama-3.2-1b.json --json results.json\n"
      "  ttt compose suites/llama-3.2-1b.json --results results.json --json compose.json\n"
      "  ttt compose suites/llama-3.2-1b.json --results results.json --layers 2 --measure\n"
      "  ttt compose --device-cost --model llama-3.1-8b --device N150,N300");
  return [args] { return run_compose(*args); };
});

}  // namespace
}  // namespace ttt::cli
