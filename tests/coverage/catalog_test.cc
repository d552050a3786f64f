// The coverage catalog (coverage/catalog/catalog.h): configurations derived from published config
// fields, checked field by field against shared/reference/model_configs.md, the domains, and the
// errors a bad catalog gets.
#include "coverage/catalog/catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <variant>

#include "models/model.h"
#include "tests/common/scratch_dir.h"

namespace ttt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using ::testing::UnorderedElementsAre;

const CatalogModel& model(const std::string& name) {
  const CatalogModel* found = builtin_catalog().find_model(name);
  if (found == nullptr) throw std::runtime_error("no catalog model " + name);
  return *found;
}

// The configurations of `block` in `mode`.
std::vector<const CatalogConfig*> configs(const CatalogModel& m, const std::string& block,
                                          const std::string& mode) {
  std::vector<const CatalogConfig*> found;
  for (const CatalogConfig& config : m.configurations) {
    if (config.block == block && config.mode == mode) found.push_back(&config);
  }
  return found;
}

const CatalogConfig& one(const CatalogModel& m, const std::string& block, const std::string& mode,
                         const std::string& weight_dtype) {
  for (const CatalogConfig* config : configs(m, block, mode)) {
    if (config->weight_dtype == weight_dtype) return *config;
  }
  throw std::runtime_error(m.name + " has no " + block + " " + mode + " " + weight_dtype);
}

const DomainParameter& parameter(const std::string& block, const std::string& name) {
  const BlockDomain& domain = builtin_catalog().domains.at(block);
  for (const DomainParameter& p : domain.parameters) {
    if (p.name == name) return p;
  }
  throw std::runtime_error("no parameter " + name);
}

TEST(Catalog, HoldsEveryModelOfTheReferenceTable) {
  std::vector<std::string> names;
  for (const CatalogModel& m : builtin_catalog().models) names.push_back(m.name);
  EXPECT_THAT(names, ElementsAre("Llama-3.2-1B", "Llama-3.2-3B", "Llama-3.1-8B", "Llama-3.1-70B",
                                 "Mistral-7B-v0.1", "Mixtral-8x7B-v0.1", "Qwen2.5-0.5B",
                                 "Qwen2.5-7B", "Qwen2.5-72B", "DeepSeek-R1-Distill-Qwen-1.5B",
                                 "Qwen3-8B", "Gemma-2-9B", "Phi-3-mini-4k", "StableLM-2-1.6B",
                                 "GPT-2", "BERT-base-uncased", "BLOOM-560m"));
  EXPECT_EQ(builtin_catalog().source, "builtin");
  EXPECT_NE(builtin_catalog().find_model("llama-3.1-8b"), nullptr);  // Case-insensitive.
}

