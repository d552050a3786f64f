#include "suites/suite/compose.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <variant>

#include "blocks/ffn/activation.h"
#include "models/model.h"
#include "patterns/causal_lm.h"
#include "suites/suite/internal/block_kinds.h"
#include "validation/tensor/random.h"

namespace ttt {
namespace {

using Json = nlohmann::json;

// E[f'(z)^2] / E[f(z)^2] for z ~ N(0, 1): how much activation f multiplies the relative error
// energy of its input, for pre-activations of unit variance (what a normalised branch input
// gives). Midpoint quadrature over [-12, 12]; 1 for ReLU, 1.067 for SiLU, 1.072 for GELU.
double activation_error_gain(Activation activation) {
  constexpr int kSteps = 24000;
  constexpr double kLow = -12.0;
  constexpr double kStep = 24.0 / kSteps;
  constexpr double kH = 1e-5;
  double derivative = 0.0;
  double value = 0.0;
  for (int i = 0; i < kSteps; ++i) {
    const double z = kLow + (i + 0.5) * kStep;
    const double weight = std::exp(-0.5 * z * z);
    const double f = activation_reference(activation, z);
    const double slope =
        (activation_reference(activation, z + kH) - activation_reference(activation, z - kH)) /
        (2.0 * kH);
    derivative += weight * slope * slope;
    value += weight * f * f;
  }
  return derivative / value;
}

// The central gain g of a layer's branch on the relative error of its input (docs/suites.md
// "Error model"): attention 1 (linear in its values; the softmax's own sensitivity is left to the
// band); a plain MLP its activation's gain; a gated MLP, and an MoE's gated experts, one more,
// because the elementwise product of two independent projections of the input adds their
// relative errors.
double branch_error_gain(const CausalLmSpec& spec, const std::string& slot, std::int64_t layer) {
  if (slot != "ffn") return 1.0;
  const FfnSpec& ffn = spec.layers.at(static_cast<std::size_t>(layer)).ffn;
  if (const auto* mlp = std::get_if<MlpSpec>(&ffn)) return activation_error_gain(mlp->activation);
  if (const auto* gated = std::get_if<GatedMlpSpec>(&ffn)) {
    return 1.0 + activation_error_gain(gated->activation);
  }
  return 1.0 + activation_error_gain(std::get<MoeSpec>(ffn).activation);
}

// One module instance of the forward, in order.
struct Instance {
  std::string slot;
  std::int64_t layer = -1;  // -1 for model-level modules.
  std::string name() const {
    return layer < 0 ? slot : "layers." + std::to_string(layer) + "." + slot;
  }
};

// The forward's module instances in call order (modules the model has).
std::vector<Instance> forward_instances(const CausalLmSpec& spec, Mode mode) {
  std::vector<Instance> instances{{"embedding", -1}};
  if (spec.embedding_norm) instances.push_back({"embedding_norm", -1});
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const auto layer = static_cast<std::int64_t>(i);
    for (const char* slot : {"attention_norm", "attention", "post_attention_norm", "ffn_norm",
                             "ffn", "post_ffn_norm"}) {
      if (!module_block_kind(spec, slot, layer, mode).empty()) instances.push_back({slot, layer});
    }
  }
  instances.push_back({"norm", -1});
  instances.push_back({"lm_head", -1});
  return instances;
}

double statistic_of(const TimingStats& stats, const std::string& statistic) {
  if (statistic == "p50") return stats.p50;
  if (statistic == "min") return stats.min;
  if (statistic == "mean") return stats.mean;
  throw std::invalid_argument("[compose] unknown statistic '" + statistic +
                              "' (expected p50, min or mean)");
}

// The worst (largest) NMSE over a case's outputs and the energy of that output.
std::pair<double, double> error_of(const CaseResult& result) {
  double nmse = 0.0;
  double energy = 0.0;
  for (const OutputResult& output : result.outputs) {
    if (output.metrics.nmse >= nmse) {
      nmse = output.metrics.nmse;
      energy = output.reference_rms * output.reference_rms;
    }
  }
  return {nmse, energy};
}

// The NMSE of rounding normal values to `dtype` once: what every residual addition adds.
double rounding_nmse(DType dtype) {
  const Tensor values = random_normal({1 << 16}, /*seed=*/0x5eed, 0.0, 1.0);
  const Tensor rounded = values.to(dtype).to(DType::float32);
  MetricsOptions options;
  options.quantiles = false;
  options.histogram = false;
  return compute_metrics(rounded, values, options).nmse;
}

// A case the composition uses for one instance.
struct Chosen {
  const SuiteFileCase* definition = nullptr;
  const CaseResult* result = nullptr;
  double latency_scale = 1.0;
  std::string scaling;
  double nmse = 0.0;    // The block's fresh error in the model.
  double energy = 0.0;  // Mean square of its output.
  std::string nmse_note;
};

std::string preset_text(const std::optional<Preset>& preset) {
  return preset ? std::string(preset_name(*preset)) : std::string();
}

class Composer {
 public:
  Composer(const SuiteFile& suite, const std::map<std::string, const CaseResult*>& results,
           const ComposeOptions& options, const CausalLmSpec& spec)
      : suite_(suite), results_(results), options_(options), spec_(spec) {}

