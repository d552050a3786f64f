// validation/input/json_reader.h: the one strict JSON reader. Every error is
// "<source>: <JSON Pointer>: <what>"; the expected messages below are written out by hand.
#include "validation/input/json_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "validation/input/input_file.h"

namespace ttt {
namespace {

// The message `read` throws, or "" when it does not throw.
template <typename Read>
std::string error_of(Read read) {
  try {
    read();
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "";
}

const nlohmann::json kSuite = nlohmann::json::parse(R"({
  "name": "llama",
  "cases": [{"spec": {"num_heads": "32", "hidden_dim": 4096}}, {"prest": 1}],
  "a/b": {"c~d": true}
})");

TEST(JsonReader, ReadsTypedValuesAlongAPath) {
  const JsonNode root(kSuite, "suite.json");
  EXPECT_EQ(root.at("name").string(), "llama");
  const JsonNode spec = root.at("cases").at(0).at("spec");
  EXPECT_EQ(spec.path(), "/cases/0/spec");
  EXPECT_EQ(spec.at("hidden_dim").integer(), 4096);
  EXPECT_EQ(spec.at("hidden_dim").number(), 4096.0);
  EXPECT_EQ(spec.at("hidden_dim").integer_in(1, 8192), 4096);
  EXPECT_FALSE(root.find("missing").has_value());
  EXPECT_TRUE(root.has("cases"));
  EXPECT_EQ(root.at("cases").size(), 2u);
}

TEST(JsonReader, WrongTypeNamesFileAndNestedPath) {
  const JsonNode root(kSuite, "suite.json");
  EXPECT_EQ(error_of([&] { root.at("cases").at(0).at("spec").at("num_heads").integer(); }),
            "suite.json: /cases/0/spec/num_heads: expected an integer, got \"32\"");
  EXPECT_EQ(error_of([&] { root.at("name").boolean(); }),
            "suite.json: /name: expected a boolean, got \"llama\"");
  EXPECT_EQ(error_of([&] { root.at("cases").at(5); }),
            "suite.json: /cases: index 5 out of range");
  EXPECT_EQ(error_of([&] { root.at("name").at("x"); }),
            "suite.json: /name: expected an object, got \"llama\"");
}

TEST(JsonReader, MissingRequiredFieldNamesItsParent) {
  const JsonNode root(kSuite, "suite.json");
  EXPECT_EQ(error_of([&] { root.at("cases").at(1).at("preset"); }),
            "suite.json: /cases/1: missing field 'preset'");
}

TEST(JsonReader, UnknownFieldNamesItAndTheAllowedOnes) {
  const JsonNode root(kSuite, "suite.json");
  EXPECT_EQ(error_of([&] { root.at("cases").at(1).allow_only({"name", "preset"}); }),
            "suite.json: /cases/1/prest: unknown field 'prest' (expected one of: name, preset)");
  EXPECT_EQ(error_of([&] { root.allow_only({"name", "cases", "a/b"}); }), "");
}

TEST(JsonReader, EscapesKeysAsJsonPointer) {
  const JsonNode root(kSuite, "suite.json");
  EXPECT_EQ(error_of([&] { root.at("a/b").at("c~d").string(); }),
            "suite.json: /a~1b/c~0d: expected a string, got true");
}

TEST(JsonReader, RootAndUnnamedSourcePrintPlainly) {
  EXPECT_EQ(error_of([&] { JsonNode(nlohmann::json(3), "x.json").string(); }),
            "x.json: /: expected a string, got 3");
  EXPECT_EQ(error_of([&] { JsonNode(nlohmann::json(3), "").string(); }),
            "/: expected a string, got 3");
}

TEST(JsonReader, IntegersAreCheckedBeforeNarrowing) {
  const nlohmann::json big = nlohmann::json::parse("18446744073709551615");
  EXPECT_EQ(error_of([&] { JsonNode(big, "f").integer(); }),
            "f: /: integer 18446744073709551615 is out of range (at most 9223372036854775807)");
  const nlohmann::json wraps = nlohmann::json::parse("4294967305");  // 2^32 + 9
  EXPECT_EQ(error_of([&] { JsonNode(wraps, "f").integer_in(0, 2147483647); }),
            "f: /: expected an integer from 0 to 2147483647, got 4294967305");
  EXPECT_EQ(error_of([&] { JsonNode(nlohmann::json(1), "f").integer_at_least(2); }),
            "f: /: expected an integer >= 2, got 1");
}

// A document built in-process (parse_json already refuses deeper text) is held to the same
// limit: descending past kMaxJsonDepth levels fails instead of recursing on.
TEST(JsonReader, RefusesToDescendPastTheDepthLimit) {
  nlohmann::json deep = 1;
  for (int i = 0; i < kMaxJsonDepth + 1; ++i) deep = nlohmann::json::array({deep});
  JsonNode node(deep, "deep.json");
  for (int i = 0; i < kMaxJsonDepth; ++i) node = node.at(0);
  const std::string message = error_of([&] { node.at(0); });
  EXPECT_THAT(message, ::testing::StartsWith("deep.json: /0/0/0/"));
  EXPECT_THAT(message, ::testing::EndsWith(": nested deeper than 128 levels"));
}

}  // namespace
}  // namespace ttt