// model_configs.md, Llama-3.1-8B: hidden 4096, ffn 14336, L 32, H 32, KV 8, hd 128, vocab
// 128256, theta 500000, eps 1e-5, untied; SwiGLU; llama3 scaling factor 8, low 1, high 4,
// original 8192; max_position_embeddings 131072.
TEST(Catalog, Llama31_8BFieldByField) {
  const CatalogModel& llama = model("Llama-3.1-8B");
  EXPECT_EQ(llama.architecture, "llama");
  EXPECT_TRUE(llama.unsupported.empty());
  // Embedding, norm, attention x 2 weight formats, gated MLP x 2, LM head; in both modes.
  EXPECT_EQ(llama.configurations.size(), 14u);
  for (const std::string mode : {"prefill", "decode"}) {
    const CatalogConfig& embedding = one(llama, "embedding", mode, "bfloat16");
    EXPECT_EQ(embedding.spec.at("vocab_size"), 128256);
    EXPECT_EQ(embedding.spec.at("hidden_dim"), 4096);
    EXPECT_EQ(embedding.spec.at("scale"), 1.0);
    EXPECT_EQ(embedding.spec.at("positions"), "none");
    EXPECT_EQ(embedding.count, 1);

    const CatalogConfig& norm = one(llama, "rms_norm", mode, "bfloat16");
    EXPECT_EQ(norm.spec.at("dim"), 4096);
    EXPECT_DOUBLE_EQ(norm.spec.at("eps").get<double>(), 1e-5);
    EXPECT_EQ(norm.spec.at("add_unit_offset"), false);
    EXPECT_EQ(norm.count, 2 * 32 + 1);  // Two per layer and the final norm.
    EXPECT_THAT(norm.presets, ElementsAre("default", "accuracy", "performance"));

    ASSERT_EQ(configs(llama, "attention", mode).size(), 2u);
    const CatalogConfig& attention = one(llama, "attention", mode, "bfloat8_b");
    const nlohmann::json& spec = attention.spec;
    EXPECT_EQ(spec.at("hidden_dim"), 4096);
    EXPECT_EQ(spec.at("num_heads"), 32);
    EXPECT_EQ(spec.at("num_kv_heads"), 8);
    EXPECT_EQ(spec.at("head_dim"), 128);
    EXPECT_EQ(spec.at("qkv_bias"), false);
    EXPECT_EQ(spec.at("qk_norm"), false);
    EXPECT_EQ(spec.at("logit_softcap"), 0.0);
    EXPECT_EQ(spec.at("sliding_window"), 0);
    EXPECT_EQ(spec.at("positions"), "rope");
    EXPECT_EQ(spec.at("rope").at("head_dim"), 128);
    EXPECT_EQ(spec.at("rope").at("theta"), 500000.0);
    EXPECT_EQ(spec.at("rope").at("max_position_embeddings"), 131072);
    EXPECT_EQ(spec.at("rope").at("scaling"), "llama3");
    EXPECT_EQ(spec.at("rope").at("factor"), 8.0);
    EXPECT_EQ(spec.at("rope").at("low_freq_factor"), 1.0);
    EXPECT_EQ(spec.at("rope").at("high_freq_factor"), 4.0);
    EXPECT_EQ(spec.at("rope").at("original_max_position_embeddings"), 8192);
    EXPECT_EQ(attention.count, 32);
    EXPECT_THAT(attention.presets, ElementsAre("default", "performance"));
    EXPECT_THAT(one(llama, "attention", mode, "bfloat16").presets, ElementsAre("accuracy"));
    EXPECT_EQ(one(llama, "attention", mode, "bfloat16").impl_config.at("kv_cache_dtype"),
              "bfloat16");
    EXPECT_EQ(attention.impl_config.at("kv_cache_dtype"), "bfloat8_b");

    const CatalogConfig& mlp = one(llama, "gated_mlp", mode, "bfloat8_b");
    EXPECT_EQ(mlp.spec.at("hidden_dim"), 4096);
    EXPECT_EQ(mlp.spec.at("ffn_dim"), 14336);
    EXPECT_EQ(mlp.spec.at("activation"), "silu");
    EXPECT_EQ(mlp.count, 32);
    EXPECT_THAT(mlp.presets, ElementsAre("default", "accuracy"));
    const CatalogConfig& fast_mlp = one(llama, "gated_mlp", mode, "bfloat4_b");
    EXPECT_THAT(fast_mlp.presets, ElementsAre("performance"));
    EXPECT_EQ(fast_mlp.impl_config.at("ff1_ff3").at("fidelity"), "LoFi");

    const CatalogConfig& head = one(llama, "lm_head", mode, "bfloat8_b");
    EXPECT_EQ(head.spec.at("hidden_dim"), 4096);
    EXPECT_EQ(head.spec.at("vocab_size"), 128256);
    EXPECT_EQ(head.spec.at("tied_embeddings"), false);
    EXPECT_EQ(head.spec.at("logit_softcap"), 0.0);
  }
  EXPECT_EQ(one(llama, "gated_mlp", "decode", "bfloat8_b").identity,
            "GATED_MLP(hidden=4096,ffn=14336,act=silu)");
  EXPECT_EQ(one(llama, "rms_norm", "decode", "bfloat16").identity,
            "RMS_NORM(dim=4096,eps=1e-05,offset=0)");
  EXPECT_EQ(one(llama, "rms_norm", "decode", "bfloat16").key(),
            "rms_norm|decode|RMS_NORM(dim=4096,eps=1e-05,offset=0)|bfloat16");
}

