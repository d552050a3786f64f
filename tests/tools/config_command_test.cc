// `ttt config dump|diff` run as subprocesses: the dump of a small Llama (every module in both
// modes, fingerprints per shape bucket), the demo's dump and trace carrying the same, the fields
// a diff names, and bad input (exit 2).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/common/scratch_dir.h"
#include "tests/tools/cli_run.h"
#include "tests/tools/small_llama.h"
#include "validation/trace/trace_reader.h"

namespace ttt {
namespace {

using cli_test::read_text;
using cli_test::run_ttt;
using cli_test::RunResult;
using ::testing::HasSubstr;

class ConfigCommand : public ::testing::Test {
 protected:
  void SetUp() override { config_ = write_json("config.json", cli_test::small_llama_config()); }

  RunResult ttt(std::vector<std::string> args) { return run_ttt(scratch_.path(), args); }

  std::string write_json(const std::string& name, const nlohmann::json& json) {
    const std::string path = scratch_.file(name);
    std::ofstream(path) << json.dump(2);
    return path;
  }

  // `ttt config dump` of the small model with `extra` flags, written to `name` and parsed.
  nlohmann::json dump(const std::string& name, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "config",          "dump", "--config",       config_, "-o", scratch_.file(name),
        "--prompt-tokens", "8",    "--decode-steps", "3"};
    args.insert(args.end(), extra.begin(), extra.end());
    const RunResult run = ttt(args);
    EXPECT_EQ(run.exit_code, 0) << run.err;
    return nlohmann::json::parse(read_text(scratch_.file(name)));
  }

  static const nlohmann::json& entry(const nlohmann::json& dump, const std::string& module,
                                     const std::string& mode) {
    for (const nlohmann::json& e : dump.at("modules")) {
      if (e.at("module") == module && e.at("mode") == mode) return e;
    }
    throw std::runtime_error("no module " + module + " " + mode);
  }

