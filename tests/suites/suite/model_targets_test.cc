// Model targets (suites/suite/model_targets.h): the strict file format, verdicts on hand-made
// compositions (a miss, a pass, a mode without cases, an incomplete prediction), refusals of
// another model, device or a slice, and the targets shipped for the suites in suites/.
#include "suites/suite/model_targets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>

#include "suites/suite/suite_file.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

nlohmann::json targets_json() {
  return nlohmann::json::parse(R"({
    "format": "ttt-model-targets", "format_version": 1,
    "model": "llama-3.2-1b", "device": "N150",
    "source": "test figures",
    "logits": {"pcc_min": 0.99},
    "latency": {"prefill_ms": 200, "decode_ms": 20}})");
}

// Llama-3.2-1B whole (16 layers, vocabulary 128256) with a complete prefill prediction of PCC
// 0.984 (the issue-12 figure) and 150 ms, and no decode prediction.
Composition llama_composition() {
  Composition composition;
  composition.suite = "llama-3.2-1b";
  composition.model = "llama-3.2-1b";
  composition.device = "N150";
  composition.layers = composition.model_layers = 16;
  composition.vocab_size = composition.model_vocab_size = 128256;
  ModePrediction prefill;
  prefill.mode = Mode::prefill;
  prefill.latency_ns = 150e6;
  prefill.pcc = 0.984;
  prefill.pcc_low = 0.979;
  prefill.pcc_high = 0.988;
  composition.prefill = prefill;
  return composition;
}

TEST(ModelTargets, ReadsEveryField) {
  const ModelTargets targets = model_targets_from_json(targets_json(), "t.json");
  EXPECT_EQ(targets.file, "t.json");
  EXPECT_EQ(targets.model, "llama-3.2-1b");
  EXPECT_EQ(targets.device, "N150");
  EXPECT_EQ(targets.source, "test figures");
  EXPECT_DOUBLE_EQ(*targets.logits_pcc_min, 0.99);
  EXPECT_DOUBLE_EQ(*targets.prefill_latency_ms, 200.0);
  EXPECT_DOUBLE_EQ(*targets.decode_latency_ms, 20.0);
}

TEST(ModelTargets, UnknownFieldsAndBadValuesNameTheFileAndPath) {
  const auto error_of = [](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json json = targets_json();
    edit(json);
    return [json] { model_targets_from_json(json, "llama.N150.json"); };
  };
  EXPECT_THAT(error_of([](nlohmann::json& j) { j["logits"]["pcc_mni"] = 0.9; }),
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("llama.N150.json: /logits/pcc_mni: unknown field 'pcc_mni'")));
  EXPECT_THAT(error_of([](nlohmann::json& j) { j["tokens"] = {{"top1", 0.9}}; }),
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("llama.N150.json: /tokens: unknown field 'tokens'")));
  EXPECT_THAT(error_of([](nlohmann::json& j) { j["logits"]["pcc_min"] = 1.5; }),
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("llama.N150.json: /logits/pcc_min: expected a PCC in (0, 1]")));
  EXPECT_THAT(error_of([](nlohmann::json& j) { j["latency"]["decode_ms"] = -1; }),
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("/latency/decode_ms: expected a finite number > 0")));
  EXPECT_THAT(error_of([](nlohmann::json& j) { j["latency"]["prefill_ms"] = "fast"; }),
              ThrowsMessage<std::invalid_argument>(HasSubstr("/latency/prefill_ms: expected a")));
  EXPECT_THAT(error_of([](nlohmann::json& j) { j["device"] = "N999"; }),
              ThrowsMessage<std::invalid_argument>(HasSubstr("llama.N150.json: /device")));
  EXPECT_THAT(error_of([](nlohmann::json& j) { j.erase("source"); }),
              ThrowsMessage<std::invalid_argument>(HasSubstr("missing field 'source'")));
  EXPECT_THAT(error_of([](nlohmann::json& j) { j["format_version"] = 2; }),
              ThrowsMessage<std::invalid_argument>(HasSubstr("/format_version: version 2")));
  EXPECT_THAT(error_of([](nlohmann::json& j) { j["format"] = "ttt-suite-results"; }),
              ThrowsMessage<std::invalid_argument>(HasSubstr("/format: is 'ttt-suite-results'")));
  EXPECT_THAT(error_of([](nlohmann::json& j) {
                j.erase("logits");
                j.erase("latency");
              }),
              ThrowsMessage<std::invalid_argument>(HasSubstr("sets no target")));
}

