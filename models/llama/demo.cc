#include "models/llama/demo.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <utility>
#include <variant>

#include "models/config_dump.h"
#include "models/llama/model.h"
#include "patterns/tensor_parallel.h"
#include "validation/input/lock_file.h"
#include "validation/mesh/transport.h"
#include "validation/tensor/fnv.h"
#include "validation/tensor/random.h"
#include "validation/trace/capture.h"
#include "validation/trace/trace_reader.h"
#include "validation/wrapper/error_propagation.h"
#include "validation/wrapper/html_report.h"
#include "validation/wrapper/report.h"
#include "validation/wrapper/switches.h"

namespace ttt::llama {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Validation on, every name, every call, for the demo's run; the previous settings come back
// afterwards (the demo may run inside a larger process, e.g. a test).
class ValidationEverywhere {
 public:
  ValidationEverywhere()
      : enabled_(validation_enabled()),
        filter_(validation_filter()),
        sampling_(validation_sampling()) {
    set_validation_enabled(true);
    set_validation_filter("*");
    set_validation_sampling({});
  }
  ~ValidationEverywhere() {
    set_validation_enabled(enabled_);
    set_validation_filter(filter_);
    set_validation_sampling(sampling_);
  }
  ValidationEverywhere(const ValidationEverywhere&) = delete;
  ValidationEverywhere& operator=(const ValidationEverywhere&) = delete;

 private:
  bool enabled_;
  std::string filter_;
  SamplingSettings sampling_;
};

std::string token_list(const std::vector<std::int64_t>& tokens) {
  std::string text;
  for (const std::int64_t token : tokens) {
    if (!text.empty()) text += ' ';
    text += std::to_string(token);
  }
  return text;
}

// The intermediate size of the first layer's FFN (what the Llama adapter maps is a gated MLP).
std::int64_t ffn_hidden(const CausalLmSpec& spec) {
  return std::visit([](const auto& ffn) { return ffn.ffn_dim; }, spec.layers.front().ffn);
}

std::string megabytes(std::uintmax_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f MB", static_cast<double>(bytes) / 1e6);
  return text;
}

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f s", seconds);
  return text;
}

// Holds <dir>/.ttt-demo.lock for the whole run (LockFile: this process's id in it, released by
// the kernel when the process ends however it ends, so a killed demo never leaves the directory
// locked). The file itself stays: deleting it would race with a demo that just opened it.
LockFile lock_output_directory(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / ".ttt-demo.lock").string();
  try {
    return LockFile(path);
  } catch (const LockFileHeld& held) {
    throw std::runtime_error("[demo] the output directory " + dir +
                             " is in use by another ttt demo (process " +
                             (held.holder().empty() ? "unknown" : held.holder()) + " holds " +
                             path + "); wait for it to finish or choose another output directory");
  }
}

// What the demo runs: a config with seeded weights, or a model directory's learned weights (with
// its token golden, when it has one).
struct DemoModel {
  LlamaConfig config;
  std::optional<ModelDirectory> directory;
  std::optional<TokenGolden> golden;
  std::string golden_path;
};

DemoModel demo_model(const DemoOptions& options) {
  DemoModel demo;
  if (options.model_dir.empty()) {
    demo.config = options.config_path.empty()
                      ? llama_config_from_json(demo_default_config(), "the built-in demo config")
                      : load_llama_config(options.config_path);
    return demo;
  }
  if (!options.config_path.empty()) {
    throw std::invalid_argument(
        "[demo] --model and --config exclude each other (a model "
        "directory holds its own config.json)");
  }
  demo.directory = open_model_directory(options.model_dir);
  demo.config = demo.directory->config;
  demo.golden_path = (std::filesystem::path(options.model_dir) / "reference_tokens.h5").string();
  if (std::filesystem::exists(demo.golden_path)) {
    demo.golden = read_token_golden(demo.golden_path);
    check_golden_fits(*demo.golden, demo.golden_path, *demo.directory);
  }
  return demo;
}

