// Suites: block tests with accuracy expectations and latency budgets, run as one unit, with
// results a gate can compare and a composer can add up into model expectations (docs/suites.md).
//
//   ttt::Suite suite("llama-3.1-8b", {.seed = 1234});
//   suite.add_case(wrapped_mlp)                        // a ttt::compare_to_reference callable
//       .with_inputs({{"x", x}})
//       .expect_pcc(0.99)
//       .expect_perf({.p = 0.9, .latency_ms = 5.0});
//   suite.add_case(ttt::module_case(model.layer(3), "ffn", ttt::Mode::decode))
//       .with_inputs_from(generate)                    // inputs captured from a short generation
//       .expect_pcc(0.99);
//   ttt::RunResults results = suite.run();
//
// Before running, the suite checks that every case is complete (it can run a reference, it has
// inputs, it has at least one expectation) and throws SuiteDefinitionError listing every problem
// at once. Each selected case then gets its inputs, compares device and reference once (metrics
// per output), runs warm-up repetitions and at least kMinRepetitions timed ones, and judges each
// expectation. A failed expectation is a result, not an exception.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "suites/suite/results.h"
#include "suites/suite/timing.h"
#include "validation/metrics/metrics.h"
#include "validation/tensor/tensor.h"
#include "validation/wrapper/compare_to_reference.h"

namespace ttt {

// The inputs of one case: tensors by name (as the block registry's replayers name them: "x",
// "w_gate", "k_cache", "w_up/0") and scalar arguments ("first_slot").
struct CaseInputs {
  std::vector<NamedTensor> tensors;
  nlohmann::json scalars = nlohmann::json::object();

  // The tensor called `name`. Throws std::invalid_argument "missing input 'x' (have: ...)".
  const Tensor& tensor(std::string_view name) const;
  // Whether a tensor called `name` is present.
  bool has(std::string_view name) const;
};

// Shapes of seeded inputs. Which fields a case uses depends on its mode and block.
struct CaseShapes {
  std::int64_t batch = 1;        // Users. REQUIRES: >= 1.
  std::int64_t seq_len = 0;      // Prefill: tokens per user. REQUIRES: >= 1 in prefill.
  std::int64_t context_len = 0;  // Decode attention: past positions per user (the new token
                                 // sits at this position). REQUIRES: >= 0.
  bool operator==(const CaseShapes&) const = default;
};

// {"batch": 1, "seq_len": 128} with the fields the mode uses.
nlohmann::json to_json(const CaseShapes& shapes);

// How seeded inputs are drawn (docs/suites.md "Seeded inputs"): activations normal(0,
// activation_std), weight matrices and biases normal(0, weight_std), norm scales normal(1,
// weight_std) (normal(0, weight_std) for Gemma's 1 + weight), token ids uniform over the
// vocabulary, KV-cache entries normal(0, 1) in the cache's format. Each tensor's seed derives from
// the suite seed, the case id and the input's name.
struct SeededInputs {
  double activation_std = 1.0;  // REQUIRES: > 0.
  double weight_std = 0.02;     // Hugging Face's initializer_range. REQUIRES: > 0.
  // An edge regime the block kind declares (BlockKind::edge_regimes, docs/testing.md "Edge
  // regimes"), applied to the drawn inputs: "near_zero_rows", ...; "" for none.
  std::string regime;
  bool operator==(const SeededInputs&) const = default;
};

// What a target tells the results about itself.
struct CaseDescription {
  std::string kind;        // Block kind ("gated_mlp", "attention.decode"), "module" or "wrapped".
  std::string mode;        // "prefill", "decode" or "" (unknown).
  std::string identity;    // The Spec's identity string; "" when unknown.
  std::string default_id;  // The case id when the case is not named.
  std::string module;      // The model module it stands for ("layers.*.ffn"); "" when none.
  std::string call;        // The call name whose inputs with_inputs_from captures.
  nlohmann::json spec = nlohmann::json::object();
  nlohmann::json impl_config = nlohmann::json::object();
  std::string preset;
  std::string device;
};

// The fingerprint of a case of a registered block kind run with `shapes` (blocks/common/
// block_kind.h fingerprint_of); unset for a module or wrapped case, or an unknown mode.
std::optional<Fingerprint> case_fingerprint(const CaseDescription& description,
                                            const CaseShapes& shapes);

// A target bound to one case's inputs.
struct BoundCase {
  // Runs the device and the reference once and compares every output (named as the device
  // outputs). Throws when an output exists on one side only or a computation throws.
  std::function<std::vector<OutputResult>(const MetricsOptions&)> check = nullptr;
  // Runs the device computation once (a timed repetition).
  std::function<void()> run_device = nullptr;
};

// What a case runs: a block kind of the registry (block_case), a module of a pattern
// (module_case), or a compare_to_reference callable (Suite::add_case). Implement it to test
// anything else.
class CaseTarget {
 public:
  virtual ~CaseTarget() = default;
  virtual CaseDescription describe() const = 0;
  // Why the target cannot run (no reference, an unknown block kind); empty when it can.
  virtual std::vector<std::string> problems() const { return {}; }
  // Draws seeded inputs, or returns nullopt when the target cannot (then a case needs given,
  // captured or traced inputs).
  virtual std::optional<CaseInputs> seeded_inputs(const CaseShapes& shapes,
                                                  const SeededInputs& seeded,
                                                  std::uint64_t seed) const;
  // Whether seeded_inputs() can draw inputs.
  virtual bool can_seed() const { return false; }
  // Binds `inputs`. Throws std::invalid_argument naming what does not fit.
  virtual BoundCase bind(const CaseInputs& inputs) const = 0;
};

// A callable run once per suite run, whatever number of cases take inputs from it: every case
// that names it captures the inputs of its own call (with_inputs_from).
class InputCapture {
 public:
  explicit InputCapture(std::function<void()> run) : run_(std::move(run)) {}
  const std::function<void()>& function() const { return run_; }