  test_support::ScratchDir scratch_;
  std::string config_;
};

TEST_F(ConfigCommand, DumpListsEveryModuleInBothModes) {
  const nlohmann::json run = dump("dump.json");
  EXPECT_EQ(run.at("ttt_config_dump"), 1);
  EXPECT_EQ(run.at("tttv2_version"), "2.0.0");
  EXPECT_EQ(run.at("fingerprint_version"), "2.0");
  EXPECT_EQ(run.at("device"), "N150");
  EXPECT_EQ(run.at("mesh"), "1x1");
  EXPECT_EQ(run.at("preset"), "none");
  EXPECT_EQ(run.at("shapes"),
            nlohmann::json({{"batch", 1}, {"prompt_tokens", 8}, {"decode_steps", 3}}));
  EXPECT_EQ(run.at("model").at("spec").at("layers").size(), 2u);
  // embedding, 2 layers x (attention_norm, attention, ffn_norm, ffn), norm, lm_head; two modes.
  ASSERT_EQ(run.at("modules").size(), 22u);
  EXPECT_EQ(run.at("modules").at(0).at("module"), "embedding");
  EXPECT_EQ(run.at("modules").at(21).at("module"), "lm_head");

  const nlohmann::json& ffn = entry(run, "layers.1.ffn", "decode");
  EXPECT_EQ(ffn.at("kind"), "gated_mlp");
  EXPECT_EQ(ffn.at("spec").at("hidden_dim"), 128);
  EXPECT_EQ(ffn.at("spec").at("ffn_dim"), 256);
  EXPECT_FALSE(ffn.at("impl_config").empty());
  EXPECT_THAT(ffn.at("identity").get<std::string>(), HasSubstr("GATED_MLP"));
  // A decode FFN does not read the context: one fingerprint for the 3 steps.
  ASSERT_EQ(ffn.at("fingerprints").size(), 1u);
  EXPECT_THAT(ffn.at("fingerprints").at(0).at("summary").get<std::string>(),
              HasSubstr("gated_mlp decode | GATED_MLP("));
  // Decode attention at contexts 8, 9, 10: buckets 8 and 16.
  const nlohmann::json& attention = entry(run, "layers.0.attention", "decode");
  EXPECT_EQ(attention.at("kind"), "attention.decode");
  ASSERT_EQ(attention.at("fingerprints").size(), 2u);
  EXPECT_THAT(attention.at("fingerprints").at(0).at("summary").get<std::string>(),
              HasSubstr("| batch<=1 tokens<=8 | 1x1"));
  EXPECT_THAT(attention.at("fingerprints").at(1).at("summary").get<std::string>(),
              HasSubstr("| batch<=1 tokens<=16 | 1x1"));
  // Prefill of 8 tokens.
  EXPECT_THAT(entry(run, "layers.0.attention", "prefill")
                  .at("fingerprints")
                  .at(0)
                  .at("summary")
                  .get<std::string>(),
              HasSubstr("attention.prefill | ATTENTION("));

  // Standard output by default.
  const RunResult to_stdout =
      ttt({"config", "dump", "--config", config_, "--prompt-tokens", "8", "--decode-steps", "3"});
  ASSERT_EQ(to_stdout.exit_code, 0) << to_stdout.err;
  EXPECT_EQ(nlohmann::json::parse(to_stdout.out), run);
}

TEST_F(ConfigCommand, DemoWritesItsDumpAndItsTraceCarriesIt) {
  const nlohmann::json expected = dump("dump.json");
  const std::string out = scratch_.file("demo");
  const RunResult demo = ttt({"demo", "--out-dir", out, "--config", config_, "--prompt-tokens", "8",
                              "--decode-steps", "3", "--quiet"});
  ASSERT_EQ(demo.exit_code, 0) << demo.out << demo.err;
  EXPECT_THAT(demo.out, HasSubstr(out + "/config.json"));
  EXPECT_EQ(nlohmann::json::parse(read_text(out + "/config.json")), expected);

  const RunResult same = ttt({"config", "diff", scratch_.file("dump.json"), out + "/trace.h5"});
  EXPECT_EQ(same.exit_code, 0) << same.out << same.err;
  EXPECT_THAT(same.out, HasSubstr("are the same"));

  // Every call of the trace carries a fingerprint the dump lists for its module and mode.
  std::map<std::string, std::set<std::string>> ids;  // "layers.0.ffn.decode" -> ids
  for (const nlohmann::json& e : expected.at("modules")) {
    for (const nlohmann::json& fp : e.at("fingerprints")) {
      ids[e.at("module").get<std::string>() + "." + e.at("mode").get<std::string>()].insert(
          fp.at("id").get<std::string>());
    }
  }
  const TraceReader trace = TraceReader::open(out + "/trace.h5");
  EXPECT_FALSE(trace.header().config_json.empty());
  std::size_t calls = 0;
  for (const std::int64_t seq : trace.sequence_numbers()) {
    const TraceCall call = trace.call(seq);
    ASSERT_TRUE(call.fingerprint.has_value()) << call.name;
    EXPECT_EQ(ids[call.name].count(call.fingerprint->id), 1u) << call.name;
    ++calls;
  }
  EXPECT_EQ(calls, 44u);  // 4 forward passes of 11 module calls.

  // ttt inspect shows a call's fingerprint and that the trace has a dump.
  const RunResult inspect = ttt({"inspect", out + "/trace.h5", "--call", "0"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_THAT(inspect.out, HasSubstr("  fingerprint  "));
  const RunResult summary = ttt({"inspect", out + "/trace.h5"});
  EXPECT_THAT(summary.out, HasSubstr("config: the run's configuration dump"));
}

TEST_F(ConfigCommand, DiffNamesEveryDifferingFieldWithItsModule) {
  nlohmann::json a = dump("a.json");
  // A hand-edited copy: one ImplConfig leaf of one module changed.
  nlohmann::json b = a;
  nlohmann::json& ffn = b.at("modules").at(0);
  ASSERT_EQ(ffn.at("module"), "embedding");
  std::string field;
  for (auto& [key, value] : ffn.at("impl_config").items()) {
    if (value.is_string()) {
      field = key;
      value = "changed";
      break;
    }
  }
  ASSERT_FALSE(field.empty()) << ffn.at("impl_config").dump();
  const std::string old_value = a.at("modules").at(0).at("impl_config").at(field).dump();
  const std::string b_path = write_json("b.json", b);
  const RunResult run = ttt({"config", "diff", scratch_.file("a.json"), b_path});
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_THAT(run.out, HasSubstr("1 difference (A "));
  EXPECT_THAT(run.out, HasSubstr("  embedding prefill: impl_config." + field + ": " + old_value +
                                 " -> \"changed\"\n"));

  const RunResult json = ttt({"config", "diff", scratch_.file("a.json"), b_path, "--json", "-"});
  EXPECT_EQ(json.exit_code, 1);
  const nlohmann::json differences = nlohmann::json::parse(json.out).at("differences");
  ASSERT_EQ(differences.size(), 1u);
  EXPECT_EQ(differences[0].at("module"), "embedding prefill");
  EXPECT_EQ(differences[0].at("field"), "impl_config." + field);
  EXPECT_EQ(differences[0].at("b"), "changed");

  // Another preset changes the run-level field and ImplConfigs, named by module.
  dump("performance.json", {"--preset", "performance"});
  const RunResult preset =
      ttt({"config", "diff", scratch_.file("a.json"), scratch_.file("performance.json")});
  EXPECT_EQ(preset.exit_code, 1);
  EXPECT_THAT(preset.out, HasSubstr("  preset: \"none\" -> \"performance\"\n"));
  EXPECT_THAT(preset.out, HasSubstr("  layers.0.ffn decode: impl_config."));
}

TEST_F(ConfigCommand, DiffOfAnotherModelNamesModulesOnlyOneHas) {
  nlohmann::json three = cli_test::small_llama_config();
  three["num_hidden_layers"] = 3;
  const std::string path = write_json("three.json", three);
  dump("two.json");
  const RunResult dumped =
      ttt({"config", "dump", "--config", path, "-o", scratch_.file("three_dump.json"),
           "--prompt-tokens", "8", "--decode-steps", "3"});
  ASSERT_EQ(dumped.exit_code, 0) << dumped.err;
  const RunResult run =
      ttt({"config", "diff", scratch_.file("two.json"), scratch_.file("three_dump.json")});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.out, HasSubstr("  layers.2.ffn decode: only in B\n"));
  EXPECT_THAT(run.out, HasSubstr("  model.spec.layers[2]"));
}

TEST_F(ConfigCommand, BadInputNamesTheFileAndField) {
  const nlohmann::json good = dump("good.json");
  const std::string good_path = scratch_.file("good.json");

  const RunResult missing = ttt({"config", "diff", scratch_.file("nothing.json"), good_path});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("nothing.json"));

  const std::string other = write_json("other.json", {{"cases", nlohmann::json::array()}});
  const RunResult not_dump = ttt({"config", "diff", good_path, other});
  EXPECT_EQ(not_dump.exit_code, 2);
  EXPECT_THAT(not_dump.err, HasSubstr("other.json: /: not a configuration dump (no "
                                      "ttt_config_dump key)"));

  nlohmann::json wrong_type = good;
  wrong_type["modules"][3]["spec"] = 3;
  const RunResult mistyped =
      ttt({"config", "diff", good_path, write_json("mistyped.json", wrong_type)});
  EXPECT_EQ(mistyped.exit_code, 2);
  EXPECT_THAT(mistyped.err, HasSubstr("mistyped.json: /modules/3/spec: expected an object"));

  nlohmann::json unknown = good;
  unknown["modules"][0]["colour"] = "blue";
  const RunResult unknown_field =
      ttt({"config", "diff", write_json("unknown.json", unknown), good_path});
  EXPECT_EQ(unknown_field.exit_code, 2);
  EXPECT_THAT(unknown_field.err, HasSubstr("unknown.json: /modules/0/colour: unknown field"));

  nlohmann::json newer = good;
  newer["ttt_config_dump"] = 99;
  const RunResult too_new = ttt({"config", "diff", write_json("newer.json", newer), good_path});
  EXPECT_EQ(too_new.exit_code, 2);
  EXPECT_THAT(too_new.err, HasSubstr("newer.json: /ttt_config_dump: format version 99 is newer"));

  // A trace without a dump (written before dumps existed).
  const std::string old_trace = std::string(TTT_TEST_DATA_DIR) + "/interop_trace.h5";
  const RunResult no_dump = ttt({"config", "diff", old_trace, good_path});
  EXPECT_EQ(no_dump.exit_code, 2);
  EXPECT_THAT(no_dump.err, HasSubstr("interop_trace.h5: the trace carries no configuration dump"));

  const RunResult bad_config =
      ttt({"config", "dump", "--config", scratch_.file("absent_config.json")});
  EXPECT_EQ(bad_config.exit_code, 2);
  EXPECT_THAT(bad_config.err, HasSubstr("absent_config.json"));

  const RunResult bad_mesh = ttt({"config", "dump", "--config", config_, "--mesh", "3y"});
  EXPECT_EQ(bad_mesh.exit_code, 2);
  EXPECT_THAT(bad_mesh.err, HasSubstr("3y"));
}

}  // namespace
}  // namespace ttt