  std::vector<const SuiteFileCase*> cases_of(Mode mode) const {
    std::vector<const SuiteFileCase*> cases;
    for (const SuiteFileCase& c : suite_.cases) {
      if (!c.module || c.mode != mode || c.occurrences == 0) continue;
      if (preset_text(c.preset) != preset_text(options_.preset)) continue;
      if (c.trace || c.shapes.batch != options_.batch) continue;
      cases.push_back(&c);
    }
    return cases;
  }

  std::optional<ModePrediction> predict(Mode mode) {
    const std::vector<const SuiteFileCase*> cases = cases_of(mode);
    if (cases.empty()) return std::nullopt;
    ModePrediction prediction;
    prediction.mode = mode;
    prediction.batch = options_.batch;
    if (mode == Mode::prefill) prediction.seq_len = pick_seq_len(cases);
    if (mode == Mode::decode) prediction.context_len = pick_context_len(cases);

    std::map<std::string, std::size_t> row_of_case;
    std::vector<std::pair<Instance, Chosen>> walk;
    // Decode attention reads keys and values a prefill rounded into the cache; its seeded decode
    // case holds a cache already exact in the cache format, so the prefill case of the same
    // module (which rounds every key and value it attends to) bounds its error from below.
    const std::vector<const SuiteFileCase*> prefill_cases = cases_of(Mode::prefill);
    ModePrediction prefill_shape;
    prefill_shape.seq_len = prediction.context_len + 1;
    for (const Instance& instance : forward_instances(spec_, mode)) {
      std::optional<Chosen> chosen = choose(cases, instance, mode, prediction);
      if (chosen && mode == Mode::decode && instance.slot == "attention") {
        const std::optional<Chosen> prefill =
            choose(prefill_cases, instance, Mode::prefill, prefill_shape);
        if (prefill && prefill->nmse > chosen->nmse) {
          chosen->nmse = prefill->nmse;
          chosen->nmse_note = "NMSE of prefill case '" + prefill->definition->id +
                              "' (keys and values rounded into the cache)";
        }
      }
      if (!chosen) {
        prediction.uncovered.push_back(instance.name());
        continue;
      }
      walk.emplace_back(instance, *chosen);
      const std::string& id = chosen->definition->id;
      auto [found, inserted] = row_of_case.emplace(id, prediction.blocks.size());
      if (inserted) {
        BlockContribution row;
        row.module = chosen->definition->module->module;
        row.case_id = id;
        row.kind = chosen->definition->block;
        row.case_latency_ns = latency_of(*chosen->result);
        row.nmse = chosen->nmse;
        row.output_energy = chosen->energy;
        row.nmse_note = chosen->nmse_note;
        row.scaling = chosen->scaling;
        prediction.blocks.push_back(row);
      }
      BlockContribution& row = prediction.blocks[found->second];
      row.instances += 1;
      row.latency_count += chosen->latency_scale;
    }
    // No instance has a case with a result (the results come from a run filtered to the other
    // mode, say): a sum over nothing (0 ms, PCC 1) would be a figure nobody computed.
    if (walk.empty()) return std::nullopt;
    for (BlockContribution& row : prediction.blocks) {
      row.latency_ns = row.latency_count * row.case_latency_ns;
      prediction.latency_ns += row.latency_ns;
    }
    for (BlockContribution& row : prediction.blocks) {
      row.latency_share = prediction.latency_ns > 0 ? row.latency_ns / prediction.latency_ns : 0.0;
    }
    propagate_errors(walk, row_of_case, prediction);
    return prediction;
  }

 private:
  double latency_of(const CaseResult& result) const {
    if (!result.timing || result.timing->wall_ns.empty()) {
      throw std::invalid_argument("[compose] case '" + result.id + "' has no timing (status " +
                                  std::string(case_status_name(result.status)) + ")");
    }
    return statistic_of(compute_timing_stats(result.timing->of(options_.clock)),
                        options_.statistic);
  }