// The prompt's ids: the text encoded, else the golden's prompt, else seeded ids.
std::vector<std::int64_t> demo_prompt(const DemoOptions& options, const DemoModel& demo) {
  if (!options.prompt_text.empty()) {
    if (!demo.directory.has_value() || !demo.directory->tokenizer.has_value()) {
      throw std::invalid_argument(
          "[demo] --prompt is text: it needs --model DIR with a "
          "byte-level tokenizer_config.json");
    }
    return demo.directory->tokenizer->encode(options.prompt_text);
  }
  if (demo.golden.has_value()) return demo.golden->prompt;
  const Tensor prompt =
      random_integers({1, options.prompt_tokens}, fnv1a64("demo.prompt") ^ options.seed, 0,
                      demo.config.spec.embedding.vocab_size, DType::int64);
  return {prompt.data<std::int64_t>(), prompt.data<std::int64_t>() + prompt.numel()};
}

// The model the demo runs (weights loaded when first used).
LlamaModel build_demo_model(const DemoOptions& options, const DemoModel& demo,
                            bool teacher_forcing = false) {
  LlamaModelOptions model_options;
  model_options.teacher_forcing = teacher_forcing;
  model_options.seed = options.seed;
  model_options.device = options.device;
  model_options.preset = options.preset;
  model_options.mesh = options.mesh;
  return demo.directory.has_value() ? build_llama_model(*demo.directory, model_options)
                                    : build_llama_model(demo.config, model_options);
}

// The configuration dump of the demo's run: one user, a prefill of the prompt, the decode steps.
nlohmann::json demo_dump(const DemoOptions& options, const LlamaConfig& config,
                         const CausalLm& model, std::int64_t prompt_tokens) {
  ConfigDumpRun run;
  run.source = config.source;
  run.model_spec = config.spec;
  run.device = options.device;
  run.preset = options.preset;
  run.mesh = options.mesh;
  run.prompt_tokens = prompt_tokens;
  run.decode_steps = options.decode_steps;
  return make_config_dump(model, run);
}

}  // namespace

nlohmann::json demo_config_dump(const DemoOptions& options) {
  const DemoModel demo = demo_model(options);
  const auto prompt_tokens = static_cast<std::int64_t>(demo_prompt(options, demo).size());
  return demo_dump(options, demo.config, build_demo_model(options, demo).model, prompt_tokens);
}

nlohmann::json demo_default_config() {
  return nlohmann::json::parse(R"({
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": false,
    "attention_dropout": 0.0,
    "bos_token_id": 128000,
    "eos_token_id": 128001,
    "head_dim": 64,
    "hidden_act": "silu",
    "hidden_size": 2048,
    "initializer_range": 0.02,
    "intermediate_size": 4096,
    "max_position_embeddings": 131072,
    "mlp_bias": false,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 2,
    "num_key_value_heads": 8,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {
      "factor": 32.0,
      "high_freq_factor": 4.0,
      "low_freq_factor": 1.0,
      "original_max_position_embeddings": 8192,
      "rope_type": "llama3"
    },
    "rope_theta": 500000.0,
    "tie_word_embeddings": true,
    "torch_dtype": "bfloat16",
    "use_cache": true,
    "vocab_size": 8192
  })");
}

