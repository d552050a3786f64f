// `ttt accuracy`: teacher-forced token accuracy of a model directory's device run against a token
// golden, with the golden's self-check, the degenerate-output check and per-device targets; or,
// with --make-golden, the golden itself from TTTv2's float64 reference (docs/cli.md
// "ttt accuracy"). The work is in models/llama/token_accuracy.h.
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "command.h"
#include "models/llama/token_accuracy.h"

namespace ttt::cli {
namespace {

struct AccuracyArguments {
  std::string model;
  std::string golden;
  std::string targets;
  std::string device = "N150";
  std::string preset;
  std::string json_file;
  bool validate = false;
  std::string make_golden;
  std::string prompt;
  std::int64_t continuation = 96;
  std::int64_t top_k = 5;
};

std::string in_model_directory(const std::string& dir, const char* file) {
  return (std::filesystem::path(dir) / file).string();
}

int make_golden(const llama::ModelDirectory& directory, const AccuracyArguments& args) {
  if (!directory.tokenizer.has_value()) {
    throw std::invalid_argument("[accuracy] --prompt is text, but " + directory.path +
                                " has no byte-level tokenizer_config.json to encode it with");
  }
  if (args.prompt.empty())
    throw std::invalid_argument("[accuracy] --make-golden needs --prompt TEXT");
  const llama::LlamaModel built = llama::build_llama_model(directory, {.validate = false});
  const TokenGolden golden =
      llama::make_token_golden(built.model, directory.tokenizer->encode(args.prompt),
                               args.continuation, args.top_k, llama::golden_provenance(directory));
  write_token_golden(args.make_golden, golden);
  std::cout << "wrote " << args.make_golden << ": " << golden.prompt.size() << " prompt and "
            << golden.continuation.size() << " continuation tokens, top-" << golden.top_k
            << " per position, weights " << golden.provenance.weights_hash << "\n"
            << "  prompt:       " << quoted_text(directory.tokenizer->decode(golden.prompt)) << "\n"
            << "  continuation: " << quoted_text(directory.tokenizer->decode(golden.continuation))
            << "\n";
  return kExitOk;
}

int run_accuracy(const AccuracyArguments& args) {
  const llama::ModelDirectory directory = llama::open_model_directory(args.model);
  if (!args.make_golden.empty()) return make_golden(directory, args);

  const std::string golden_path =
      args.golden.empty() ? in_model_directory(args.model, "reference_tokens.h5") : args.golden;
  const TokenGolden golden = read_token_golden(golden_path);
  llama::check_golden_fits(golden, golden_path, directory);

  llama::TokenAccuracyOptions options;
  options.device = parse_device(args.device);
  if (!args.preset.empty()) options.preset = parse_preset(args.preset);
  options.validate = args.validate;
  std::string targets_path = args.targets;
  if (targets_path.empty() &&
      std::filesystem::exists(in_model_directory(args.model, "accuracy_targets.json"))) {
    targets_path = in_model_directory(args.model, "accuracy_targets.json");
  }
  if (!targets_path.empty()) {
    options.target = llama::find_accuracy_target(llama::read_accuracy_targets(targets_path),
                                                 directory.name, args.device, targets_path);
  }
  // Opened before the run, so that an unwritable path fails at once.
  std::optional<OutputStream> json_out;
  if (!args.json_file.empty()) json_out.emplace(args.json_file);

  const llama::TokenAccuracyReport report = llama::run_token_accuracy(directory, golden, options);
  std::ostream& text = args.json_file == "-" ? std::cerr : std::cout;
  text << llama::format_token_accuracy(report, golden, directory.tokenizer);
  if (json_out.has_value()) {
    json_out->stream() << nlohmann::json(report).dump(2) << "\n";
    json_out->close();
  }
  return report.passed() ? kExitOk : kExitFailed;
}

const CommandRegistration kRegistration("accuracy", [](CLI::App& app) {
  auto args = std::make_shared<AccuracyArguments>();
  CLI::App* command = app.add_subcommand(
      "accuracy",
      "Teacher-forced token accuracy of a model directory's device run against a token golden\n"
      "(top-1: the device's most likely next token is the reference's; top-5: it is among the\n"
      "reference's five most likely), the golden's self-check (the reference reproduces it), the\n"
      "degenerate-output check, and the model's target on the device. With --make-golden: write\n"
      "the golden from TTTv2's float64 reference instead.\n"
      "Exit 0 passed, 1 below target / self-check failed / degenerate output, 2 bad input.");
  command
      ->add_option("--model", args->model,
                   "Model directory: config.json, model.safetensors, tokenizer_config.json")
      ->required();
  command->add_option("--golden", args->golden, "Token golden (default: DIR/reference_tokens.h5)");
  command->add_option("--targets", args->targets,
                      "Targets file (default: DIR/accuracy_targets.json when present; without "
                      "one the accuracy is not judged)");
  command
      ->add_option("--device", args->device,
                   "Device whose defaults configure the blocks "
                   "(default N150)")
      ->check(CLI::IsMember({"N150", "N300", "T3K", "TG"}));
  command->add_option("--preset", args->preset, "TTTv1 precision preset (default: none)")
      ->check(CLI::IsMember({"accuracy", "performance"}));
  command->add_flag("--validate", args->validate,
                    "Also validate every block call of the device run against its reference");
  command->add_option("--json", args->json_file, "Write the report as JSON to FILE ('-': stdout)");
  command->add_option("--make-golden", args->make_golden,
                      "Write a token golden to FILE from the float64 reference instead");
  command->add_option("--prompt", args->prompt, "With --make-golden: the prompt text");
  command
      ->add_option("--continuation", args->continuation,
                   "With --make-golden: greedy tokens after the prompt (default 96)")
      ->check(CLI::NonNegativeNumber);
  command
      ->add_option("--top-k", args->top_k,
                   "With --make-golden: predictions kept per position (default 5, >= 5)")
      ->check(CLI::Range(std::int64_t{5}, std::int64_t{1000}));
  command->footer(
      "Examples:\n"
      "  ttt accuracy --model models/trained/tiny-llama-bytes\n"
      "  ttt accuracy --model models/trained/tiny-llama-bytes --preset performance --json -\n"
      "  ttt accuracy --model DIR --make-golden DIR/reference_tokens.h5 --prompt 'count from 1:'");
  return [args] { return run_accuracy(*args); };
});

}  // namespace
}  // namespace ttt::cli