  std::int64_t pick_seq_len(const std::vector<const SuiteFileCase*>& cases) const {
    if (options_.seq_len > 0) return options_.seq_len;
    std::set<std::int64_t> lengths;
    for (const SuiteFileCase* c : cases) lengths.insert(c->shapes.seq_len);
    if (lengths.size() != 1) {
      throw std::invalid_argument(
          "[compose] the prefill cases have several seq_len values; "
          "choose one with --seq-len");
    }
    return *lengths.begin();
  }

  std::int64_t pick_context_len(const std::vector<const SuiteFileCase*>& cases) const {
    if (options_.context_len >= 0) return options_.context_len;
    std::set<std::int64_t> lengths;
    for (const SuiteFileCase* c : cases) {
      if (is_decode_attention_kind(c->block, c->mode)) lengths.insert(c->shapes.context_len);
    }
    if (lengths.size() > 1) {
      throw std::invalid_argument(
          "[compose] the decode attention cases have several "
          "context_len values; choose one with --context-len");
    }
    return lengths.empty() ? 0 : *lengths.begin();
  }

  std::optional<Chosen> choose(const std::vector<const SuiteFileCase*>& cases,
                               const Instance& instance, Mode mode,
                               const ModePrediction& prediction) const {
    std::vector<const SuiteFileCase*> matching;
    for (const SuiteFileCase* c : cases) {
      if (c->module->slot != instance.slot) continue;
      if (instance.layer >= 0 && std::find(c->module->layers.begin(), c->module->layers.end(),
                                           instance.layer) == c->module->layers.end()) {
        continue;
      }
      const auto found = results_.find(c->id);
      if (found == results_.end() || !found->second->timing || found->second->outputs.empty()) {
        continue;
      }
      matching.push_back(c);
    }
    if (matching.empty()) return std::nullopt;
    // Prefer the exact shape; otherwise the nearest one.
    const auto distance = [&](const SuiteFileCase* c) -> std::int64_t {
      if (mode == Mode::prefill) return std::abs(c->shapes.seq_len - prediction.seq_len);
      if (is_decode_attention_kind(c->block, c->mode)) {
        return std::abs(c->shapes.context_len - prediction.context_len);
      }
      return 0;
    };
    std::stable_sort(
        matching.begin(), matching.end(),
        [&](const SuiteFileCase* a, const SuiteFileCase* b) { return distance(a) < distance(b); });
    if (matching.size() > 1 && distance(matching[0]) == distance(matching[1])) {
      throw std::invalid_argument("[compose] cases '" + matching[0]->id + "' and '" +
                                  matching[1]->id + "' both stand for " + instance.name() + " in " +
                                  std::string(mode_name(mode)) +
                                  "; keep one (\"occurrences\": 0 leaves a case out)");
    }
    Chosen chosen;
    chosen.definition = matching.front();
    chosen.result = results_.at(chosen.definition->id);
    std::tie(chosen.nmse, chosen.energy) = error_of(*chosen.result);
    const SuiteFileCase& c = *chosen.definition;
    if (instance.slot == "lm_head") {
      const auto case_vocab = c.module_spec.at("vocab_size").get<std::int64_t>();
      chosen.latency_scale =
          static_cast<double>(spec_.lm_head.vocab_size) / static_cast<double>(case_vocab);
      if (case_vocab != spec_.lm_head.vocab_size) {
        char text[96];
        std::snprintf(text, sizeof(text), "vocab %lld x %.4g", static_cast<long long>(case_vocab),
                      chosen.latency_scale);
        chosen.scaling = text;
      }
    }
    if (mode == Mode::prefill && c.shapes.seq_len != prediction.seq_len &&
        instance.slot != "embedding") {
      chosen.latency_scale *=
          static_cast<double>(prediction.seq_len) / static_cast<double>(c.shapes.seq_len);
      chosen.scaling += (chosen.scaling.empty() ? "" : ", ") + std::string("seq_len ") +
                        std::to_string(c.shapes.seq_len) + " -> " +
                        std::to_string(prediction.seq_len) + " (linear)";
    }
    if (is_decode_attention_kind(c.block, c.mode) &&
        c.shapes.context_len != prediction.context_len) {
      chosen.scaling = "context_len " + std::to_string(c.shapes.context_len) + " used for " +
                       std::to_string(prediction.context_len) + " (not scaled)";
    }
    return chosen;
  }