// The HTML report of the run (validation/wrapper/html_report.h): the model runs twice more, teacher
// forced and free running, on the prompt and the tokens the demo generated (so that both runs make
// the same calls), for every call's isolated and accumulated error; the token strip is the token
// accuracy's, against the golden.
void write_demo_html(const DemoOptions& options, const DemoModel& demo, const DemoResult& result) {
  const auto prompt_tokens = static_cast<std::int64_t>(result.prompt.size());
  const ErrorPropagation propagation = measure_error_propagation([&](bool teacher_forcing) {
    const LlamaModel built = build_demo_model(options, demo, teacher_forcing);
    CausalLmCache cache = built.model.make_cache(1, prompt_tokens + options.decode_steps);
    built.model.prefill(Tensor::from_int64({1, prompt_tokens}, result.prompt), cache);
    for (std::size_t step = 0; step < result.generated.size(); ++step) {
      built.model.decode(Tensor::from_int64({1}, {result.generated[step]}),
                         Tensor::from_int64({1}, {prompt_tokens + static_cast<std::int64_t>(step)}),
                         cache);
    }
  });
  HtmlReportInput input;
  input.title = (demo.directory ? demo.directory->name : std::string("ttt demo")) + " on " +
                std::string(device_name(options.device));
  input.source = "ttt demo: " + std::to_string(prompt_tokens) + " prompt tokens, " +
                 std::to_string(options.decode_steps) + " decode steps; calls captured to " +
                 result.trace_path;
  input.trace_path = result.trace_path;
  input.calls = html_calls(propagation);
  input.has_accumulated = true;
  input.flagged_layer = propagation.flagged_layer;
  if (demo.golden && result.token_accuracy) {
    input.tokens = html_token_strip(*demo.golden, result.token_accuracy->accuracy.predicted);
    input.top_k = std::min<std::int64_t>(5, demo.golden->top_k);
    input.tokens_source = "Teacher forced through " + demo.golden_path;
    if (demo.directory->tokenizer) {
      for (std::size_t p = 0; p < input.tokens.size(); ++p) {
        const std::int64_t token[] = {input.tokens[p].reference};
        input.tokens[p].text = demo.directory->tokenizer->decode(token);
      }
    }
  }
  std::ofstream file(options.html_path, std::ios::trunc);
  file << render_html_report(input);
  if (!file.flush()) {
    throw std::runtime_error("[demo] --html " + options.html_path + ": cannot write");
  }
}

