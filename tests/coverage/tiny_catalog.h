// A two-model catalog and seven hand-made records whose coverage numbers are counted by hand in
// report_test.cc and html_test.cc.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "coverage/catalog/catalog.h"
#include "coverage/record.h"

namespace ttt::testing_coverage {

// "Tiny" (hidden 64) and "Wide" (hidden 128): Llama-like, 14 configurations each, none shared.
// Domains: rms_norm only, over dim (from the catalog: 64, 128), mode, device (N150, T3K) and
// batch (1, 32).
inline Catalog tiny_catalog() {
  const auto llama = [](std::int64_t hidden) {
    return nlohmann::json{{"architectures", {"LlamaForCausalLM"}},
                          {"model_type", "llama"},
                          {"hidden_size", hidden},
                          {"intermediate_size", 2 * hidden},
                          {"num_hidden_layers", 2},
                          {"num_attention_heads", 4},
                          {"num_key_value_heads", 2},
                          {"vocab_size", 100},
                          {"rms_norm_eps", 1e-5},
                          {"max_position_embeddings", 256}};
  };
  const nlohmann::json models = {
      {"models",
       {{{"name", "Tiny"}, {"config", llama(64)}}, {{"name", "Wide"}, {"config", llama(128)}}}}};
  const nlohmann::json domains = {
      {"blocks",
       {{"rms_norm",
         {{"parameters",
           {{{"name", "dim"}, {"field", "spec.dim"}, {"catalog", true}},
            {{"name", "mode"}, {"field", "mode"}, {"values", {"prefill", "decode"}}},
            {{"name", "device"}, {"field", "device"}, {"values", {"N150", "T3K"}}},
            {{"name", "batch"}, {"field", "batch"}, {"values", {1, 32}}}}}}}}}};
  return build_catalog(models, domains, "tiny");
}

inline CoverageRecord norm_record(std::int64_t dim, const std::string& mode,
                                  const std::string& device, Shape x, bool passed) {
  CallObservation call;
  call.source = "suite";
  call.kind = "rms_norm";
  call.mode = mode;
  call.spec = {{"dim", dim}, {"eps", 1e-5}};  // add_unit_offset left to the block's default.
  call.device = device;
  call.inputs = {{"x", std::move(x), DType::bfloat16}};
  call.outcome = passed ? CallObservation::Outcome::passed : CallObservation::Outcome::failed;
  return make_coverage_record(call);
}

// R1  rms_norm 64 prefill N150 batch 1    pass   (Tiny rms_norm prefill)
// R2  rms_norm 64 decode  T3K  batch 32   pass   (Tiny rms_norm decode, on T3K: unmatched)
// R3  gated_mlp 64x128 decode (default)   fail   (Tiny gated_mlp decode bfloat8_b)
// R4  rms_norm 80 prefill N150 batch 1    pass   (no model: unmatched; dim outside the domain)
// R5  my.block                            pass   (no model, no domain)
// R6  rms_norm 64 decode  N150 batch 1    pass   (Tiny rms_norm decode)
// R7  rms_norm 64 prefill T3K  batch 32   pass   (Tiny rms_norm prefill, on T3K: unmatched)
inline std::vector<CoverageRecord> tiny_records() {
  std::vector<CoverageRecord> records;
  records.push_back(norm_record(64, "prefill", "N150", {1, 10, 64}, true));
  records.push_back(norm_record(64, "decode", "T3K", {32, 64}, true));
  CallObservation mlp;
  mlp.source = "wrapper";
  mlp.kind = "gated_mlp";
  mlp.name = "layers.0.ffn.decode";
  mlp.spec = {{"hidden_dim", 64}, {"ffn_dim", 128}, {"activation", "silu"}};
  mlp.device = "N150";
  mlp.inputs = {{"x", {1, 64}, DType::bfloat16}};
  mlp.outcome = CallObservation::Outcome::failed;
  records.push_back(make_coverage_record(mlp));
  records.push_back(norm_record(80, "prefill", "N150", {1, 3, 80}, true));
  CallObservation other;
  other.source = "wrapper";
  other.kind = "my.block";
  other.outcome = CallObservation::Outcome::passed;
  records.push_back(make_coverage_record(other));
  records.push_back(norm_record(64, "decode", "N150", {1, 64}, true));
  records.push_back(norm_record(64, "prefill", "T3K", {32, 7, 64}, true));
  return records;
}

}  // namespace ttt::testing_coverage