  // The error model of docs/suites.md: walks the residual stream, adding each block's fresh error
  // weighted by its output energy, for the three gains.
  void propagate_errors(const std::vector<std::pair<Instance, Chosen>>& walk,
                        const std::map<std::string, std::size_t>& row_of_case,
                        ModePrediction& prediction) const {
    const DecoderLayerImplConfig layer_config =
        spec_.layers.empty()
            ? DecoderLayerImplConfig{}
            : default_impl_config(spec_.layers.front(), suite_.device, prediction.mode);
    const double rounding = rounding_nmse(layer_config.residual_dtype);
    prediction.residual_rounding_nmse = rounding;
    // The band: every branch's gain at 0 (errors travel the residual path only), at its central
    // value (branch_error_gain), and one above it.
    double error[3] = {0, 0, 0};  // Absolute error energy in the stream, per band edge.
    double stream = 0.0;          // Energy of the residual stream.
    std::vector<double> contribution(prediction.blocks.size(), 0.0);
    double head_nmse = 0.0;  // Final norm and LM head: relative errors on the whole signal.

    // One branch (a layer's attention or FFN path): the energy it adds and the fresh error
    // energy of each of its blocks.
    struct Branch {
      double energy = 0.0;
      double gain = 1.0;  // Central gain on the stream's earlier error.
      std::vector<std::pair<std::size_t, double>> nmse_by_row;
      bool open = false;
    } branch;
    const auto close_branch = [&] {
      if (!branch.open) return;
      const double before = stream;
      stream += branch.energy;
      double fresh = 0.0;
      for (const auto& [row, nmse] : branch.nmse_by_row) {
        fresh += nmse * branch.energy;
        if (stream > 0) contribution[row] += nmse * branch.energy / stream;
      }
      fresh += rounding * stream;
      const double gains[3] = {0.0, branch.gain, branch.gain + 1.0};
      for (int g = 0; g < 3; ++g) {
        const double growth = before > 0 ? (before + gains[g] * branch.energy) / before : 1.0;
        error[g] = error[g] * growth + fresh;
      }
      branch = Branch{};
    };
    for (const auto& [instance, chosen] : walk) {
      const std::size_t row = row_of_case.at(chosen.definition->id);
      const double nmse = chosen.nmse;
      const double energy = chosen.energy;
      if (instance.slot == "embedding") {
        stream = energy;
        for (double& e : error) e = nmse * energy;
        contribution[row] += nmse;
        continue;
      }
      if (instance.slot == "embedding_norm") {
        // A norm of the whole stream (BLOOM): the embedding's relative error passes through it and
        // its own adds, on the energy it outputs.
        for (double& e : error) e = (stream > 0 ? e / stream : 0.0) * energy + nmse * energy;
        stream = energy;
        contribution[row] += nmse;
        continue;
      }
      if (instance.slot == "norm" || instance.slot == "lm_head") {
        close_branch();
        head_nmse += nmse;
        contribution[row] += nmse;
        continue;
      }
      const bool starts_branch = instance.slot == "attention_norm" || instance.slot == "ffn_norm";
      if (starts_branch) {
        close_branch();
        branch.open = true;
      }
      // The branch's output energy is that of its last block (attention or ffn, or the post-norm).
      branch.energy = energy;
      if (instance.slot == "attention" || instance.slot == "ffn") {
        branch.gain = branch_error_gain(spec_, instance.slot, instance.layer);
      }
      branch.nmse_by_row.emplace_back(row, nmse);
    }
    close_branch();
    double results[3];
    for (int g = 0; g < 3; ++g) {
      results[g] = (stream > 0 ? error[g] / stream : 0.0) + head_nmse;
    }
    prediction.nmse = results[1];
    prediction.nmse_low = results[0];
    prediction.nmse_high = results[2];
    prediction.pcc = pcc_from_nmse(prediction.nmse);
    prediction.pcc_low = pcc_from_nmse(prediction.nmse_high);
    prediction.pcc_high = pcc_from_nmse(prediction.nmse_low);
    const double total = prediction.nmse > 0 ? prediction.nmse : 1.0;
    for (std::size_t i = 0; i < prediction.blocks.size(); ++i) {
      prediction.blocks[i].nmse_contribution = contribution[i];
      prediction.blocks[i].error_share = contribution[i] / total;
    }
  }

