// Process-wide switches: the filter syntax, sampling, the API and the environment variables.
#include "validation/wrapper/switches.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace ttt {
namespace {

// Every test starts and ends with the variables unset and the defaults loaded.
class SwitchesTest : public ::testing::Test {
 protected:
  void SetUp() override { Restore(); }
  void TearDown() override { Restore(); }
  static void Restore() {
    for (const char* name :
         {"TTT_VALIDATE", "TTT_VALIDATE_FILTER", "TTT_VALIDATE_EVERY", "TTT_VALIDATE_FIRST"}) {
      unsetenv(name);
    }
    reload_validation_settings_from_environment();
  }
  static std::string reload_error() {
    try {
      reload_validation_settings_from_environment();
    } catch (const std::invalid_argument& error) {
      return error.what();
    }
    return "no error";
  }
};

TEST(FilterMatches, AThingWithSeveralNamesIsSelectedByAnyAndExcludedByAny) {
  EXPECT_TRUE(filter_matches_any("llama/*", {"ffn.decode", "llama/ffn.decode"}));
  EXPECT_TRUE(filter_matches_any("ffn.*", {"ffn.decode", "llama/ffn.decode"}));
  EXPECT_FALSE(filter_matches_any("attention.*", {"ffn.decode", "llama/ffn.decode"}));
  EXPECT_FALSE(filter_matches_any("-ffn.*", {"ffn.decode", "llama/ffn.decode"}));
  EXPECT_FALSE(filter_matches_any("llama/*,-*.decode", {"ffn.decode", "llama/ffn.decode"}));
  EXPECT_TRUE(filter_matches_any("-ffn.*", {"attention.decode", "llama/attention.decode"}));
}

TEST(FilterMatches, GlobsIncludeAndDashGlobsExclude) {
  EXPECT_TRUE(filter_matches("*", "layers.0.mlp"));
  EXPECT_TRUE(filter_matches("", "anything"));
  EXPECT_TRUE(filter_matches("layers.*", "layers.0.mlp"));
  EXPECT_FALSE(filter_matches("layers.*", "embed"));
  EXPECT_TRUE(filter_matches("layers.?.mlp", "layers.3.mlp"));
  EXPECT_FALSE(filter_matches("layers.?.mlp", "layers.13.mlp"));
  EXPECT_TRUE(filter_matches("layers.[0-2].*", "layers.2.attention"));
  EXPECT_FALSE(filter_matches("layers.[0-2].*", "layers.3.attention"));
  EXPECT_TRUE(filter_matches("embed,lm_head", "lm_head"));
  EXPECT_FALSE(filter_matches("layers.*,-layers.*.mlp", "layers.0.mlp"));
  EXPECT_TRUE(filter_matches("layers.*,-layers.*.mlp", "layers.0.attention"));
  EXPECT_FALSE(filter_matches("-*.mlp", "layers.0.mlp"));
  EXPECT_TRUE(filter_matches("-*.mlp", "embed"));  // Only exclusions: everything else passes.
  EXPECT_THROW(filter_matches("a,,b", "a"), std::invalid_argument);
  EXPECT_THROW(filter_matches("a,-", "a"), std::invalid_argument);
}

TEST(Sampled, EveryNthAndFirstN) {
  EXPECT_TRUE(sampled(0, {}));
  EXPECT_TRUE(sampled(12345, {}));
  EXPECT_TRUE(sampled(0, {.every = 4}));
  EXPECT_FALSE(sampled(3, {.every = 4}));
  EXPECT_TRUE(sampled(8, {.every = 4}));
  EXPECT_TRUE(sampled(1, {.first = 2}));
  EXPECT_FALSE(sampled(2, {.first = 2}));
  EXPECT_TRUE(sampled(4, {.every = 2, .first = 5}));
  EXPECT_FALSE(sampled(6, {.every = 2, .first = 5}));
}

TEST_F(SwitchesTest, DefaultsAreOnEverythingEveryCall) {
  EXPECT_TRUE(validation_enabled());
  EXPECT_EQ(validation_filter(), "*");
  EXPECT_EQ(validation_sampling().every, 1);
  EXPECT_EQ(validation_sampling().first, 0);
}

TEST_F(SwitchesTest, ApiOverridesAndEnvironmentReloads) {
  set_validation_enabled(false);
  EXPECT_FALSE(validation_enabled());
  set_validation_filter("embed");
  EXPECT_EQ(validation_filter(), "embed");
  set_validation_filter("");
  EXPECT_EQ(validation_filter(), "*");
  set_validation_sampling({.every = 3, .first = 9});
  EXPECT_EQ(validation_sampling().every, 3);
  EXPECT_EQ(validation_sampling().first, 9);
  EXPECT_THROW(set_validation_sampling({.every = 0}), std::invalid_argument);
  EXPECT_THROW(set_validation_sampling({.first = -1}), std::invalid_argument);
  EXPECT_THROW(set_validation_filter("a,,b"), std::invalid_argument);
  EXPECT_EQ(validation_filter(), "*");  // Unchanged by the rejected filter.
}

TEST_F(SwitchesTest, EnvironmentVariablesSetEverything) {
  setenv("TTT_VALIDATE", "0", 1);
  setenv("TTT_VALIDATE_FILTER", "layers.*,-layers.*.mlp", 1);
  setenv("TTT_VALIDATE_EVERY", "4", 1);
  setenv("TTT_VALIDATE_FIRST", "100", 1);
  reload_validation_settings_from_environment();
  EXPECT_FALSE(validation_enabled());
  EXPECT_EQ(validation_filter(), "layers.*,-layers.*.mlp");
  EXPECT_EQ(validation_sampling().every, 4);
  EXPECT_EQ(validation_sampling().first, 100);
  setenv("TTT_VALIDATE", "1", 1);
  reload_validation_settings_from_environment();
  EXPECT_TRUE(validation_enabled());
}

TEST_F(SwitchesTest, MalformedVariablesAreNamedAndChangeNothing) {
  set_validation_enabled(false);
  setenv("TTT_VALIDATE_FILTER", "embed", 1);
  setenv("TTT_VALIDATE", "yes", 1);
  EXPECT_EQ(reload_error(), "[TTT_VALIDATE] expected 0 or 1, got \"yes\"");
  EXPECT_FALSE(validation_enabled());
  EXPECT_EQ(validation_filter(), "*");
  unsetenv("TTT_VALIDATE");

  setenv("TTT_VALIDATE_EVERY", "0", 1);
  EXPECT_EQ(reload_error(), "[TTT_VALIDATE_EVERY] expected an integer >= 1, got \"0\"");
  setenv("TTT_VALIDATE_EVERY", "2x", 1);
  EXPECT_EQ(reload_error(), "[TTT_VALIDATE_EVERY] expected an integer >= 1, got \"2x\"");
  unsetenv("TTT_VALIDATE_EVERY");
  setenv("TTT_VALIDATE_FIRST", "-3", 1);
  EXPECT_EQ(reload_error(), "[TTT_VALIDATE_FIRST] expected an integer >= 0, got \"-3\"");
  unsetenv("TTT_VALIDATE_FIRST");
  setenv("TTT_VALIDATE_FILTER", "a,,b", 1);
  EXPECT_THAT(reload_error(),
              ::testing::StartsWith("[validation filter] \"a,,b\" has an empty glob"));
}

TEST_F(SwitchesTest, EmptyVariablesMeanUnset) {
  setenv("TTT_VALIDATE", "", 1);
  setenv("TTT_VALIDATE_FILTER", "", 1);
  reload_validation_settings_from_environment();
  EXPECT_TRUE(validation_enabled());
  EXPECT_EQ(validation_filter(), "*");
}

}  // namespace
}  // namespace ttt
