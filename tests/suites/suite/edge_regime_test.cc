// Edge-regime inputs (blocks/common/edge_regime.h, docs/testing.md "Edge regimes"): every regime a
// block kind declares is drawn as the suites draw it ("inputs": {"regime": ...}), changes the
// seeded inputs, and the device path still meets the kind's tolerances against the reference in
// it. Two regimes are shown to expose a fault that the plain seeded inputs hide: an epsilon read
// from the wrong field (near-zero rows) and a softcap left out (saturated scores).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "blocks/common/block_kind.h"
#include "suites/suite/internal/block_kinds.h"
#include "suites/suite/suite_file.h"
#include "validation/metrics/metrics.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

// A small configuration of a kind whose Spec shows every regime it declares.
struct RegimeCase {
  std::string kind;
  nlohmann::json spec;
  Mode mode;
  CaseShapes shapes;
};

CaseShapes shapes(std::int64_t batch, std::int64_t seq_len, std::int64_t context_len) {
  CaseShapes s;
  s.batch = batch;
  s.seq_len = seq_len;
  s.context_len = context_len;
  return s;
}

const nlohmann::json kAttention = {
    {"hidden_dim", 256},
    {"num_heads", 4},
    {"num_kv_heads", 2},
    {"qk_norm", true},
    {"logit_softcap", 50.0},
    {"rope",
     {{"head_dim", 64}, {"scaling", "linear"}, {"factor", 2.0}, {"max_position_embeddings", 256}}}};
const nlohmann::json kLmHead = {{"hidden_dim", 256}, {"vocab_size", 1024}, {"logit_softcap", 30.0}};

std::vector<RegimeCase> cases() {
  return {
      {"rms_norm", {{"dim", 256}}, Mode::prefill, shapes(1, 8, 0)},
      {"layer_norm", {{"dim", 256}}, Mode::prefill, shapes(1, 8, 0)},
      {"distributed_rms_norm", {{"dim", 256}, {"mesh", "N300"}}, Mode::prefill, shapes(1, 8, 0)},
      {"attention.prefill", kAttention, Mode::prefill, shapes(1, 16, 0)},
      // context 130: past the linear scaling's original 128 positions.
      {"attention.decode", kAttention, Mode::decode, shapes(4, 0, 130)},
      {"embedding",
       {{"vocab_size", 512}, {"hidden_dim", 64}, {"positions", "learned"}, {"max_positions", 64}},
       Mode::decode,
       shapes(4, 0, 20)},
      {"lm_head", kLmHead, Mode::decode, shapes(4, 0, 0)},
      {"tp_lm_head", {{"lm_head", kLmHead}, {"mesh", "N300"}}, Mode::decode, shapes(4, 0, 0)}};
}

const BlockKind& kind_of(const std::string& name) {
  const BlockKind* kind = find_block_kind(name);
  if (kind == nullptr) throw std::logic_error("no block kind " + name);
  return *kind;
}

ConfiguredBlock configure(const BlockKind& kind, const nlohmann::json& spec, Mode mode) {
  return kind.configure(JsonNode(spec, kind.name + " spec"), Device::N150, mode, std::nullopt,
                        JsonNode(nlohmann::json::object(), "overrides"));
}

CaseInputs draw(const BlockKind& kind, const ConfiguredBlock& block, const RegimeCase& c,
                const std::string& regime) {
  SeededInputs seeded;
  seeded.weight_std = 0.1;  // Logits of order 1.6 at hidden 256, as a model's are.
  seeded.regime = regime;
  return suite_detail::seeded_block_inputs(kind, block, c.mode, c.shapes, seeded, 7);
}