  const SuiteFile& suite_;
  const std::map<std::string, const CaseResult*>& results_;
  const ComposeOptions& options_;
  const CausalLmSpec& spec_;
};

Json prediction_to_json(const ModePrediction& prediction) {
  Json blocks = Json::array();
  for (const BlockContribution& row : prediction.blocks) {
    blocks.push_back({{"module", row.module},
                      {"case", row.case_id},
                      {"kind", row.kind},
                      {"instances", row.instances},
                      {"latency_count", row.latency_count},
                      {"case_latency_ns", row.case_latency_ns},
                      {"latency_ns", row.latency_ns},
                      {"latency_share", row.latency_share},
                      {"nmse", row.nmse},
                      {"output_energy", row.output_energy},
                      {"nmse_contribution", row.nmse_contribution},
                      {"error_share", row.error_share},
                      {"nmse_note", row.nmse_note},
                      {"scaling", row.scaling}});
  }
  return {{"mode", std::string(mode_name(prediction.mode))},
          {"batch", prediction.batch},
          {"seq_len", prediction.seq_len},
          {"context_len", prediction.context_len},
          {"latency_ns", prediction.latency_ns},
          {"nmse", prediction.nmse},
          {"nmse_low", prediction.nmse_low},
          {"nmse_high", prediction.nmse_high},
          {"pcc", prediction.pcc},
          {"pcc_low", prediction.pcc_low},
          {"pcc_high", prediction.pcc_high},
          {"residual_rounding_nmse", prediction.residual_rounding_nmse},
          {"complete", prediction.complete()},
          {"uncovered", prediction.uncovered},
          {"blocks", blocks}};
}

std::string ms(double nanoseconds) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.3f ms", nanoseconds / 1e6);
  return buffer;
}

std::string sci(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.3e", value);
  return buffer;
}

// The reference model's logits for ids [batch, tokens]: every module's reference in float64,
// float32 between modules, the residual additions in float32.
Tensor reference_logits(const CausalLm& model, const Tensor& ids) {
  const CausalLmModules& modules = model.modules();
  const auto add = [](const Tensor& a, const Tensor& b) {
    Tensor sum = a.to(DType::float32);
    const Tensor other = b.to(DType::float32);
    std::span<float> out = sum.mutable_floats();
    const std::span<const float> in = other.floats();
    for (std::size_t i = 0; i < out.size(); ++i) out[i] += in[i];
    return sum;
  };
  Tensor x = modules.embedding->prefill_reference(ids);
  if (modules.embedding_norm) x = modules.embedding_norm->reference(x);
  for (const DecoderLayerModules& layer : modules.layers) {
    Tensor attention = layer.attention->prefill_reference(layer.attention_norm->reference(x));
    if (layer.post_attention_norm) attention = layer.post_attention_norm->reference(attention);
    x = add(x, attention);
    Tensor ffn = layer.ffn->reference(layer.ffn_norm->reference(x));
    if (layer.post_ffn_norm) ffn = layer.post_ffn_norm->reference(ffn);
    x = add(x, ffn);
  }
  return modules.lm_head->reference(modules.norm->reference(x));
}

// Rows [first, first + count) of logits [batch, tokens, vocab], as [batch, count, vocab].
Tensor logits_rows(const Tensor& logits, std::int64_t first, std::int64_t count) {
  const Tensor values = logits.to(DType::float32);
  const std::int64_t batch = values.dim(0);
  const std::int64_t tokens = values.dim(1);
  const std::int64_t vocab = values.dim(2);
  std::vector<float> rows;
  rows.reserve(static_cast<std::size_t>(batch * count * vocab));
  for (std::int64_t b = 0; b < batch; ++b) {
    const float* begin = values.data<float>() + (b * tokens + first) * vocab;
    rows.insert(rows.end(), begin, begin + count * vocab);
  }
  return Tensor::from_floats({batch, count, vocab}, std::move(rows));
}

Json timing_json(const TimingSamples& timing) {
  return {{"warmup", timing.warmup},
          {"wall_ns", timing.wall_ns},
          {"cpu_ns", timing.cpu_ns},
          {"wall", to_json(compute_timing_stats(timing.wall_ns))},
          {"cpu", to_json(compute_timing_stats(timing.cpu_ns))}};
}

}  // namespace

double pcc_from_nmse(double nmse) { return 1.0 / std::sqrt(1.0 + std::max(0.0, nmse)); }

