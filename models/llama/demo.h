// `ttt demo`: a small Llama-style model run end to end with every block call validated, captured
// to a trace and replayed offline (docs/cli.md "ttt demo"; tools/ttt/demo_command.cc is the thin
// command around run_demo()).
//
// The run: build the model from a config.json (default: demo_default_config()) with seeded
// weights, or from a model directory with learned ones; prefill a seeded (or text) prompt and
// decode greedily for `decode_steps` tokens (every module call validated against its reference
// and captured to <out_dir>/trace.h5), check the output for degenerate repetition; print the
// validation report (per-module verdicts, worst metrics, times) and write <out_dir>/report.json
// and report.xml; then replay the trace through the block registry and print the replay's
// summary.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "blocks/common/device.h"
#include "models/degenerate_output.h"
#include "models/llama/token_accuracy.h"
#include "validation/mesh/mesh.h"
#include "validation/trace/replay.h"
#include "validation/wrapper/progress.h"
#include "validation/wrapper/registry.h"

namespace ttt::llama {

struct DemoOptions {
  // Where trace.h5, report.json and report.xml go (created if missing). The run holds the lock
  // file <out_dir>/.ttt-demo.lock: a second demo writing the same directory fails at once instead
  // of replacing the trace the first is replaying. Default: "ttt-demo".
  std::string out_dir = "ttt-demo";
  // A Hugging Face config.json of the Llama family; "" uses demo_default_config(). Default: "".
  std::string config_path = "";
  // A model directory (config.json, model.safetensors; models/trained/tiny-llama-bytes) whose
  // learned weights run instead of seeded ones. Excludes config_path. When it holds a token
  // golden (reference_tokens.h5), the demo also prints the model's token accuracy against it
  // (token_accuracy.h). Default: "" (seeded weights).
  std::string model_dir = "";
  // The prompt as text, encoded by the model directory's byte-level tokenizer (prompt_tokens is
  // then its length). "": the golden's prompt when the model directory has a golden, else
  // prompt_tokens seeded ids. Default: "".
  std::string prompt_text = "";
  // TTTv1's precision preset; unset: TTTv1's default settings.
  std::optional<Preset> preset = std::nullopt;
  Device device = Device::N150;
  // The mesh the model runs on, tensor parallel (docs/multi-device.md "Patterns on a mesh").
  // Under the MPI transport (one process per device) only the process holding device 0 writes
  // the outputs, prints and replays; every process runs the model. Default: 1x1, one device.
  Mesh mesh{};
  // Prompt length (one user). REQUIRES: >= 1. Default: 32.
  std::int64_t prompt_tokens = 32;
  // Greedy decode steps after the prefill. REQUIRES: >= 0. Default: 16.
  std::int64_t decode_steps = 16;
  // Selects the seeded weights and prompt. Default: 0.
  std::uint64_t seed = 0;
  // What the offline replay compares each call's device-now output with (replay.h). Default:
  // captured, the device and reference outputs the run captured: it skips re-running the float64
  // references, which are as slow as they were during the run (`ttt replay TRACE` does both).
  ReplayAgainst replay_against = ReplayAgainst::captured;
  // ANSI colours in the printed report (use_color_on_stdout() decides for a terminal).
  bool color = false;
  // Where to write the HTML report of the run (validation/wrapper/html_report.h); "" for none. It
  // runs the model twice more (teacher forced and free running) for the accumulated error; one
  // device only. Default: "".
  std::string html_path = "";
  // Where a line goes as each prefill/decode step and each replayed call finishes; nullptr: none.
  // Default: none.
  ProgressReporter* progress = nullptr;
};

struct DemoResult {
  std::vector<std::int64_t> prompt;     // The prompt's token ids.
  std::vector<std::int64_t> generated;  // The greedily decoded token ids.
  // Whether `generated` repeats itself (models/degenerate_output.h). Printed, not judged: a
  // seeded model's output is expected to loop.
  DegenerateOutputVerdict degenerate;
  // The token accuracy against the model directory's golden, when it has one.
  std::optional<TokenAccuracyReport> token_accuracy;
  ValidationSummary validation;  // Of this run's validated calls.
  ReplaySummary replay;          // Of the trace's offline replay.
  std::string trace_path;
  std::string report_json_path;
  std::string report_xml_path;
  // <out_dir>/config.json: the run's configuration dump (models/config_dump.h), also the trace's
  // root attribute "config".
  std::string config_dump_path;
  double model_seconds = 0.0;   // Prefill and decode, validated and captured.
  double replay_seconds = 0.0;  // The offline replay.
  // Whether this process wrote the outputs (false on the MPI ranks other than device 0's).
  bool wrote_outputs = true;

  // Every validated call passed and the replay had no failure.
  bool passed() const {
    return validation.failed == 0 && validation.calls > 0 && replay.failed == 0;
  }
};

// The default model: Llama-3.2-1B's published config.json (hidden 2048, 32 query and 8 key/value
// heads of head_dim 64, RoPE theta 500000 with llama3 scaling factor 32, RMSNorm eps 1e-5, tied
// embeddings) with 2 layers instead of 16, an intermediate size of 4096 instead of 8192 and a
// vocabulary of 8192 tokens instead of 128256, so that the run (most of whose time is the offline
// replay rebuilding every call's block from the trace) stays well under a minute on two cores.
nlohmann::json demo_default_config();

// Runs the demo, printing to `out` (on the process holding device 0 of options.mesh; the others
// print nothing). Switches validation on for the run (whatever TTT_VALIDATE says) and starts its
// own trace session. Throws std::invalid_argument for bad options or a bad config, or when the
// process's mesh transport does not fit options.mesh (an MPI launch whose rank count is not the
// mesh's device count) (the CLI exits 2), std::runtime_error when the output directory cannot be
// written or another demo holds its lock (the message gives that process's id), and TraceError when
// the capture fails (a full disk, or the trace deleted while the model ran).
DemoResult run_demo(const DemoOptions& options, std::ostream& out);

// The configuration dump (models/config_dump.h) of the run `options` describe, without running
// it: the model is built (weights not loaded) as run_demo builds it. What `ttt config dump`
// prints and run_demo writes to <out_dir>/config.json. Throws as run_demo for bad options.
nlohmann::json demo_config_dump(const DemoOptions& options);

}  // namespace ttt::llama