// y of the kind's device path (`device_spec`) and of its reference (`reference_spec`) on `inputs`.
Verdict judge(const BlockKind& kind, const ConfiguredBlock& block, const RegimeCase& c,
              const CaseInputs& inputs, const nlohmann::json& reference_spec) {
  auto bind = [&](const nlohmann::json& spec) {
    BlockCall call;
    call.kind = kind.name;
    call.spec = spec;
    call.impl_config = block.impl_config;
    call.device = "N150";
    call.scalars = inputs.scalars;
    call.scalars["mode"] = std::string(mode_name(c.mode));
    call.inputs = inputs.tensors;
    return kind.replayer().bind(call);
  };
  const Tensor device = bind(block.spec).run_device().front().tensor;
  const Tensor reference = bind(reference_spec).run_reference().front().tensor;
  const Metrics metrics = compute_metrics(device, reference);
  return evaluate(metrics,
                  kind.tolerances.value_or(default_tolerances(device.dtype(), reference.dtype())));
}

bool same_inputs(const CaseInputs& a, const CaseInputs& b) {
  if (a.tensors.size() != b.tensors.size()) return false;
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    const Tensor& x = a.tensors[i].tensor;
    const Tensor& y = b.tensors[i].tensor;
    if (x.shape() != y.shape()) return false;
    for (std::int64_t j = 0; j < x.numel(); ++j) {
      if (x.at_flat(j) != y.at_flat(j)) return false;
    }
  }
  return true;
}

TEST(EdgeRegime, EveryDeclaredRegimeRunsWithinTheKindsTolerances) {
  std::set<std::string> covered;
  for (const RegimeCase& c : cases()) {
    const BlockKind& kind = kind_of(c.kind);
    const ConfiguredBlock block = configure(kind, c.spec, c.mode);
    const CaseInputs plain = draw(kind, block, c, "");
    ASSERT_FALSE(kind.edge_regimes.empty()) << c.kind;
    for (const EdgeRegime& regime : kind.edge_regimes) {
      SCOPED_TRACE(c.kind + " " + regime.name);
      EXPECT_FALSE(regime.reason.empty());
      const CaseInputs inputs = draw(kind, block, c, regime.name);
      // A regime that moves no input would prove nothing (past_original_context only checks
      // that the case's positions reach past the original context).
      if (regime.name != "past_original_context") {
        EXPECT_FALSE(same_inputs(plain, inputs));
      }
      const Verdict verdict = judge(kind, block, c, inputs, block.spec);
      EXPECT_TRUE(verdict.passed) << verdict.text();
      covered.insert(c.kind);
    }
  }
  // Every kind that declares regimes is in the table above.
  for (const BlockKind& kind : block_kinds()) {
    if (!kind.edge_regimes.empty()) {
      EXPECT_TRUE(covered.contains(kind.name)) << kind.name;
    }
  }
}

TEST(EdgeRegime, NearZeroRowsExposeAnEpsilonThePlainInputsHide) {
  // The device path at eps 1e-5 against a reference at 1e-6 (a norm reading another field's eps,
  // as qk_norm_eps): on unit-scale rows the two differ by 5e-6 relative, below bfloat16, and pass;
  // on rows of mean square 4e-6 they differ by 40%.
  const RegimeCase c{"rms_norm", {{"dim", 256}, {"eps", 1e-5}}, Mode::prefill, shapes(1, 8, 0)};
  const BlockKind& kind = kind_of(c.kind);
  const ConfiguredBlock block = configure(kind, c.spec, c.mode);
  nlohmann::json wrong = block.spec;
  wrong["eps"] = 1e-6;
  EXPECT_TRUE(judge(kind, block, c, draw(kind, block, c, ""), wrong).passed);
  const Verdict verdict = judge(kind, block, c, draw(kind, block, c, "near_zero_rows"), wrong);
  EXPECT_FALSE(verdict.passed);
  EXPECT_THAT(verdict.text(), HasSubstr("nmse"));
}

TEST(EdgeRegime, SaturatedScoresExposeAMissingSoftcap) {
  // The device path capped at 30 against a reference without the cap: logits of order 1.6 sit on
  // the tanh's linear part and pass; saturated ones do not.
  const RegimeCase c{"lm_head", kLmHead, Mode::decode, shapes(4, 0, 0)};
  const BlockKind& kind = kind_of(c.kind);
  const ConfiguredBlock block = configure(kind, c.spec, c.mode);
  nlohmann::json uncapped = block.spec;
  uncapped["logit_softcap"] = 0.0;
  EXPECT_TRUE(judge(kind, block, c, draw(kind, block, c, ""), uncapped).passed);
  EXPECT_FALSE(judge(kind, block, c, draw(kind, block, c, "saturated_softcap"), uncapped).passed);
}