Composition compose(const SuiteFile& suite, const RunResults& results,
                    const ComposeOptions& options) {
  if (!suite.model) {
    throw std::invalid_argument("[compose] " + suite.file +
                                ": the suite names no \"model\" to compose");
  }
  if (options.batch < 1) throw std::invalid_argument("[compose] batch must be >= 1");
  statistic_of(TimingStats{}, options.statistic);
  const SuiteResult* run = nullptr;
  for (const SuiteResult& candidate : results.suites) {
    if (candidate.name == suite.name) run = &candidate;
  }
  if (run == nullptr) {
    throw std::invalid_argument("[compose] the results hold no run of suite '" + suite.name + "'");
  }
  const std::string fingerprint = make_suite(suite).fingerprint();
  if (run->fingerprint != fingerprint) {
    throw std::invalid_argument("[compose] the results of suite '" + suite.name +
                                "' come from another version of " + suite.file + " (fingerprint " +
                                run->fingerprint + ", the file's is " + fingerprint + ")");
  }
  std::map<std::string, const CaseResult*> by_id;
  for (const CaseResult& result : run->cases) by_id.emplace(result.id, &result);

  const CausalLmSpec& model_spec = suite.model->spec;
  const std::int64_t model_layers = static_cast<std::int64_t>(model_spec.layers.size());
  const std::int64_t layers = options.layers > 0 ? options.layers : model_layers;
  const CausalLmSpec spec = slice_spec(model_spec, layers, options.vocab_size);

  Composition composition;
  composition.suite = suite.name;
  composition.model = suite.model->name;
  composition.device = std::string(device_name(suite.device));
  composition.mesh = mesh_name(suite.mesh);
  composition.layers = layers;
  // The whole model, before the suite file's own num_layers / vocab_size: a suite that slices
  // its model predicts a slice, which model targets must not judge as the model.
  const CausalLmSpec whole = load_model(suite.model->name).spec;
  composition.model_layers = static_cast<std::int64_t>(whole.layers.size());
  composition.vocab_size = spec.lm_head.vocab_size;
  composition.model_vocab_size = whole.lm_head.vocab_size;
  composition.preset = preset_text(options.preset);
  composition.clock = std::string(timing_clock_name(options.clock));
  composition.statistic = options.statistic;
  Composer composer(suite, by_id, options, spec);
  composition.prefill = composer.predict(Mode::prefill);
  composition.decode = composer.predict(Mode::decode);
  if (!composition.prefill && !composition.decode) {
    throw std::invalid_argument(
        "[compose] no case of " + suite.file + " stands for a model module with batch " +
        std::to_string(options.batch) + " and preset '" + composition.preset +
        "' and has a result with timing and outputs in the results");
  }
  return composition;
}

Measurement measure_model(const SuiteFile& suite, const Composition& composition,
                          const MeasureOptions& options) {
  if (!suite.model) throw std::invalid_argument("[measure] the suite names no model");
  if (suite.mesh.size() > 1) {
    throw std::invalid_argument("[measure] suite " + suite.name + " runs on mesh " +
                                mesh_name(suite.mesh) +
                                ": --measure runs the model on one device only; compose "
                                "without --measure");
  }
  const CausalLmSpec spec =
      slice_spec(suite.model->spec, composition.layers, composition.vocab_size);
  std::optional<Preset> preset;
  if (!composition.preset.empty()) preset = parse_preset(composition.preset);
  // The seeded weights use the standard deviation of the suite's seeded inputs.
  double weight_std = SeededInputs{}.weight_std;
  for (const SuiteFileCase& c : suite.cases) {
    if (c.module && !c.trace) weight_std = c.seeded.weight_std;
  }
  const std::uint64_t seed = options.seed.value_or(suite.seed);
  PatternOptions pattern;
  pattern.device = std::string(device_name(suite.device));
  pattern.validate = false;
  CausalLm model(make_causal_lm_modules(spec, default_impl_configs(spec, suite.device, preset),
                                        seeded_model_weights(spec, weight_std, seed)),
                 pattern);

  const std::int64_t batch = composition.prefill  ? composition.prefill->batch
                             : composition.decode ? composition.decode->batch
                                                  : 1;
  const std::int64_t seq_len = composition.prefill ? composition.prefill->seq_len : 0;
  const std::int64_t context = composition.decode ? composition.decode->context_len : 0;
  const std::int64_t tokens = std::max(seq_len, context + 1);
  if (spec.embedding.positions != PositionEmbedding::none &&
      tokens > spec.embedding.max_positions) {
    throw std::invalid_argument("[measure] " + std::to_string(tokens) +
                                " positions exceed the model's max_positions");
  }
  const Tensor ids = random_integers({batch, tokens}, seed ^ 0x70ce5, 0, spec.embedding.vocab_size);
  const Tensor reference = reference_logits(model, ids);
  const auto slice_ids = [&](std::int64_t first, std::int64_t count) {
    std::vector<std::int64_t> values;
    for (std::int64_t b = 0; b < batch; ++b) {
      for (std::int64_t t = first; t < first + count; ++t) {
        values.push_back(static_cast<std::int64_t>(ids.at_flat(b * tokens + t)));
      }
    }
    return Tensor::from_int64({batch, count}, std::move(values));
  };
  MetricsOptions metrics;
  metrics.histogram = false;

  const std::int64_t flush_bytes = options.cold_caches ? default_flush_bytes() : 0;
  Measurement measurement;
  CausalLmCache cache = model.make_cache(batch, suite_detail::cache_length(tokens + 1));
  if (composition.prefill) {
    const Tensor prompt = slice_ids(0, seq_len);
    ModeMeasurement prefill;
    prefill.mode = Mode::prefill;
    Tensor logits;
    prefill.timing = time_repetitions([&] { logits = model.prefill(prompt, cache); },
                                      options.warmup, options.repetitions, flush_bytes);
    prefill.logits = compute_metrics(logits, logits_rows(reference, 0, seq_len), metrics);
    measurement.prefill = std::move(prefill);
  }
  if (composition.decode) {
    ModeMeasurement decode;
    decode.mode = Mode::decode;
    if (context > 0) model.prefill(slice_ids(0, context), cache);
    const Tensor token = slice_ids(context, 1).reshape({batch});
    const Tensor positions = suite_detail::uniform_positions(batch, context);
    Tensor logits;
    // Every repetition decodes the same position: it overwrites the same cache entry.
    decode.timing = time_repetitions([&] { logits = model.decode(token, positions, cache); },
                                     options.warmup, options.repetitions, flush_bytes);
    const Tensor expected = logits_rows(reference, context, 1).reshape({batch, reference.dim(2)});
    decode.logits = compute_metrics(logits, expected, metrics);
    measurement.decode = std::move(decode);
  }
  return measurement;
}

