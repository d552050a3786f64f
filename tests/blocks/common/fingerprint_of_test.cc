// fingerprint_of over real block kinds: a configuration spelled two ways (key order, 1 vs 1.0 vs
// 1e0, defaults omitted or written) has one id, and every field of the configured Spec and
// ImplConfig, the mode, the batch and token buckets and the mesh change it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "blocks/common/block_kind.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

ConfiguredBlock configure(const std::string& kind, const nlohmann::json& spec, Mode mode,
                          const nlohmann::json& overrides = nlohmann::json::object()) {
  return find_block_kind(kind)->configure(JsonNode(spec, "spec"), Device::N150, mode, std::nullopt,
                                          JsonNode(overrides, "impl_config"));
}

Fingerprint fingerprint(const std::string& kind, const ConfiguredBlock& block, Mode mode,
                        const CallShapes& shapes) {
  return fingerprint_of(*find_block_kind(kind), block, mode, shapes);
}

// Every leaf of `json` as a JSON Pointer (array elements included).
void collect_leaves(const nlohmann::json& json, const std::string& path,
                    std::vector<std::string>& out) {
  if (json.is_object()) {
    for (const auto& [key, value] : json.items()) collect_leaves(value, path + "/" + key, out);
  } else if (json.is_array()) {
    for (std::size_t i = 0; i < json.size(); ++i) {
      collect_leaves(json[i], path + "/" + std::to_string(i), out);
    }
  } else {
    out.push_back(path);
  }
}

// Another value of the same JSON type (a null becomes 0).
nlohmann::json mutated(const nlohmann::json& value) {
  if (value.is_boolean()) return !value.get<bool>();
  if (value.is_number_integer()) return value.get<std::int64_t>() + 1;
  if (value.is_number_float()) return value.get<double>() == 0.0 ? 1.0 : value.get<double>() * 1.5;
  if (value.is_string()) return value.get<std::string>() + "_changed";
  return 0;
}

// Changes each leaf of the block's Spec and ImplConfig in turn and expects a new id each time.
// Returns how many leaves it changed.
std::size_t expect_every_leaf_changes_the_id(const std::string& kind, const ConfiguredBlock& block,
                                             Mode mode, const CallShapes& shapes) {
  const std::string base = fingerprint(kind, block, mode, shapes).id;
  std::size_t changed = 0;
  for (const bool in_spec : {true, false}) {
    const nlohmann::json& document = in_spec ? block.spec : block.impl_config;
    std::vector<std::string> leaves;
    collect_leaves(document, "", leaves);
    for (const std::string& leaf : leaves) {
      // The mesh is read, not hashed as text: "T3K" -> "1x8" (its own test below).
      if (in_spec && leaf == "/mesh") continue;
      ConfiguredBlock changed_block = block;
      nlohmann::json& target = in_spec ? changed_block.spec : changed_block.impl_config;
      const nlohmann::json::json_pointer pointer(leaf);
      target[pointer] = mutated(target[pointer]);
      EXPECT_NE(fingerprint(kind, changed_block, mode, shapes).id, base)
          << kind << (in_spec ? " spec" : " impl_config") << leaf;
      ++changed;
    }
  }
  return changed;
}

const nlohmann::json kNormSpec = {{"dim", 64}, {"eps", 1e-5}};
const nlohmann::json kMlpSpec = {{"hidden_dim", 64}, {"ffn_dim", 128}};
const nlohmann::json kAttentionSpec = {
    {"hidden_dim", 64}, {"num_heads", 4}, {"num_kv_heads", 2}, {"rope", {{"head_dim", 16}}}};

TEST(FingerprintOf, EveryFieldOfRealKindsChangesTheId) {
  const CallShapes prefill{.batch = 1, .seq_len = 32};
  const CallShapes decode{.batch = 2, .context_len = 31};
  EXPECT_GE(expect_every_leaf_changes_the_id(
                "rms_norm", configure("rms_norm", kNormSpec, Mode::decode), Mode::decode, decode),
            4u);
  EXPECT_GE(
      expect_every_leaf_changes_the_id("gated_mlp", configure("gated_mlp", kMlpSpec, Mode::prefill),
                                       Mode::prefill, prefill),
      10u);
  EXPECT_GE(expect_every_leaf_changes_the_id(
                "attention.decode", configure("attention.decode", kAttentionSpec, Mode::decode),
                Mode::decode, decode),
            10u);
  const nlohmann::json tp_spec = {{"mesh", "1x2"}, {"attention", kAttentionSpec}};
  EXPECT_GE(expect_every_leaf_changes_the_id("tp_attention",
                                             configure("tp_attention", tp_spec, Mode::prefill),
                                             Mode::prefill, prefill),
            15u);
}

