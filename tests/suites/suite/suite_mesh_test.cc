// Suites on a mesh (issue 14 item 6): the suite file's "mesh", the device it implies, the mesh
// going into the cases (tensor-parallel module kinds, mesh kinds' Specs), the results and the
// composition, and the errors of a bad mesh (file and field) or of a mesh that does not divide a
// sharded dimension (the mesh and the dimension).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "suites/suite/compose.h"
#include "suites/suite/results.h"
#include "suites/suite/suite_file.h"
#include "tests/common/scratch_dir.h"
#include "tests/suites/suite/tiny_llama.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

// The tiny Llama of tiny_llama.h (hidden 64, 2 layers, 4 query and 2 key/value heads of 16,
// SwiGLU 128) with a vocabulary of 96, in this process's scratch directory.
std::string tiny_config_path() {
  static const test_support::ScratchDir scratch;
  const std::string path = scratch.file("config.json");
  std::ofstream(path) << suites_test::tiny_llama_config(96).dump();
  return path;
}

Json module_suite(const Json& mesh, const Json& cases) {
  Json suite = {{"suite", "tiny-mesh"},
                {"model", {{"config", tiny_config_path()}}},
                {"seed", 5u},
                {"defaults",
                 {{"shapes", {{"batch", 1}, {"seq_len", 8}, {"context_len", 7}}},
                  {"expect", {{"pcc", 0.99}}}}},
                {"cases", cases}};
  if (!mesh.is_null()) suite["mesh"] = mesh;
  return suite;
}

Json norm_case() { return {{"block", "rms_norm"}, {"mode", "decode"}, {"spec", {{"dim", 64}}}}; }