bool Comparison::ok() const {
  if (modes.empty()) return false;
  for (const ModeComparison& mode : modes) {
    if (!mode.latency_within || !mode.accuracy_within) return false;
  }
  return true;
}

Comparison compare(const Composition& composition, const Measurement& measurement,
                   double latency_tolerance) {
  if (!(latency_tolerance >= 0.0)) {
    throw std::invalid_argument("[compose] the latency tolerance must be >= 0");
  }
  const TimingClock clock = parse_timing_clock(composition.clock);
  Comparison comparison;
  comparison.latency_tolerance = latency_tolerance;
  const auto add = [&](const std::optional<ModePrediction>& predicted,
                       const std::optional<ModeMeasurement>& measured) {
    if (!predicted || !measured) return;
    ModeComparison row;
    row.mode = predicted->mode;
    row.predicted_ns = predicted->latency_ns;
    row.measured_ns =
        statistic_of(compute_timing_stats(measured->timing.of(clock)), composition.statistic);
    row.latency_error = row.predicted_ns > 0 ? row.measured_ns / row.predicted_ns - 1.0 : 0.0;
    row.latency_within = std::abs(row.latency_error) <= latency_tolerance;
    row.measured_nmse = measured->logits.nmse;
    row.measured_pcc = measured->logits.pcc;
    row.accuracy_within =
        row.measured_nmse >= predicted->nmse_low && row.measured_nmse <= predicted->nmse_high;
    comparison.modes.push_back(row);
  };
  add(composition.prefill, measurement.prefill);
  add(composition.decode, measurement.decode);
  return comparison;
}

nlohmann::json to_json(const Composition& composition) {
  return {{"suite", composition.suite},
          {"model", composition.model},
          {"device", composition.device},
          {"mesh", composition.mesh},
          {"layers", composition.layers},
          {"model_layers", composition.model_layers},
          {"vocab_size", composition.vocab_size},
          {"model_vocab_size", composition.model_vocab_size},
          {"preset", composition.preset},
          {"clock", composition.clock},
          {"statistic", composition.statistic},
          {"prefill", composition.prefill ? prediction_to_json(*composition.prefill) : Json()},
          {"decode", composition.decode ? prediction_to_json(*composition.decode) : Json()}};
}

nlohmann::json to_json(const Measurement& measurement) {
  const auto mode_json = [](const std::optional<ModeMeasurement>& mode) -> Json {
    if (!mode) return nullptr;
    return {{"timing", timing_json(mode->timing)}, {"logits", to_json(mode->logits)}};
  };
  return {{"prefill", mode_json(measurement.prefill)}, {"decode", mode_json(measurement.decode)}};
}