// model_configs.md, Gemma-2-9B: hidden 3584, ffn 14336, L 42, H 16, KV 8, hd 256, vocab 256000,
// theta 10000, eps 1e-6, tied; GeGLU (tanh GELU); (1 + weight) norms; embeddings times
// sqrt(hidden); query_pre_attn_scalar 256; softcaps 50 (attention) and 30 (final); window 4096 on
// alternating layers; post-attention and post-FFN norms.
TEST(Catalog, Gemma2_9BFieldByField) {
  const CatalogModel& gemma = model("Gemma-2-9B");
  EXPECT_EQ(gemma.architecture, "gemma2");
  // Embedding, norm, 2 attention kinds x 2 weight formats, gated MLP x 2, LM head; both modes.
  EXPECT_EQ(gemma.configurations.size(), 18u);
  for (const std::string mode : {"prefill", "decode"}) {
    const CatalogConfig& embedding = one(gemma, "embedding", mode, "bfloat16");
    EXPECT_EQ(embedding.spec.at("vocab_size"), 256000);
    EXPECT_EQ(embedding.spec.at("hidden_dim"), 3584);
    EXPECT_NEAR(embedding.spec.at("scale").get<double>(), std::sqrt(3584.0), 1e-12);

    const CatalogConfig& norm = one(gemma, "rms_norm", mode, "bfloat16");
    EXPECT_EQ(norm.spec.at("dim"), 3584);
    EXPECT_DOUBLE_EQ(norm.spec.at("eps").get<double>(), 1e-6);
    EXPECT_EQ(norm.spec.at("add_unit_offset"), true);
    EXPECT_EQ(norm.count, 4 * 42 + 1);

    const std::vector<const CatalogConfig*> attention = configs(gemma, "attention", mode);
    ASSERT_EQ(attention.size(), 4u);
    std::vector<std::int64_t> windows;
    for (const CatalogConfig* config : attention) {
      const nlohmann::json& spec = config->spec;
      EXPECT_EQ(spec.at("hidden_dim"), 3584);
      EXPECT_EQ(spec.at("num_heads"), 16);
      EXPECT_EQ(spec.at("num_kv_heads"), 8);
      EXPECT_EQ(spec.at("head_dim"), 256);
      EXPECT_EQ(spec.at("query_pre_attn_scalar"), 256.0);
      EXPECT_EQ(spec.at("logit_softcap"), 50.0);
      EXPECT_EQ(spec.at("rope").at("theta"), 10000.0);
      EXPECT_EQ(spec.at("rope").at("scaling"), "default");
      EXPECT_EQ(spec.at("rope").at("max_position_embeddings"), 8192);
      EXPECT_EQ(config->count, 21);  // Half of 42 layers each.
      if (config->weight_dtype == "bfloat8_b") {
        windows.push_back(spec.at("sliding_window").get<std::int64_t>());
      }
    }
    EXPECT_THAT(windows, UnorderedElementsAre(4096, 0));

    const CatalogConfig& mlp = one(gemma, "gated_mlp", mode, "bfloat8_b");
    EXPECT_EQ(mlp.spec.at("hidden_dim"), 3584);
    EXPECT_EQ(mlp.spec.at("ffn_dim"), 14336);
    EXPECT_EQ(mlp.spec.at("activation"), "gelu_tanh");

    const CatalogConfig& head = one(gemma, "lm_head", mode, "bfloat8_b");
    EXPECT_EQ(head.spec.at("vocab_size"), 256000);
    EXPECT_EQ(head.spec.at("tied_embeddings"), true);
    EXPECT_EQ(head.spec.at("logit_softcap"), 30.0);
  }
}

