// `ttt roofline --model NAME --device N150,N300 --html roofline.html`: every block of the model
// (prefill and decode, per topology) on the device's roofline, and on the roofline of the CPU the
// emulation runs on (docs/cli.md, docs/cost-model.md "Roofline"). The blocks come from the device
// composition (suites/suite/device_compose.h), the charts from suites/suite/roofline.h; this file
// parses flags and prints.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "blocks/common/device_model.h"
#include "command.h"
#include "overhead_flags.h"
#include "suites/suite/device_compose.h"
#include "suites/suite/roofline.h"

namespace ttt::cli {
namespace {

struct RooflineArguments {
  std::string model;
  std::vector<std::string> devices{"N150"};
  std::int64_t seq_len = 128;
  std::int64_t context_len = -1;
  std::int64_t batch = 1;
  std::string preset;
  OverheadFlags overhead;
  std::string cpu_ceilings;
  std::string html_file;
  std::string json_file;
};

int run_roofline(const RooflineArguments& args) {
  // Every input is checked before the CPU is measured or a file written.
  std::vector<const DeviceModel*> devices;
  for (const std::string& name : args.devices) devices.push_back(&find_device_model(name));
  const CpuCeilings given =
      args.cpu_ceilings.empty() ? CpuCeilings{} : parse_cpu_ceilings(args.cpu_ceilings);
  const ModelDefinition model = load_model(args.model);
  DeviceComposeOptions options;
  options.seq_len = args.seq_len;
  options.context_len = args.context_len >= 0 ? args.context_len : args.seq_len;
  options.batch = args.batch;
  if (!args.preset.empty()) options.preset = parse_preset(args.preset);
  options.overheads = args.overhead.overheads();
  std::vector<DeviceComposition> compositions;
  for (const DeviceModel* device : devices) {
    compositions.push_back(compose_device_cost(model, *device, options));
  }
  const RooflineReport report = build_roofline_report(
      compositions, args.cpu_ceilings.empty() ? measure_cpu_ceilings() : given);
  if (!args.html_file.empty()) write_output(args.html_file, format_roofline_html(report));
  if (!args.json_file.empty()) write_output(args.json_file, to_json(report).dump(2) + "\n");
  if (args.json_file != "-" && args.html_file != "-") std::cout << format_roofline_text(report);
  return kExitOk;
}

const CommandRegistration kRegistration("roofline", [](CLI::App& app) {
  auto args = std::make_shared<RooflineArguments>();
  CLI::App* command = app.add_subcommand(
      "roofline",
      "Draw every block of a model (prefill and decode) on the roofline of each Tenstorrent\n"
      "topology (arithmetic intensity vs attained throughput, under the memory roof and the\n"
      "matrix engine's roof per fidelity and the element-wise roof, from the device cost model:\n"
      "docs/cost-model.md), and on the roofline of this CPU (measured read bandwidth and float32\n"
      "GEMM rate, or --cpu-ceilings). Writes a self-contained HTML report (--html) and JSON.\n"
      "Exit 0 ok, 2 bad input.");
  command->add_option("--model", args->model, "A catalog model or config.json")->required();
  command
      ->add_option("--device", args->devices,
                   "Topologies, comma-separated: N150, N300, T3K, TG, P100, P150 (default N150)")
      ->delimiter(',');
  command->add_option("--seq-len", args->seq_len, "Prefill tokens per user (default 128)")
      ->check(CLI::PositiveNumber);
  command
      ->add_option("--context-len", args->context_len, "Decode past positions (default: --seq-len)")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--batch", args->batch, "Users (default 1)")->check(CLI::PositiveNumber);
  command->add_option("--preset", args->preset, "TTTv1 precision preset (default: none)")
      ->check(CLI::IsMember({"accuracy", "performance"}));
  add_overhead_flags(command, args->overhead, "");
  command->add_option("--cpu-ceilings", args->cpu_ceilings,
                      "The CPU's roofs as GBPS,GFLOPS (read GB/s, float32 GEMM GFLOP/s) instead "
                      "of measuring them (about a second): for deterministic output");
  command->add_option("--html", args->html_file, "Write the HTML report to FILE ('-': stdout)");
  command->add_option("--json", args->json_file, "Write the JSON to FILE ('-': stdout)");
  command->footer(
      "Examples:\n"
      "  ttt roofline --model llama-3.2-1b --html roofline.html\n"
      "  ttt roofline --model llama-3.1-70b --device T3K,TG --json roofline.json\n"
      "  ttt roofline --model llama-3.2-1b --cpu-ceilings 20,100 --json -");
  return [args] { return run_roofline(*args); };
});

}  // namespace
}  // namespace ttt::cli