 private:
  std::function<void()> run_;
};

// Which call a case takes its inputs from.
struct CaptureOptions {
  // The call's name; "" uses the target's call name (module_case: "layers.3.ffn.decode"; a
  // wrapped callable: its name). Block cases need it.
  std::string call = "";
  // Which of the calls with that name, from 0 in call order.
  std::int64_t call_index = 0;  // REQUIRES: >= 0.
};

// Inputs read from a call of an HDF5 trace file (validation/trace).
struct TraceInputs {
  std::string file = "";
  std::string call = "";        // The call's name.
  std::int64_t call_index = 0;  // Which of the calls with that name.
};

// Thrown by Suite::run and Suite::validate when cases are incomplete or ids repeat; what()
// lists every problem, one per line.
class SuiteDefinitionError : public std::invalid_argument {
 public:
  SuiteDefinitionError(const std::string& suite, std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// How a suite runs. Every field has a default.
struct SuiteOptions {
  // Seeds every seeded input (with the case id and the input name). Default: 0.
  std::uint64_t seed = 0;
  // Stop at the first case that fails or errs; later cases are reported as not_run.
  bool fail_fast = false;
  // Untimed repetitions before the timed ones (weights are prepared by the accuracy check
  // before them). REQUIRES: >= 0. Default: 2.
  int warmup = 2;
  // Timed repetitions. REQUIRES: >= kMinRepetitions. Default: kMinRepetitions (9).
  int repetitions = kMinRepetitions;
  // false: accuracy only (ttt suite calibrate): no warm-up or timed repetitions, no latency
  // verdict, results without timing. Default: true.
  bool timing = true;
  // Evict the caches before every repetition (time_repetitions), so that a block is timed as it
  // runs inside a model, where the blocks before it evicted its weights. Default: on.
  bool cold_caches = true;
  // Which cases run: a filter of switches.h (comma-separated globs, '-' excludes) matched
  // against the case id and against "<suite>/<case id>". Default: all.
  std::string filter = "*";
  // Only cases tagged with every one of these ("quick"), and none of `exclude_tags`.
  std::vector<std::string> require_tags{};
  std::vector<std::string> exclude_tags{};
  // Which share of the selected cases runs (docs/suites.md "Sharding").
  Shard shard{};
  // What compute_metrics computes. Default: quantiles, no histogram.
  MetricsOptions metrics = without_histogram();
  // Called after each case that ran, with (cases done, cases selected in this suite, the case):
  // progress display. Default: none.
  std::function<void(std::size_t, std::size_t, const CaseResult&)> on_case_done = nullptr;
};

class Suite;

// One case being defined: every method returns the case, so calls chain.
class SuiteCase {
 public:
  // The case id (unique in the suite; default: the target's default id).
  SuiteCase& named(std::string id);
  // Inputs given directly (names as the target's inputs).
  SuiteCase& with_inputs(std::vector<NamedTensor> tensors,
                         nlohmann::json scalars = nlohmann::json::object());
  // Seeded inputs of these shapes (targets that can draw them: block_case, module_case).
  SuiteCase& with_seeded_inputs(CaseShapes shapes, SeededInputs seeded = {});
  // Inputs captured while `run` runs (a short generation of the model the target belongs to):
  // the inputs of call options.call_index of the target's call (or options.call). `run` runs
  // once per Suite::run for every case given the same InputCapture.
  SuiteCase& with_inputs_from(std::shared_ptr<const InputCapture> capture,
                              CaptureOptions options = {});
  SuiteCase& with_inputs_from(std::function<void()> run, CaptureOptions options = {});
  // Inputs of a call read from a trace file.
  SuiteCase& with_inputs_from_trace(TraceInputs trace);

  // Accuracy expectations on every output (device against reference).
  SuiteCase& expect_pcc(double minimum);
  SuiteCase& expect_max_abs_error(double maximum);
  SuiteCase& expect_nmse(double maximum);
  // Any thresholds: merged over those already set (Tolerances::merged).
  SuiteCase& expect_accuracy(const Tolerances& tolerances);
  // A latency budget (LatencyBudget::validate() is checked when the suite runs).
  SuiteCase& expect_perf(LatencyBudget budget);
  // A budget in device time per topology (docs/cost-model.md "Budgets in device time"): the
  // call's predicted time. REQUIRES (checked by validate): seeded inputs and a block kind in
  // prefill or decode, topologies that can run the call.
  SuiteCase& expect_device_time(DeviceTimeBudget budget);

  // Times the case occurs in one model forward, for composition (docs/suites.md). Default: 0.
  SuiteCase& occurs(std::int64_t times);
  // The model module the case stands for ("layers.*.ffn"); default: the target's.
  SuiteCase& as_module(std::string module);
  // Free-form labels kept in the results ("quick").
  SuiteCase& tagged(std::vector<std::string> tags);
  // The case runs one of `shards` equal shards of the vocabulary (an LM head or embedding whose
  // Spec holds vocab_size / shards): kept in the results, so that coverage counts the case as
  // the whole configuration it stands for (docs/coverage.md "Vocabulary shards"). Default: 1.
  SuiteCase& vocab_shard_of(std::int64_t shards);
  // Per-case warm-up and repetitions (default: the suite's).
  SuiteCase& timing(int warmup, int repetitions);

  // The id the case will have.
  const std::string& id() const;
  const std::vector<std::string>& tags() const { return tags_; }
  const CaseTarget& target() const { return *target_; }
  const Expectations& expectations() const { return expectations_; }

 private:
  friend class Suite;
  explicit SuiteCase(std::shared_ptr<const CaseTarget> target);

  std::shared_ptr<const CaseTarget> target_;
  CaseDescription description_;
  std::string id_;
  std::optional<CaseInputs> given_;
  std::optional<std::pair<CaseShapes, SeededInputs>> seeded_;
  std::shared_ptr<const InputCapture> capture_;
  CaptureOptions capture_options_;
  std::optional<TraceInputs> trace_;
  Expectations expectations_;
  std::int64_t occurrences_ = 0;
  std::int64_t vocab_shards_ = 1;
  std::vector<std::string> tags_;
  std::optional<int> warmup_;
  std::optional<int> repetitions_;
};

class Suite {
 public:
  explicit Suite(std::string name, SuiteOptions options = {});

  // Adds a case running `target`. The reference stays valid as long as the suite.
  SuiteCase& add_case(std::shared_ptr<const CaseTarget> target);
  // Adds a case running a ttt::compare_to_reference callable: accuracy comes from the record of
  // one validated call (judged with the case's expectations, not the callable's tolerances),
  // latency from calls with validation off. Every argument of the callable must be a
  // ttt::Tensor: given in argument order by with_inputs; captured ones are ordered by the
  // callable's input names (WrappedCall::input_names).
  template <typename Callable>
  requires requires(const Callable& callable) { callable.name(); }
  SuiteCase& add_case(Callable wrapped);

  const std::string& name() const { return name_; }
  SuiteOptions& options() { return options_; }
  const SuiteOptions& options() const { return options_; }
  std::size_t size() const { return cases_.size(); }
  SuiteCase& case_at(std::size_t index) { return cases_.at(index); }
  const SuiteCase& case_at(std::size_t index) const { return cases_.at(index); }

  // Where the suite came from, for the results (a suite file and its model).
  void set_source(std::string file, std::string model);
  // The mesh the cases run on, for the results ("T3K"; a suite file always sets it).
  void set_mesh(std::string mesh);
  // Mixed into the fingerprint (a suite file adds its whole definition).
  void set_definition(nlohmann::json definition);

  // Every problem that keeps the suite from running, one line each ("case 3 'ffn.decode': no
  // inputs (with_inputs, with_seeded_inputs or with_inputs_from)"); empty when it can run.
  std::vector<std::string> problems() const;
  // Throws SuiteDefinitionError when problems() is not empty.
  void validate() const;
  // FNV-1a over every case's id, description, shapes and expectations, and the definition.
  std::string fingerprint() const;
  // Indices of the cases the filter and the shard select, in order.
  std::vector<std::size_t> selected_cases() const;

  // Validates, captures inputs, runs the selected cases. Throws SuiteDefinitionError before
  // running anything when the suite is incomplete; a failing case is a result.
  SuiteResult run_cases() const;
  // run_cases() with the machine and the time.
  RunResults run() const;
  // Runs the one case at `index` (whatever the filter and shard say), capturing its inputs if it
  // takes them from a callable. Throws SuiteDefinitionError like run_cases().
  CaseResult run_case(std::size_t index) const;

 private:
  friend RunResults run_suites(const std::vector<const Suite*>& suites);
  // Runs the selected cases, or with skip_all reports them all as not_run (fail_fast stopped an
  // earlier suite).
  SuiteResult run_impl(bool skip_all) const;
  // Runs the cases at `indices` (in order).
  SuiteResult run_indices(const std::vector<std::size_t>& indices, bool skip_all) const;

  std::string name_;
  SuiteOptions options_;
  std::deque<SuiteCase> cases_;
  std::string file_;
  std::string model_;
  std::string mesh_;
  nlohmann::json definition_ = nullptr;
};

// Runs `suites` one after another (each with its own options) into one RunResults; fail_fast of
// a suite stops the suites after it too.
RunResults run_suites(const std::vector<const Suite*>& suites);

// ---------------------------------------------------------------------------------------------
// Implementation.

namespace suite_detail {

// Sees every output pair compare_outputs compares on this thread while it is in scope (ttt
// suite calibrate injects faults into the device outputs there). Not nested.
class ScopedOutputObserver {
 public:
  using Observer = std::function<void(const NamedTensor& device, const Tensor& reference)>;
  explicit ScopedOutputObserver(Observer observer);
  ~ScopedOutputObserver();
  ScopedOutputObserver(const ScopedOutputObserver&) = delete;
  ScopedOutputObserver& operator=(const ScopedOutputObserver&) = delete;
};

// Compares device and reference outputs by name.
std::vector<OutputResult> compare_outputs(const std::vector<NamedTensor>& device,
                                          const std::vector<NamedTensor>& reference,
                                          const MetricsOptions& options);

// The part of a wrapped-callable case that does not depend on the callable's type.
struct WrappedCall {
  std::string name;
  // The callable's argument names, when it tells them (an input_names() member); captured inputs
  // are put in this order. Otherwise "arg0", "arg1", ... are ordered by index and other names
  // keep the order they come in.
  std::vector<std::string> input_names;
  // Calls the callable once with `inputs`' tensors in order.
  std::function<void(const std::vector<NamedTensor>& inputs)> call;
  std::size_t arity = 0;
};
std::shared_ptr<const CaseTarget> make_wrapped_target(WrappedCall call);

template <typename Signature>
struct WrappedArity;
template <typename R, typename... Args>
struct WrappedArity<R(Args...)> {
  static constexpr std::size_t value = sizeof...(Args);
  static constexpr bool all_tensors = (std::is_same_v<std::remove_cvref_t<Args>, Tensor> && ...);
  template <typename Callable, std::size_t... I>
  static void call(const Callable& callable, const std::vector<NamedTensor>& inputs,
                   std::index_sequence<I...>) {
    callable(inputs[I].tensor...);
  }
};

}  // namespace suite_detail

template <typename Callable>
requires requires(const Callable& callable) { callable.name(); }
SuiteCase& Suite::add_case(Callable wrapped) {
  using Signature = detail::callable_signature<Callable>;
  static_assert(Signature::known,
                "ttt::Suite::add_case: the callable has no single call signature");
  using Arity = suite_detail::WrappedArity<typename Signature::type>;
  static_assert(Arity::all_tensors,
                "ttt::Suite::add_case: every argument of a wrapped callable must be a ttt::Tensor; "
                "wrap other signatures in a CaseTarget");
  suite_detail::WrappedCall call;
  call.name = wrapped.name();
  if constexpr (requires { wrapped.input_names(); }) {
    for (const auto& name : wrapped.input_names()) call.input_names.emplace_back(name);
  }
  call.arity = Arity::value;
  call.call = [callable = std::move(wrapped)](const std::vector<NamedTensor>& inputs) {
    Arity::call(callable, inputs, std::make_index_sequence<Arity::value>{});
  };
  return add_case(suite_detail::make_wrapped_target(std::move(call)));
}

}  // namespace ttt