TEST(Catalog, ArchitectureSpecificFeatures) {
  // Mixtral: MoE, 8 experts, top-2.
  const CatalogConfig& moe = one(model("Mixtral-8x7B-v0.1"), "moe", "decode", "bfloat8_b");
  EXPECT_EQ(moe.spec.at("num_experts"), 8);
  EXPECT_EQ(moe.spec.at("top_k"), 2);
  EXPECT_TRUE(configs(model("Mixtral-8x7B-v0.1"), "gated_mlp", "decode").empty());
  // Mistral: sliding window 4096; Phi-3-mini-4k: its config.json's 2047, MHA (KV = H), hd 96.
  EXPECT_EQ(
      one(model("Mistral-7B-v0.1"), "attention", "decode", "bfloat8_b").spec.at("sliding_window"),
      4096);
  const nlohmann::json& phi = one(model("Phi-3-mini-4k"), "attention", "decode", "bfloat8_b").spec;
  EXPECT_EQ(phi.at("sliding_window"), 2047);
  EXPECT_EQ(phi.at("num_kv_heads"), 32);
  EXPECT_EQ(phi.at("head_dim"), 96);
  // Qwen2.5: q/k/v biases; Qwen3: per-head q/k norms with rms_norm_eps, no bias.
  EXPECT_EQ(one(model("Qwen2.5-7B"), "attention", "decode", "bfloat8_b").spec.at("qkv_bias"), true);
  const nlohmann::json& qwen3 = one(model("Qwen3-8B"), "attention", "decode", "bfloat8_b").spec;
  EXPECT_EQ(qwen3.at("qk_norm"), true);
  EXPECT_DOUBLE_EQ(qwen3.at("qk_norm_eps").get<double>(), 1e-6);
  EXPECT_EQ(qwen3.at("qkv_bias"), false);
  // GPT-2: LayerNorm, learned positions (1024), biased MHA without RoPE, GELU (tanh) MLP, tied.
  const CatalogModel& gpt2 = model("GPT-2");
  EXPECT_EQ(one(gpt2, "embedding", "decode", "bfloat16").spec.at("positions"), "learned");
  EXPECT_EQ(one(gpt2, "embedding", "decode", "bfloat16").spec.at("max_positions"), 1024);
  EXPECT_EQ(one(gpt2, "layer_norm", "decode", "bfloat16").count, 25);
  const nlohmann::json& gpt2_attention = one(gpt2, "attention", "decode", "bfloat8_b").spec;
  EXPECT_EQ(gpt2_attention.at("positions"), "none");
  EXPECT_EQ(gpt2_attention.at("output_bias"), true);
  EXPECT_EQ(one(gpt2, "mlp", "decode", "bfloat8_b").spec.at("ffn_dim"), 3072);
  EXPECT_EQ(one(gpt2, "mlp", "decode", "bfloat8_b").spec.at("activation"), "gelu_tanh");
  // Llama-3.2-1B is tied with llama3 factor 32.
  const CatalogModel& small = model("Llama-3.2-1B");
  EXPECT_EQ(one(small, "lm_head", "decode", "bfloat8_b").spec.at("tied_embeddings"), true);
  EXPECT_EQ(one(small, "attention", "decode", "bfloat8_b").spec.at("rope").at("factor"), 32.0);
}

// A models.json entry with "unsupported" is a model the model reader cannot map: it is listed with
// those features and needs no configuration. Each such builtin entry's config is refused by the
// reader, so when the reader learns an architecture, this test names the entry to map instead.
TEST(Catalog, ModelsTheReaderCannotMapAreListedWithTheirUnsupportedFeatures) {
  const CatalogModel& bert = model("BERT-base-uncased");
  EXPECT_EQ(bert.architecture, "bert");
  EXPECT_TRUE(bert.configurations.empty());
  ASSERT_EQ(bert.unsupported.size(), 4u);
  EXPECT_THAT(bert.unsupported[0], HasSubstr("bidirectional (encoder) self-attention"));
  EXPECT_THAT(bert.unsupported[3], HasSubstr("causal language models only"));
  // StableLM-2-1.6B (shared/reference/model_configs.md): LayerNorm with bias, RoPE on 16 of 64
  // dimensions (partial_rotary_factor 0.25), q/k/v biases, SwiGLU 5632, 24 layers.
  std::set<std::string> stablelm;
  for (const CatalogConfig& c : model("StableLM-2-1.6B").configurations)
    stablelm.insert(c.identity);
  EXPECT_TRUE(stablelm.contains("LAYER_NORM(dim=2048,eps=1e-05,bias=1)"));
  EXPECT_TRUE(stablelm.contains("GATED_MLP(hidden=2048,ffn=5632,act=silu)"));
  EXPECT_TRUE(stablelm.contains(
      "ATTENTION(hidden=2048,heads=32,kv_heads=32,head_dim=64,positions=rope,rope=ROPE(head_dim=64,"
      "rotary_dim=16,theta=10000,max_pos=4096,scaling=default),qkv_bias=1)"))
      << testing::PrintToString(stablelm);
  // BLOOM-560m (models/catalog/bloom-560m.json) is mapped: its embedding LayerNorm is the same
  // LayerNorm as its 24 layers' two and the final one, so that one configuration counts 50 uses.
  const CatalogModel& bloom = model("BLOOM-560m");
  EXPECT_EQ(bloom.architecture, "bloom");
  EXPECT_TRUE(bloom.unsupported.empty());
  EXPECT_EQ(bloom.config.at("n_layer"), 24);
  const CatalogConfig& bloom_norm = one(bloom, "layer_norm", "decode", "bfloat16");
  EXPECT_EQ(bloom_norm.identity, "LAYER_NORM(dim=1024,eps=1e-05,bias=1)");
  EXPECT_EQ(bloom_norm.count, 50);
  std::size_t declared = 0;
  for (const CatalogModel& m : builtin_catalog().models) {
    if (m.unsupported.empty()) {
      EXPECT_FALSE(m.configurations.empty()) << m.name;
      continue;
    }
    ++declared;
    EXPECT_THROW(model_from_config(m.config, m.name), std::invalid_argument)
        << m.name
        << " is mapped by the model reader now: drop its \"unsupported\" in "
           "models/catalog/catalog.json";
  }
  EXPECT_EQ(declared, 1u);
}