TEST(EdgeRegime, ARegimeTheSpecOrShapesCannotShowIsRefused) {
  const BlockKind& kind = kind_of("lm_head");
  const RegimeCase uncapped{
      "lm_head", {{"hidden_dim", 64}, {"vocab_size", 64}}, Mode::decode, shapes(1, 0, 0)};
  const ConfiguredBlock block = configure(kind, uncapped.spec, uncapped.mode);
  EXPECT_THAT([&] { draw(kind, block, uncapped, "saturated_softcap"); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[edge regime saturated_softcap] needs a Spec with a softcap > 0")));
  EXPECT_THAT([&] { draw(kind, block, uncapped, "near_zero_rows"); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("[lm_head] unknown edge regime 'near_zero_rows' (declared: "
                            "saturated_softcap)")));
  const BlockKind& decode = kind_of("attention.decode");
  const RegimeCase one_user{"attention.decode", kAttention, Mode::decode, shapes(1, 0, 8)};
  const ConfiguredBlock attention = configure(decode, kAttention, Mode::decode);
  EXPECT_THAT([&] { draw(decode, attention, one_user, "users_at_different_positions"); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("needs shapes.batch >= 2")));
  EXPECT_THAT([&] { draw(decode, attention, one_user, "past_original_context"); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("needs shapes.context_len >= 128 (the scaling's "
                            "original_max_position_embeddings), got 8")));
}

TEST(EdgeRegime, SuiteFilesNameARegimeOfTheCasesKind) {
  const nlohmann::json suite = {{"suite", "regimes"},
                                {"cases",
                                 {{{"block", "rms_norm"},
                                   {"mode", "prefill"},
                                   {"spec", {{"dim", 64}}},
                                   {"shapes", {{"batch", 1}, {"seq_len", 8}}},
                                   {"inputs", {{"regime", "near_zero_rows"}}},
                                   {"expect", {{"nmse", 0.001}}}}}}};
  const SuiteFile file = parse_suite_file(suite, "regimes.json", ".");
  ASSERT_EQ(file.cases.size(), 1u);
  EXPECT_EQ(file.cases[0].seeded.regime, "near_zero_rows");
  EXPECT_EQ(file.cases[0].id, "rms_norm.prefill.s8.near_zero_rows");

  nlohmann::json wrong = suite;
  wrong["cases"][0]["inputs"]["regime"] = "saturated_softcap";
  EXPECT_THAT([&] { parse_suite_file(wrong, "regimes.json", "."); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "regimes.json: /cases/0/inputs/regime: [rms_norm] unknown edge regime "
                  "'saturated_softcap' (declared: near_zero_rows, dc_offset, large_magnitude)")));
}

TEST(EdgeRegime, TheModelSuitesCarryRegimeCases) {
  // The regime cases of suites/*.json (slow tier: they run at the models' widths) parse, and
  // their ids end with the regime.
  std::multiset<std::string> regimes;
  for (const char* name : {"llama-3.2-1b", "llama-3.1-8b", "gpt2", "gemma-2-9b"}) {
    const SuiteFile file =
        load_suite_file(std::string(TTT_SOURCE_DIR) + "/suites/" + name + ".json");
    for (const SuiteFileCase& c : file.cases) {
      if (c.seeded.regime.empty()) continue;
      regimes.insert(c.seeded.regime);
      EXPECT_TRUE(c.id.ends_with(c.seeded.regime)) << c.id;
      EXPECT_EQ(c.occurrences, 0) << c.id << ": a regime case must not count in ttt compose";
    }
  }
  EXPECT_EQ(regimes, (std::multiset<std::string>{"dc_offset", "full_kv_cache", "large_magnitude",
                                                 "near_zero_rows", "past_original_context",
                                                 "saturated_softcap", "saturated_softcap",
                                                 "users_at_different_positions"}));
}

}  // namespace
}  // namespace ttt