TEST(ModelTargets, AMissANotPredictedModeAndAPass) {
  const ModelTargets targets = model_targets_from_json(targets_json(), "t.json");
  const TargetsJudgement judgement = judge_targets(llama_composition(), targets);
  EXPECT_FALSE(judgement.ok());
  ASSERT_EQ(judgement.verdicts.size(), 4u);
  const TargetVerdict& pcc = judgement.verdicts[0];
  EXPECT_TRUE(pcc.judged);
  EXPECT_FALSE(pcc.passed);
  EXPECT_EQ(pcc.message,
            "prefill logits PCC 0.984 [band 0.979, 0.988] < minimum 0.99");
  const TargetVerdict& latency = judgement.verdicts[1];
  EXPECT_TRUE(latency.passed);
  EXPECT_EQ(latency.message, "prefill latency 150 ms <= budget 200 ms");
  // Decode has no cases: not judged, so not passed, and no number printed.
  for (std::size_t i = 2; i < 4; ++i) {
    EXPECT_FALSE(judgement.verdicts[i].judged);
    EXPECT_FALSE(judgement.verdicts[i].passed);
    EXPECT_FALSE(judgement.verdicts[i].predicted.has_value());
    EXPECT_THAT(judgement.verdicts[i].message, HasSubstr("no cases for decode: not predicted"));
  }
  const std::string text = format_targets(judgement);
  EXPECT_THAT(text, HasSubstr("targets t.json (llama-3.2-1b on N150):\n"));
  EXPECT_THAT(text, HasSubstr("  MISS prefill logits PCC 0.984 "));
  EXPECT_THAT(text, HasSubstr("  pass prefill latency 150 ms"));
  EXPECT_THAT(text, HasSubstr("targets: 3 of 4 missed"));
  EXPECT_EQ(to_json(judgement).at("ok"), false);

  // A PCC target alone, met, on the prefill-only composition of a prefill-only target file.
  nlohmann::json json = targets_json();
  json["logits"]["pcc_min"] = 0.98;
  json["latency"].erase("decode_ms");
  Composition composition = llama_composition();
  ModePrediction decode = *composition.prefill;
  decode.mode = Mode::decode;
  composition.decode = decode;
  const TargetsJudgement met = judge_targets(composition, model_targets_from_json(json, "t"));
  EXPECT_TRUE(met.ok()) << format_targets(met);
  EXPECT_EQ(met.verdicts.size(), 3u);  // PCC in both modes, prefill latency.
  EXPECT_THAT(format_targets(met), HasSubstr("targets: met"));

  // An incomplete prediction is not judged.
  composition.decode->uncovered = {"layers.3.ffn"};
  const TargetsJudgement incomplete =
      judge_targets(composition, model_targets_from_json(json, "t"));
  EXPECT_FALSE(incomplete.ok());
  EXPECT_EQ(incomplete.verdicts.back().message,
            "decode logits PCC not judged: the prediction is incomplete (1 module instance(s) "
            "without a case)");
}

TEST(ModelTargets, AnotherModelDeviceOrASliceIsRefused) {
  nlohmann::json json = targets_json();
  json["model"] = "gpt2";
  EXPECT_THAT([&] { judge_targets(llama_composition(), model_targets_from_json(json, "g.json")); },
              ThrowsMessage<std::invalid_argument>(HasSubstr(
                  "g.json are for model 'gpt2', the suite's model is 'llama-3.2-1b'")));
  json = targets_json();
  json["device"] = "N300";
  EXPECT_THAT([&] { judge_targets(llama_composition(), model_targets_from_json(json, "n.json")); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("n.json are for device N300, the suite runs on N150")));
  Composition slice = llama_composition();
  slice.layers = 2;
  EXPECT_TRUE(is_slice(slice));
  EXPECT_THAT([&] { judge_targets(slice, model_targets_from_json(targets_json(), "t.json")); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("the prediction is a slice (2 of 16 layers, vocabulary 128256 of "
                            "128256)")));
}

// Every shipped suite has its targets where `ttt compose` looks for them, for its model and
// device, and they read.
TEST(ModelTargets, EveryShippedSuiteHasTargets) {
  const std::filesystem::path dir = std::filesystem::path(TTT_SOURCE_DIR) / "suites";
  // One targets file per (model, device): a model's suites on several meshes (Llama-3.1-70B on
  // T3K and TG) each have their own.
  std::set<std::string> targets_files;
  std::size_t suites = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    ++suites;
    const SuiteFile suite = load_suite_file(entry.path().string());
    const std::string device(device_name(suite.device));
    const std::string path = default_targets_path(entry.path().string(), suite.model_name, device);
    EXPECT_EQ(path, (dir / "targets" / (suite.model_name + "." + device + ".json")).string());
    const ModelTargets targets = load_model_targets(path);
    EXPECT_EQ(targets.model, suite.model_name);
    EXPECT_EQ(targets.device, device);
    EXPECT_TRUE(targets.logits_pcc_min.has_value());
    targets_files.insert(path);
  }
  EXPECT_GE(suites, 13u);
  EXPECT_EQ(targets_files.size(), suites);
  // A model given by config path has no conventional targets.
  EXPECT_EQ(default_targets_path("suites/x.json", "/tmp/config.json", "N150"), "");
}

}  // namespace
}  // namespace ttt