// Coverage measures the model the suites run: each configuration's Spec is the module Spec of the
// CausalLmSpec the model reader gives. A YaRN config with DeepSeek's mscale and truncate false (the
// old coverage mapping refused mscale and ignored truncate, so it described another RoPE than the
// suites ran).
TEST(Catalog, ConfigurationsCarryTheSpecTheSuitesRun) {
  const nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}},
                                 {"model_type", "llama"},
                                 {"hidden_size", 64},
                                 {"intermediate_size", 128},
                                 {"num_hidden_layers", 2},
                                 {"num_attention_heads", 4},
                                 {"num_key_value_heads", 2},
                                 {"vocab_size", 100},
                                 {"rms_norm_eps", 1e-5},
                                 {"max_position_embeddings", 1024},
                                 {"rope_scaling",
                                  {{"rope_type", "yarn"},
                                   {"factor", 4.0},
                                   {"original_max_position_embeddings", 256},
                                   {"mscale", 0.707},
                                   {"mscale_all_dim", 1.0},
                                   {"truncate", false}}}};
  const CatalogModel tiny = derive_model("tiny-yarn", "", JsonNode(config, "test"));
  const CatalogConfig& attention = one(tiny, "attention", "decode", "bfloat8_b");
  const nlohmann::json& rope = attention.spec.at("rope");
  EXPECT_EQ(rope.at("scaling"), "yarn");
  EXPECT_EQ(rope.at("factor"), 4.0);
  EXPECT_EQ(rope.at("original_max_position_embeddings"), 256);
  EXPECT_EQ(rope.at("mscale"), 0.707);
  EXPECT_EQ(rope.at("mscale_all_dim"), 1.0);
  EXPECT_EQ(rope.at("truncate"), false);
  // The same JSON as the suites' Spec of every layer's attention.
  const ModelDefinition suites = model_from_config(config, "test");
  EXPECT_EQ(attention.spec, nlohmann::json(suites.spec.layers[0].attention));
  EXPECT_EQ(attention.count, 2);
  EXPECT_EQ(one(tiny, "rms_norm", "decode", "bfloat16").count, 2 * 2 + 1);
  EXPECT_EQ(one(tiny, "rms_norm", "decode", "bfloat16").spec,
            nlohmann::json(std::get<RmsNormSpec>(suites.spec.norm)));
}