std::string error_of(const Json& json) {
  try {
    parse_suite_file(json, "suites/tiny.json", "");
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "no error";
}

TEST(SuiteMesh, DefaultsToOneDeviceAndN150) {
  const SuiteFile file =
      parse_suite_file(module_suite(nullptr, Json::array({norm_case()})), "t.json", "");
  EXPECT_EQ(file.mesh, (Mesh{1, 1}));
  EXPECT_EQ(file.device, Device::N150);
}

TEST(SuiteMesh, ANamedMeshIsAlsoTheDevice) {
  EXPECT_EQ(parse_suite_file(module_suite("T3K", Json::array({norm_case()})), "t.json", "").device,
            Device::T3K);
  EXPECT_EQ(parse_suite_file(module_suite("TG", Json::array({norm_case()})), "t.json", "").mesh,
            (Mesh{8, 4}));
  // "1x8" is T3K's mesh, so T3K's defaults; a mesh no device has keeps N150's unless told.
  EXPECT_EQ(parse_suite_file(module_suite("1x8", Json::array({norm_case()})), "t.json", "").device,
            Device::T3K);
  Json other = module_suite("2x4", Json::array({norm_case()}));
  EXPECT_EQ(parse_suite_file(other, "t.json", "").device, Device::N150);
  other["device"] = "T3K";
  EXPECT_EQ(parse_suite_file(other, "t.json", "").device, Device::T3K);
}

TEST(SuiteMesh, BadMeshNamesTheFileAndTheField) {
  EXPECT_THAT(error_of(module_suite("T9K", Json::array({norm_case()}))),
              HasSubstr("suites/tiny.json: /mesh: "));
  EXPECT_THAT(error_of(module_suite("T9K", Json::array({norm_case()}))), HasSubstr("T9K"));
  EXPECT_THAT(error_of(module_suite(8, Json::array({norm_case()}))),
              HasSubstr("suites/tiny.json: /mesh: expected a string"));
  Json mismatch = module_suite("T3K", Json::array({norm_case()}));
  mismatch["device"] = "TG";
  EXPECT_THAT(error_of(mismatch),
              HasSubstr("suites/tiny.json: /device: device TG does not match the mesh T3K"));
}

TEST(SuiteMesh, ModulesRunTheirTensorParallelKinds) {
  const Json cases = {{{"module", "layers.*.ffn"}, {"mode", "decode"}},
                      {{"module", "lm_head"}, {"mode", "decode"}},
                      {{"module", "layers.*.ffn_norm"}, {"mode", "decode"}}};
  const SuiteFile file = parse_suite_file(module_suite("N300", cases), "t.json", "");
  ASSERT_EQ(file.cases.size(), 3u);
  EXPECT_EQ(file.cases[0].block, "tp_gated_mlp");
  EXPECT_EQ(file.cases[0].spec.at("mesh"), "N300");
  EXPECT_EQ(file.cases[0].spec.at("axis"), 1);
  EXPECT_EQ(file.cases[0].spec.at("mlp").at("ffn_dim"), 128);
  EXPECT_EQ(file.cases[0].id, "ffn.decode");  // The same ids as on one device.
  EXPECT_EQ(file.cases[1].block, "tp_lm_head");
  EXPECT_EQ(file.cases[1].spec.at("lm_head").at("vocab_size"), 96);
  EXPECT_EQ(file.cases[2].block, "rms_norm");  // Norms run replicated: the single-device kind.
  // On one device the modules keep their kinds and Specs (no "mesh" field written).
  const SuiteFile single = parse_suite_file(module_suite(nullptr, cases), "t.json", "");
  EXPECT_EQ(single.cases[0].block, "gated_mlp");
  EXPECT_FALSE(single.cases[0].spec.contains("mesh"));
}

TEST(SuiteMesh, AMeshThatDoesNotDivideAShardedDimensionNamesBoth) {
  // 3 devices do not divide the FFN's 128 columns.
  const std::string error = error_of(
      module_suite("1x3", Json::array({{{"module", "layers.*.ffn"}, {"mode", "decode"}}})));
  EXPECT_THAT(error, HasSubstr("suites/tiny.json: /cases/0/module: "));
  EXPECT_THAT(error, HasSubstr("mesh 1x3"));
  EXPECT_THAT(error, HasSubstr("ffn_dim 128"));
}

TEST(SuiteMesh, MeshKindsTakeTheSuitesMesh) {
  const Json explicit_case = {{"block", "tp_gated_mlp"},
                              {"mode", "decode"},
                              {"spec", {{"mlp", {{"hidden_dim", 64}, {"ffn_dim", 256}}}}}};
  const SuiteFile file =
      parse_suite_file(module_suite("T3K", Json::array({explicit_case})), "t.json", "");
  EXPECT_EQ(file.cases[0].spec.at("mesh"), "T3K");
  Json other = explicit_case;
  other["spec"]["mesh"] = "N300";
  EXPECT_THAT(error_of(module_suite("T3K", Json::array({other}))),
              HasSubstr("suites/tiny.json: /cases/0/spec/mesh: mesh N300 is not the suite's "
                        "mesh T3K"));
}

// Every module of the tiny Llama in both modes on N300 (1x2): the suite runs its tensor-parallel
// kinds on seeded mesh inputs (decode attention too, with a KV cache per device), its results name
// the mesh, and ttt compose adds them up into the model's latency and logits accuracy on that mesh.
TEST(SuiteMesh, ATinyMeshSuiteRunsAndComposes) {
  Json cases = Json::array();
  for (const char* mode : {"prefill", "decode"}) {
    for (const char* module : {"embedding", "layers.*.attention_norm", "layers.*.attention",
                               "layers.*.ffn_norm", "layers.*.ffn", "norm", "lm_head"}) {
      cases.push_back({{"module", module}, {"mode", mode}});
    }
  }
  const SuiteFile file = parse_suite_file(module_suite("N300", cases), "tiny.json", "");
  std::vector<std::string> kinds;
  for (const SuiteFileCase& c : file.cases) kinds.push_back(c.block);
  EXPECT_EQ(kinds, (std::vector<std::string>{"tp_embedding", "rms_norm", "tp_attention", "rms_norm",
                                             "tp_gated_mlp", "rms_norm", "tp_lm_head",
                                             "tp_embedding", "rms_norm", "tp_attention", "rms_norm",
                                             "tp_gated_mlp", "rms_norm", "tp_lm_head"}));
  SuiteRunOptions options;
  options.cold_caches = false;
  const RunResults results = make_suite(file, options).run();
  ASSERT_EQ(results.suites.size(), 1u);
  EXPECT_EQ(results.suites[0].mesh, "N300");
  for (const CaseResult& result : results.suites[0].cases) {
    EXPECT_EQ(result.status, CaseStatus::pass) << result.id << ": " << result.error;
    EXPECT_EQ(result.device, "N300") << result.id;
  }
  // The results file says which topology the suite ran on, and reads back.
  const Json written = to_json(results);
  EXPECT_EQ(written.at("suites").at(0).at("mesh"), "N300");
  EXPECT_EQ(run_results_from_json(written).suites.at(0).mesh, "N300");

  const Composition composition = compose(file, results, {});
  EXPECT_EQ(composition.mesh, "N300");
  EXPECT_EQ(composition.device, "N300");
  for (const auto* prediction : {&composition.prefill, &composition.decode}) {
    ASSERT_TRUE(prediction->has_value());
    EXPECT_TRUE((*prediction)->complete());
    EXPECT_GT((*prediction)->pcc, 0.99);
    EXPECT_LE((*prediction)->pcc, 1.0);
  }
  EXPECT_EQ(to_json(composition).at("mesh"), "N300");
}

}  // namespace
}  // namespace ttt