nlohmann::json to_json(const Comparison& comparison) {
  Json modes = Json::array();
  for (const ModeComparison& mode : comparison.modes) {
    modes.push_back({{"mode", std::string(mode_name(mode.mode))},
                     {"predicted_ns", mode.predicted_ns},
                     {"measured_ns", mode.measured_ns},
                     {"latency_error", mode.latency_error},
                     {"latency_within", mode.latency_within},
                     {"measured_nmse", mode.measured_nmse},
                     {"measured_pcc", mode.measured_pcc},
                     {"accuracy_within", mode.accuracy_within}});
  }
  return {{"latency_tolerance", comparison.latency_tolerance},
          {"ok", comparison.ok()},
          {"modes", modes}};
}

std::string format_composition(const Composition& composition, const Comparison* comparison) {
  std::ostringstream out;
  out << "composition of suite " << composition.suite << " for " << composition.model << ": "
      << composition.layers << " of " << composition.model_layers << " layers, vocabulary "
      << composition.vocab_size;
  if (composition.mesh != "N150") out << ", mesh " << composition.mesh;
  if (!composition.preset.empty()) out << ", preset " << composition.preset;
  out << " (" << composition.statistic << " of " << composition.clock << " time)\n";
  for (const Mode mode : {Mode::prefill, Mode::decode}) {
    const std::optional<ModePrediction>* prediction =
        mode == Mode::prefill ? &composition.prefill : &composition.decode;
    if (!*prediction) {
      out << "\nno cases for " << mode_name(mode) << ": not predicted\n";
      continue;
    }
    const ModePrediction& p = **prediction;
    out << "\n" << mode_name(p.mode) << ": batch " << p.batch;
    if (p.mode == Mode::prefill) out << ", " << p.seq_len << " tokens";
    if (p.mode == Mode::decode) out << ", context " << p.context_len;
    out << "\n";
    std::vector<const BlockContribution*> rows;
    for (const BlockContribution& row : p.blocks) rows.push_back(&row);
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto* a, const auto* b) { return a->latency_ns > b->latency_ns; });
    std::size_t width = 6;
    for (const auto* row : rows) width = std::max(width, row->module.size());
    char line[512];
    std::snprintf(line, sizeof(line), "  %-*s  %9s  %12s  %12s  %6s  %10s  %6s  %s\n",
                  static_cast<int>(width), "MODULE", "COUNT", "CASE", "TOTAL", "TIME%", "NMSE",
                  "ERR%", "SCALING");
    out << line;
    for (const auto* row : rows) {
      std::snprintf(line, sizeof(line), "  %-*s  %9.4g  %12s  %12s  %5.1f%%  %10s  %5.1f%%  %s\n",
                    static_cast<int>(width), row->module.c_str(), row->latency_count,
                    ms(row->case_latency_ns).c_str(), ms(row->latency_ns).c_str(),
                    100.0 * row->latency_share, sci(row->nmse).c_str(), 100.0 * row->error_share,
                    row->scaling.c_str());
      out << line;
    }
    for (const auto* row : rows) {
      if (!row->nmse_note.empty()) out << "  " << row->module << ": " << row->nmse_note << "\n";
    }
    out << "  predicted latency " << ms(p.latency_ns) << "; logits NMSE " << sci(p.nmse) << " ["
        << sci(p.nmse_low) << ", " << sci(p.nmse_high) << "], PCC ";
    char pcc[96];
    std::snprintf(pcc, sizeof(pcc), "%.6f [%.6f, %.6f]", p.pcc, p.pcc_low, p.pcc_high);
    out << pcc << "\n";
    if (!p.uncovered.empty()) {
      out << "  INCOMPLETE: no case for " << p.uncovered.size() << " module instance(s):";
      for (std::size_t i = 0; i < p.uncovered.size() && i < 8; ++i) out << " " << p.uncovered[i];
      if (p.uncovered.size() > 8) out << " ...";
      out << "\n";
    }
    if (comparison != nullptr) {
      for (const ModeComparison& row : comparison->modes) {
        if (row.mode != p.mode) continue;
        char text[256];
        std::snprintf(text, sizeof(text),
                      "  measured latency %s (%+.1f%% vs predicted, %s); measured NMSE %.3e, PCC "
                      "%.6f (%s the predicted band)\n",
                      ms(row.measured_ns).c_str(), 100.0 * row.latency_error,
                      row.latency_within ? "within tolerance" : "OUTSIDE tolerance",
                      row.measured_nmse, row.measured_pcc,
                      row.accuracy_within ? "inside" : "OUTSIDE");
        out << text;
      }
    }
  }
  return out.str();
}

}  // namespace ttt