TEST(Catalog, DomainsResolveCatalogValues) {
  const DomainParameter& head_dim = parameter("attention", "head_dim");
  EXPECT_FALSE(head_dim.from_catalog);
  EXPECT_THAT(head_dim.values, ElementsAre(64, 96, 128, 256));
  // Query heads per KV head across the catalog: MHA 1, Gemma 2, Llama-3.2-3B 3, Llama 4,
  // DeepSeek-R1-Distill-Qwen-1.5B 6, Qwen2.5-0.5B/7B 7, Llama-3.1-70B and Qwen2.5-72B 8.
  const DomainParameter& groups = parameter("attention", "group_size");
  EXPECT_TRUE(groups.from_catalog);
  EXPECT_THAT(groups.values, ElementsAre(1, 2, 3, 4, 6, 7, 8));
  // ALiBi's only catalog model is BLOOM-560m.
  EXPECT_THAT(parameter("attention", "positions").values, ElementsAre("alibi", "none", "rope"));
  EXPECT_THAT(parameter("rms_norm", "eps").values, ElementsAre(1e-6, 1e-5));
  // GPT-2's; BERT (1e-12) is an encoder the model reader does not map.
  EXPECT_THAT(parameter("layer_norm", "eps").values, ElementsAre(1e-5));
  EXPECT_THAT(parameter("rms_norm", "add_unit_offset").values, ElementsAre(false, true));
  EXPECT_THAT(parameter("moe", "routing").values, ElementsAre("8/top2"));
  const DomainParameter& dims = parameter("gated_mlp", "dims");
  EXPECT_NE(std::find(dims.values.begin(), dims.values.end(), "4096x14336"), dims.values.end());
  EXPECT_FALSE(parameter("gated_mlp", "hidden_dim").tway);
  EXPECT_THAT(parameter("gated_mlp", "hidden_dim").values,
              ElementsAre(896, 1536, 2048, 3072, 3584, 4096, 8192));
  ASSERT_EQ(builtin_catalog().domains.at("attention").constraints.size(), 2u);
}

TEST(Catalog, DeriveModelErrorsNameTheModelAndField) {
  const nlohmann::json good = {{"architectures", {"LlamaForCausalLM"}},
                               {"model_type", "llama"},
                               {"hidden_size", 64},
                               {"intermediate_size", 128},
                               {"num_hidden_layers", 2},
                               {"num_attention_heads", 4},
                               {"vocab_size", 100},
                               {"rms_norm_eps", 1e-5},
                               {"max_position_embeddings", 256}};
  EXPECT_EQ(derive_model("tiny", "", JsonNode(good, "test")).configurations.size(), 14u);
  // The model reader's refusals, naming the file and the field's JSON Pointer.
  const auto error_of = [](const nlohmann::json& config) {
    try {
      derive_model("tiny", "", JsonNode(config, "models.json", "/models/9/config"));
    } catch (const std::invalid_argument& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  nlohmann::json bad = good;
  bad["hidden_size"] = "wide";
  EXPECT_EQ(error_of(bad),
            "models.json: /models/9/config/hidden_size: expected an integer, got \"wide\"");
  bad = good;
  bad.erase("vocab_size");
  EXPECT_EQ(error_of(bad), "models.json: /models/9/config: missing field 'vocab_size'");
  bad = good;
  bad["hiden_size"] = 64;
  EXPECT_THAT(error_of(bad),
              HasSubstr("models.json: /models/9/config/hiden_size: unknown field 'hiden_size'"));
  bad = good;
  bad["architectures"] = {"RwkvForCausalLM"};
  bad["model_type"] = "rwkv";
  EXPECT_THAT(error_of(bad),
              HasSubstr("models.json: /models/9/config/model_type: unmapped architecture 'rwkv'"));
  bad = good;
  bad["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 2.0}};
  EXPECT_THAT(error_of(bad), HasSubstr("/models/9/config/rope_scaling/rope_type: "));
  EXPECT_THAT(error_of(bad), HasSubstr("'dynamic'"));
}

// An inline config of models.json is named by its place in the file, through build_catalog.
TEST(Catalog, AnInlineConfigErrorNamesModelsJsonAndThePath) {
  const nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}},
                                 {"model_type", "llama"},
                                 {"hidden_size", "wide"},
                                 {"intermediate_size", 128},
                                 {"num_hidden_layers", 2},
                                 {"num_attention_heads", 4},
                                 {"vocab_size", 100},
                                 {"rms_norm_eps", 1e-5},
                                 {"max_position_embeddings", 256}};
  const nlohmann::json models = {
      {"models",
       {{{"name", "unsupported-one"}, {"architecture", "X"}, {"unsupported", {"a feature"}}},
        {{"name", "tiny"}, {"config", config}}}}};
  const nlohmann::json domains = {{"blocks", nlohmann::json::object()}};
  EXPECT_THAT([&] { build_catalog(models, domains, "coverage/catalog"); },
              ThrowsMessage<std::invalid_argument>(
                  testing::StrEq("coverage/catalog/models.json: /models/1/config/hidden_size: "
                                 "expected an integer, got \"wide\"")));
}