DemoResult run_demo(const DemoOptions& options, std::ostream& out) {
  if (options.prompt_tokens < 1) {
    throw std::invalid_argument("[demo] --prompt-tokens must be >= 1, got " +
                                std::to_string(options.prompt_tokens));
  }
  if (options.decode_steps < 0) {
    throw std::invalid_argument("[demo] --decode-steps must be >= 0, got " +
                                std::to_string(options.decode_steps));
  }
  if (!options.html_path.empty() && options.mesh.size() > 1) {
    throw std::invalid_argument("[demo] --html runs on one device, not on mesh " +
                                mesh_name(options.mesh));
  }
  const DemoModel demo = demo_model(options);
  const LlamaConfig& config = demo.config;
  const std::vector<std::int64_t> prompt_ids = demo_prompt(options, demo);
  const auto prompt_tokens = static_cast<std::int64_t>(prompt_ids.size());
  if (prompt_tokens < 1) throw std::invalid_argument("[demo] the prompt is empty");
  const std::int64_t positions = prompt_tokens + options.decode_steps;
  if (positions > config.max_position_embeddings) {
    throw std::invalid_argument(
        "[demo] the prompt's tokens + --decode-steps = " + std::to_string(positions) +
        " exceed max_position_embeddings " + std::to_string(config.max_position_embeddings) +
        " of " + config.source);
  }

  // Under MPI each process holds one device: the one holding device 0 writes, prints and
  // replays; every process runs the model (the collectives need them all). holds() also refuses
  // a launch whose rank count is not the mesh's device count.
  const bool writer = mesh_transport().holds(options.mesh, 0);
  std::ostream silent(nullptr);
  std::ostream& log = writer ? out : silent;
  ProgressReporter* const progress = writer ? options.progress : nullptr;

  namespace fs = std::filesystem;
  std::optional<LockFile> lock;
  if (writer) {
    std::error_code error;
    fs::create_directories(options.out_dir, error);
    if (error) {
      throw std::runtime_error("[demo] cannot create the output directory " + options.out_dir +
                               ": " + error.message());
    }
    lock.emplace(lock_output_directory(options.out_dir));
    if (!options.html_path.empty() && !std::ofstream(options.html_path, std::ios::app)) {
      throw std::runtime_error("[demo] --html " + options.html_path + ": cannot write");
    }
  }
  DemoResult result;
  result.wrote_outputs = writer;
  result.trace_path = (fs::path(options.out_dir) / "trace.h5").string();
  result.report_json_path = (fs::path(options.out_dir) / "report.json").string();
  result.report_xml_path = (fs::path(options.out_dir) / "report.xml").string();
  result.config_dump_path = (fs::path(options.out_dir) / "config.json").string();

  const CausalLmSpec& spec = config.spec;
  const AttentionSpec& attention = spec.layers.front().attention;
  const std::string preset =
      options.preset.has_value() ? std::string(preset_name(*options.preset)) : "default";
  log << "ttt demo: a Llama-style model (" << config.source << ")\n"
      << "  " << spec.layers.size() << " layers, hidden " << spec.embedding.hidden_dim << ", ffn "
      << ffn_hidden(spec) << ", " << attention.num_heads << " query / " << attention.kv_heads()
      << " key-value heads of " << attention.dim_per_head() << ", rope theta "
      << attention.rope.theta << " (" << rope_scaling_name(attention.rope.scaling) << "), vocab "
      << spec.embedding.vocab_size << ", "
      << (demo.directory.has_value() ? "learned weights (" + demo.directory->path + ", " +
                                           demo.directory->weights_hash + ")"
                                     : "seeded weights (seed " + std::to_string(options.seed) + ")")
      << "\n"
      << "  device " << device_name(options.device) << ", preset " << preset << ", prompt "
      << prompt_tokens << " tokens, " << options.decode_steps << " decode steps\n";
  if (options.mesh.size() > 1) {
    log << "  mesh " << mesh_name(options.mesh) << " (" << options.mesh.rows << "x"
        << options.mesh.cols << "): attention heads, MLP and vocabulary split over "
        << options.mesh.axis_size(default_tp_axis(options.mesh)) << " devices (axis "
        << default_tp_axis(options.mesh) << "), norms and embedding replicated; "
        << mesh_transport().name() << " transport\n";
  }

  ValidationEverywhere validation;
  const LlamaModel built = build_demo_model(options, demo);
  const CausalLm& model = built.model;
  const nlohmann::json config_dump = demo_dump(options, config, model, prompt_tokens);
  if (writer) {
    std::ofstream dump_file(result.config_dump_path);
    dump_file << config_dump.dump(2) << "\n";
    if (!dump_file.flush()) {
      throw std::runtime_error("[demo] cannot write " + result.config_dump_path);
    }
  }

  const Tensor prompt = Tensor::from_int64({1, prompt_tokens}, prompt_ids);
  result.prompt = prompt_ids;

  const std::int64_t mark = validation_registry().next_sequence();
  const auto model_start = Clock::now();
  {
    TraceOptions trace_options;
    trace_options.meta_json = nlohmann::json{
        {"model", "llama (ttt demo)"},
        {"config", config.source},
        {"device", device_name(options.device)},
        {"mesh", mesh_name(options.mesh)},
        {"preset", preset},
        {"seed", options.seed}}.dump();
    trace_options.config_json = config_dump.dump();
    std::optional<ScopedTrace> trace;
    if (writer) {
      trace.emplace(result.trace_path, trace_options);
      register_weights(model, trace->session());
    }

    CausalLmCache cache = model.make_cache(1, positions);
    log << "\nprefill of " << prompt_tokens << " tokens and " << options.decode_steps
        << " decode steps, every block call validated and captured to " << result.trace_path
        << " ...\n";
    const auto steps = static_cast<std::size_t>(1 + options.decode_steps);
    const Tensor logits = model.prefill(prompt, cache);
    if (progress != nullptr) {
      progress->step("model run", 1, steps,
                     "prefill of " + std::to_string(prompt_tokens) + " tokens");
    }
    std::int64_t next = argmax_tokens(logits).data<std::int64_t>()[prompt_tokens - 1];
    for (std::int64_t step = 0; step < options.decode_steps; ++step) {
      result.generated.push_back(next);
      const Tensor ids = Tensor::from_int64({1}, {next});
      const Tensor at = Tensor::from_int64({1}, {prompt_tokens + step});
      next = argmax_tokens(model.decode(ids, at, cache)).data<std::int64_t>()[0];
      if (progress != nullptr) {
        progress->step("model run", static_cast<std::size_t>(step) + 2, steps,
                       "decode step " + std::to_string(step + 1));
      }
    }
    // Closed here, not by the guard's destructor (which can only print): a trace that could not
    // be finished, or that was deleted or replaced while the model ran, fails the demo.
    if (trace.has_value()) {
      trace->session().close();
      if (const auto capture_error = trace->session().error()) {
        throw std::runtime_error("[demo] capturing " + result.trace_path + ": " + *capture_error);
      }
    }
  }
  result.model_seconds = seconds_since(model_start);
  log << "generated tokens: " << token_list(result.generated) << "\n";
  if (demo.directory.has_value() && demo.directory->tokenizer.has_value()) {
    const ByteTokenizer& tokenizer = *demo.directory->tokenizer;
    log << "prompt text:    " << quoted_text(tokenizer.decode(result.prompt)) << "\n"
        << "generated text: " << quoted_text(tokenizer.decode(result.generated)) << "\n";
  }
  result.degenerate = check_degenerate_output(result.generated);
  log << "output check: " << result.degenerate.summary << "\n";

  const std::vector<ValidationRecord> records =
      validation_registry().records({.min_sequence = mark});
  result.validation = summarize(records);
  if (!writer) return result;
  ReportOptions report_options;
  report_options.color = options.color;
  report_options.junit_suite_name = "ttt.demo";
  out << "\n== Validation report (" << records.size() << " calls, "
      << seconds_text(result.model_seconds) << " with validation and capture) ==\n"
      << render_console_report(records, report_options);
  write_report(result.report_json_path, records, ReportFormat::json, report_options);
  write_report(result.report_xml_path, records, ReportFormat::junit, report_options);
  out << "\nwrote " << result.trace_path << " (" << megabytes(fs::file_size(result.trace_path))
      << "), " << result.report_json_path << ", " << result.report_xml_path << ", "
      << result.config_dump_path << "\n";

  out << "\n== Offline replay of " << result.trace_path << " (device now against "
      << (options.replay_against == ReplayAgainst::captured ? "the captured outputs"
          : options.replay_against == ReplayAgainst::reference
              ? "the reference run now"
              : "the reference run now and the captured outputs")
      << ") ==\n";
  const auto replay_start = Clock::now();
  const TraceReader reader = TraceReader::open(result.trace_path);
  ReplayOptions replay_options;
  replay_options.against = options.replay_against;
  if (options.progress != nullptr) {
    replay_options.on_call_done = [&](std::size_t done, std::size_t total,
                                      const ReplayedCall& call) {
      options.progress->step("replay", done, total, call.name);
    };
  }
  // The replay is offline, in this process alone: every device in process, whatever transport
  // ran the model.
  const ScopedMeshTransport in_process(in_process_transport());
  const ReplayReport replay = replay_trace(reader, replay_options);
  result.replay_seconds = seconds_since(replay_start);
  result.replay = replay.summary;
  for (const ReplayedCall& call : replay.calls) {
    if (call.status == ReplayStatus::fail) {
      out << "FAIL " << call.seq << " " << call.name << ": " << call.message << "\n";
    }
  }
  out << format_replay_summary(replay) << "replayed in " << seconds_text(result.replay_seconds)
      << "\n";

  if (demo.golden.has_value()) {
    out << "\n== Token accuracy against " << demo.golden_path
        << " (teacher forced, not validated; one device) ==\n";
    TokenAccuracyOptions accuracy_options;
    accuracy_options.device = options.device;
    accuracy_options.preset = options.preset;
    result.token_accuracy = run_token_accuracy(*demo.directory, *demo.golden, accuracy_options);
    out << format_token_accuracy(*result.token_accuracy, *demo.golden, demo.directory->tokenizer);
  }

  if (!options.html_path.empty()) {
    write_demo_html(options, demo, result);
    out << "\nwrote " << options.html_path
        << " (the HTML report: isolated and accumulated error per layer and per call)\n";
  }

  out << "\n"
      << (result.passed() ? "PASS" : "FAIL") << ": " << result.validation.passed << "/"
      << result.validation.calls << " validated calls passed; replay " << result.replay.passed
      << " passed, " << result.replay.failed << " failed, " << result.replay.skipped
      << " skipped\n";
  return result;
}

}  // namespace ttt::llama
