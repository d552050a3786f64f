// `ttt demo`: runs a small Llama-style model with every block call validated, captured and
// replayed (docs/cli.md "ttt demo"). The work is in models/llama/demo.h; this file parses
// flags and maps the result to the exit code.
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "command.h"
#include "model_flags.h"
#include "models/llama/demo.h"
#include "suites/suite/registry.h"
#include "validation/mesh/mesh.h"
#include "validation/mesh/transport.h"
#ifdef TTT_WITH_MPI
#include "validation/mesh/mpi/mpi_transport.h"
#endif
#include "validation/trace/replay.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/progress.h"
#include "validation/wrapper/report.h"

namespace ttt::cli {
namespace {

struct DemoArguments {
  ModelFlags model;
  llama::DemoOptions options;  // The demo's own flags; demo_options(model) fills the rest.
  std::string replay_against = "captured";
  bool quiet = false;
  std::string registry_file;
};

int run_demo_command(DemoArguments& args) {
  args.options = demo_options(args.model, std::move(args.options));
  // Under mpirun: one rank per device of the mesh, collectives through MPI (rank 0 writes).
  std::optional<ScopedMeshTransport> mpi;
#ifdef TTT_WITH_MPI
  if (launched_under_mpi()) mpi.emplace(make_mpi_transport());
#endif
  args.options.replay_against = parse_replay_against(args.replay_against);
  args.options.color = use_color_on_stdout();
  // Read before the run, so that a bad registry fails at once.
  const std::optional<Registry> registry =
      args.registry_file.empty() ? std::nullopt
                                 : std::optional<Registry>(load_registry(args.registry_file));
  ProgressReporter progress = stderr_progress();
  if (!args.quiet) args.options.progress = &progress;
  const llama::DemoResult result = llama::run_demo(args.options, std::cout);
  if (registry && result.wrote_outputs) {
    std::cout << format_misses(
        find_misses(*registry, observed_blocks(TraceReader::open(result.trace_path))), *registry);
  }
  return result.passed() ? kExitOk : kExitFailed;
}

const CommandRegistration kRegistration("demo", [](CLI::App& app) {
  auto args = std::make_shared<DemoArguments>();
  CLI::App* command = app.add_subcommand(
      "demo",
      "Build a small Llama-style model (Llama-3.2-1B's shapes, 2 layers, seeded weights), run a\n"
      "prefill and greedy decode steps with every block call validated and captured, print the\n"
      "validation report, write DIR/trace.h5, DIR/report.json, DIR/report.xml and the run's\n"
      "configuration dump DIR/config.json (ttt config), and replay the\n"
      "trace offline; print the generated text (with --model) and whether it is degenerate\n"
      "(repeats itself). Exit 0 all passed, 1 a call or the replay failed, 2 bad input.");
  command->add_option("--out-dir", args->options.out_dir, "Output directory (default: ttt-demo)");
  add_model_flags(command, args->model);
  command->add_option("--prompt", args->options.prompt_text,
                      "The prompt as text (--model with a byte-level tokenizer; default: the "
                      "golden's prompt, else --prompt-tokens seeded ids)");
  command->add_option("--seed", args->options.seed, "Seed of the weights and prompt (default 0)");
  command
      ->add_option("--replay-against", args->replay_against,
                   "What the replay compares device-now with: captured (default: the outputs the "
                   "run captured), reference (the float64 reference run again) or both")
      ->check(CLI::IsMember({"reference", "captured", "both"}));
  command->add_option("--registry", args->registry_file,
                      "Report the fingerprints of the run's calls that have no evidence in this "
                      "registry (suites/registry/registry.json; docs/fingerprints.md \"Registry\")");
  command->add_option("--html", args->options.html_path,
                      "Also write the run's HTML report to FILE: isolated and accumulated error "
                      "per layer and per call (the model runs twice more), the token strip, the "
                      "worst calls with their replay lines");
  command->add_flag("--quiet", args->quiet,
                    "No progress lines on standard error (one per prefill/decode step and per "
                    "replayed call; one live line on a terminal)");
  command->footer(
      "Examples:\n"
      "  ttt demo --out-dir build/default/demo\n"
      "  ttt demo --out-dir run --preset performance --device T3K\n"
      "  ttt demo --out-dir run --mesh T3K\n"
      "  ttt demo --out-dir run --model models/trained/tiny-llama-bytes --decode-steps 40\n"
      "  ttt demo --out-dir run --model models/trained/tiny-llama-bytes --html run/report.html\n"
      "  mpirun -n 8 ttt demo --out-dir run --mesh T3K");
  return [args] { return run_demo_command(*args); };
});

}  // namespace
}  // namespace ttt::cli