// models.json entries: a models catalog name, a config, or an unmappable model with its features.
TEST(Catalog, BadModelEntriesNameTheJsonPath) {
  const nlohmann::json domains = {{"blocks", nlohmann::json::object()}};
  const auto error_of = [&](const nlohmann::json& entry) {
    try {
      build_catalog({{"models", {entry}}}, domains, "dir");
    } catch (const std::invalid_argument& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  // A models catalog name gives that model's published config.json.
  const Catalog referenced =
      build_catalog({{"models", {{{"name", "Small"}, {"model", "llama-3.2-1b"}}}}}, domains, "dir");
  ASSERT_EQ(referenced.models.size(), 1u);
  EXPECT_EQ(referenced.models[0].architecture, "llama");
  EXPECT_EQ(referenced.models[0].configurations.size(), 14u);
  EXPECT_EQ(referenced.models[0].config.at("hidden_size"), 2048);

  EXPECT_THAT(error_of({{"name", "A"}, {"model", "llama-9"}}),
              HasSubstr("[catalog] dir/models.json: /models/0/model: "));
  EXPECT_THAT(error_of({{"name", "A"}, {"model", "llama-9"}}), HasSubstr("'llama-9'"));
  EXPECT_THAT(error_of({{"name", "A"}}),
              HasSubstr("/models/0: give \"model\" (a models catalog name) or \"config\""));
  EXPECT_THAT(error_of({{"name", "A"}, {"model", "gpt2"}, {"config", {{"model_type", "gpt2"}}}}),
              HasSubstr("/models/0: give one of \"model\" (a models catalog name) and "
                        "\"config\", not both"));
  EXPECT_THAT(error_of({{"name", "A"}, {"model", "gpt2"}, {"modle", 1}}),
              HasSubstr("/models/0/modle: unknown field"));
  EXPECT_THAT(error_of({{"model", "gpt2"}}), HasSubstr("/models/0/name: is required"));
  EXPECT_THAT(error_of({{"name", 7}, {"model", "gpt2"}}),
              HasSubstr("/models/0/name: expected a non-empty string, got 7"));
  EXPECT_THAT(error_of({{"name", "A"}, {"config", "gpt2"}}),
              HasSubstr("/models/0/config: expected a config.json object"));
  EXPECT_THAT(error_of({{"name", "A"}, {"model", "gpt2"}, {"architecture", "gpt2"}}),
              HasSubstr("/models/0/architecture: is read from the config"));
  EXPECT_THAT(error_of({{"name", "A"}, {"unsupported", {"x"}}}),
              HasSubstr("/models/0/architecture: is required with \"unsupported\""));
  EXPECT_THAT(
      error_of({{"name", "A"}, {"architecture", "t5"}, {"unsupported", nlohmann::json::array()}}),
      HasSubstr("/models/0/unsupported: expected a non-empty array of features"));
  EXPECT_THAT(error_of({{"name", "A"}, {"architecture", "t5"}, {"unsupported", {"x", 3}}}),
              HasSubstr("/models/0/unsupported/1: expected a non-empty string"));
  const Catalog listed = build_catalog(
      {{"models", {{{"name", "T5"}, {"architecture", "t5"}, {"unsupported", {"an encoder"}}}}}},
      domains, "dir");
  EXPECT_EQ(listed.models[0].architecture, "t5");
  EXPECT_TRUE(listed.models[0].configurations.empty());
  EXPECT_THAT(listed.models[0].unsupported, ElementsAre("an encoder"));
  EXPECT_EQ(listed.models[0].config, nlohmann::json::object());
  // With "unsupported", a models catalog model is listed, not mapped; its config is kept.
  const Catalog kept = build_catalog(
      {{"models",
        {{{"name", "G"}, {"model", "gpt2"}, {"architecture", "gpt2"}, {"unsupported", {"x"}}}}}},
      domains, "dir");
  EXPECT_TRUE(kept.models[0].configurations.empty());
  EXPECT_EQ(kept.models[0].config.at("n_embd"), 768);
  EXPECT_THAT(
      [&] {
        build_catalog(
            {{"models", {{{"name", "A"}, {"model", "gpt2"}}, {{"name", "a"}, {"model", "gpt2"}}}}},
            domains, "dir");
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("/models/1: model 'a' repeats")));
}

TEST(Catalog, BadDomainsNameTheJsonPath) {
  const nlohmann::json models = {{"models",
                                  {{{"name", "tiny"},
                                    {"config",
                                     {{"architectures", {"LlamaForCausalLM"}},
                                      {"model_type", "llama"},
                                      {"hidden_size", 64},
                                      {"intermediate_size", 128},
                                      {"num_hidden_layers", 2},
                                      {"num_attention_heads", 4},
                                      {"vocab_size", 100},
                                      {"rms_norm_eps", 1e-5},
                                      {"max_position_embeddings", 256}}}}}}};
  const auto domains_with = [](nlohmann::json parameters, nlohmann::json constraints) {
    nlohmann::json block = {{"parameters", std::move(parameters)}};
    if (!constraints.is_null()) block["constraints"] = std::move(constraints);
    return nlohmann::json{{"blocks", {{"rms_norm", block}}}};
  };
  const Catalog catalog = build_catalog(
      models, domains_with({{{"name", "dim"}, {"field", "spec.dim"}, {"catalog", true}}}, nullptr),
      "dir");
  EXPECT_THAT(catalog.domains.at("rms_norm").parameters[0].values, ElementsAre(64));
  EXPECT_THAT(
      [&] {
        build_catalog(
            models,
            domains_with({{{"name", "dim"}, {"field", "spek.dim"}, {"catalog", true}}}, nullptr),
            "dir");
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("dir/domains.json: /blocks/rms_norm/parameters/0/field: expected mode")));
  EXPECT_THAT(
      [&] {
        build_catalog(
            models,
            domains_with(
                {{{"name", "dim"}, {"field", "spec.dim"}, {"catalog", true}, {"values", {1}}}},
                nullptr),
            "dir");
      },
      ThrowsMessage<std::invalid_argument>(HasSubstr("exactly one of \"values\" and \"catalog\"")));
  EXPECT_THAT(
      [&] {
        build_catalog(models,
                      domains_with({{{"name", "mode"}, {"field", "mode"}, {"values", {"prefill"}}}},
                                   {{{"if", {{"mode", "decode"}}}, {"then", {{"seq_len", {1}}}}}}),
                      "dir");
      },
      ThrowsMessage<std::invalid_argument>(
          HasSubstr("/blocks/rms_norm/constraints/0: names no parameter 'seq_len'")));
  // A block no catalog model needs has an empty catalog domain (a custom catalog of one model
  // reuses the built-in domains.json).
  const Catalog unused = build_catalog(
      models,
      domains_with({{{"name", "dim"}, {"field", "derived.head_dim"}, {"catalog", true}}}, nullptr),
      "dir");
  EXPECT_TRUE(unused.domains.at("rms_norm").parameters[0].values.empty());
  EXPECT_THAT([] { load_catalog("/nonexistent/catalog"); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("/nonexistent/catalog/models.json: cannot open")));
}

// A --catalog directory naming models of the models catalog by id gets the configurations the
// built-in catalog has for them (both read the same config.json through the same reader).
TEST(Catalog, AnOwnDirectoryNamingCatalogModelsMatchesTheBuiltinOne) {
  const test_support::ScratchDir dir;
  std::filesystem::copy_file(std::string(TTT_SOURCE_DIR) + "/coverage/catalog/domains.json",
                             dir.file("domains.json"));
  std::ofstream(dir.file("models.json"))
      << R"({"models": [{"name": "Llama-3.1-70B", "model": "llama-3.1-70b", "topologies": ["TG"]},
                        {"name": "GPT-2", "model": "gpt2"}]})";
  const Catalog loaded = load_catalog(dir.path().string());
  ASSERT_EQ(loaded.models.size(), 2u);
  EXPECT_THAT(loaded.models[0].topologies, ElementsAre("TG"));
  EXPECT_TRUE(loaded.models[1].topologies.empty());
  for (const CatalogModel& own : loaded.models) {
    const CatalogModel& builtin = model(own.name);
    ASSERT_EQ(own.configurations.size(), builtin.configurations.size()) << own.name;
    for (std::size_t k = 0; k < own.configurations.size(); ++k) {
      EXPECT_EQ(own.configurations[k].key(), builtin.configurations[k].key());
    }
  }
}

}  // namespace
}  // namespace ttt