TEST(FingerprintOf, SpellingsOfOneConfigurationHashAlike) {
  const CallShapes shapes{.batch = 1, .seq_len = 32};
  const ConfiguredBlock plain = configure("gated_mlp", kMlpSpec, Mode::prefill);
  // Keys in another order, a real number as an integer, a decimal or an exponent (integer fields
  // accept integers only): one configuration.
  const auto attention_id = [](const char* spec_text) {
    const nlohmann::json spec = nlohmann::json::parse(spec_text);
    return fingerprint("attention.prefill", configure("attention.prefill", spec, Mode::prefill),
                       Mode::prefill, {.batch = 1, .seq_len = 32})
        .id;
  };
  const std::string theta_integer = attention_id(
      R"({"hidden_dim": 64, "num_heads": 4, "rope": {"head_dim": 16, "theta": 10000}})");
  EXPECT_EQ(
      attention_id(
          R"({"rope": {"theta": 10000.0, "head_dim": 16}, "num_heads": 4, "hidden_dim": 64})"),
      theta_integer);
  EXPECT_EQ(
      attention_id(R"({"num_heads": 4, "hidden_dim": 64, "rope": {"theta": 1e4, "head_dim": 16}})"),
      theta_integer);
  // theta omitted: the default 10000 is written by configure.
  EXPECT_EQ(attention_id(R"({"hidden_dim": 64, "num_heads": 4, "rope": {"head_dim": 16}})"),
            theta_integer);
  EXPECT_NE(
      attention_id(R"({"hidden_dim": 64, "num_heads": 4, "rope": {"head_dim": 16, "theta": 1e5}})"),
      theta_integer);

  // A default written out (the value configure writes when it is omitted) changes nothing.
  nlohmann::json with_default = kNormSpec;
  const ConfiguredBlock norm = configure("rms_norm", kNormSpec, Mode::decode);
  for (const auto& [key, value] : norm.spec.items()) with_default[key] = value;
  ASSERT_GT(norm.spec.size(), kNormSpec.size()) << "rms_norm writes its defaults";
  const ConfiguredBlock written = configure("rms_norm", with_default, Mode::decode);
  const CallShapes decode{.batch = 1};
  EXPECT_EQ(fingerprint("rms_norm", written, Mode::decode, decode).id,
            fingerprint("rms_norm", norm, Mode::decode, decode).id);
  // ImplConfig overrides equal to the defaults (all of them, written out) are no override.
  const ConfiguredBlock mlp_overridden =
      configure("gated_mlp", kMlpSpec, Mode::prefill, plain.impl_config);
  EXPECT_EQ(fingerprint("gated_mlp", mlp_overridden, Mode::prefill, shapes).id,
            fingerprint("gated_mlp", plain, Mode::prefill, shapes).id);
}

TEST(FingerprintOf, ModeShapesAndMeshChangeTheId) {
  const ConfiguredBlock mlp = configure("gated_mlp", kMlpSpec, Mode::prefill);
  const Fingerprint base =
      fingerprint("gated_mlp", mlp, Mode::prefill, {.batch = 1, .seq_len = 32});
  EXPECT_EQ(base.summary.substr(0, 25), "gated_mlp prefill | GATED");
  EXPECT_THAT(base.summary, HasSubstr("| batch<=1 tokens<=32 | 1x1"));
  EXPECT_NE(fingerprint("gated_mlp", mlp, Mode::decode, {.batch = 1}).id, base.id);
  EXPECT_NE(fingerprint("gated_mlp", mlp, Mode::prefill, {.batch = 2, .seq_len = 32}).id, base.id);
  EXPECT_NE(fingerprint("gated_mlp", mlp, Mode::prefill, {.batch = 1, .seq_len = 33}).id, base.id);
  // The same bucket: 17..32 tokens are one fingerprint.
  EXPECT_EQ(fingerprint("gated_mlp", mlp, Mode::prefill, {.batch = 1, .seq_len = 17}).id, base.id);

  // A decode block blind to the context: one fingerprint at every context length.
  const ConfiguredBlock mlp_decode = configure("gated_mlp", kMlpSpec, Mode::decode);
  EXPECT_EQ(
      fingerprint("gated_mlp", mlp_decode, Mode::decode, {.batch = 1, .context_len = 5}).id,
      fingerprint("gated_mlp", mlp_decode, Mode::decode, {.batch = 1, .context_len = 900}).id);
  // Decode attention reads its context.
  const ConfiguredBlock attention = configure("attention.decode", kAttentionSpec, Mode::decode);
  EXPECT_NE(
      fingerprint("attention.decode", attention, Mode::decode, {.batch = 1, .context_len = 31}).id,
      fingerprint("attention.decode", attention, Mode::decode, {.batch = 1, .context_len = 33}).id);

  // The mesh, read from the Spec: N300 is 1x2 (one id for both names), 1x8 another.
  const CallShapes shapes{.batch = 1, .seq_len = 32};
  const auto tp = [&](const char* mesh) {
    return fingerprint(
        "tp_attention",
        configure("tp_attention", {{"mesh", mesh}, {"attention", kAttentionSpec}}, Mode::prefill),
        Mode::prefill, shapes);
  };
  EXPECT_EQ(tp("N300").id, tp("1x2").id);
  EXPECT_THAT(tp("N300").summary, HasSubstr("| 1x2"));
  EXPECT_NE(tp("1x4").id, tp("1x2").id);
  EXPECT_THAT(tp("1x4").summary, HasSubstr("| 1x4"));
}

TEST(FingerprintOf, RefusesASpecMeshThatIsNotAMesh) {
  ConfiguredBlock block = configure("gated_mlp", kMlpSpec, Mode::prefill);
  block.spec["mesh"] = 8;
  EXPECT_THAT([&] { fingerprint("gated_mlp", block, Mode::prefill, {.batch = 1, .seq_len = 1}); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[fingerprint] gated_mlp spec.mesh: expected a mesh name, got 8")));
}

}  // namespace
}  // namespace ttt
