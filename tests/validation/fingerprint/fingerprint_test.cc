// validation/fingerprint: canonical JSON, token buckets, and fingerprint ids (which parts change
// an id, which spellings do not, and one golden id that pins the scheme).
#include "validation/fingerprint/fingerprint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

TEST(CanonicalJson, SortsKeysAndDropsSpaces) {
  const nlohmann::json value =
      nlohmann::json::parse(R"({ "b": {"z": 1, "a": [true, null, "x\"y"]}, "a": -3 })");
  EXPECT_EQ(canonical_json(value), R"({"a":-3,"b":{"a":[true,null,"x\"y"],"z":1}})");
}

TEST(CanonicalJson, OneSpellingPerNumber) {
  EXPECT_EQ(canonical_json(nlohmann::json::parse("1")), "1");
  EXPECT_EQ(canonical_json(nlohmann::json::parse("1.0")), "1");
  EXPECT_EQ(canonical_json(nlohmann::json::parse("1e0")), "1");
  EXPECT_EQ(canonical_json(nlohmann::json::parse("10000.0")), "10000");
  EXPECT_EQ(canonical_json(nlohmann::json::parse("1e4")), "10000");
  EXPECT_EQ(canonical_json(nlohmann::json::parse("-2.0")), "-2");
  EXPECT_EQ(canonical_json(nlohmann::json::parse("-0.0")), "0");
  EXPECT_EQ(canonical_json(nlohmann::json::parse("0.5")), "0.5");
  EXPECT_EQ(canonical_json(nlohmann::json::parse("5e-1")), "0.5");
  EXPECT_EQ(canonical_json(nlohmann::json::parse("1e-5")), "1e-05");
  EXPECT_EQ(canonical_json(nlohmann::json::parse("0.00001")), "1e-05");
  // 2^53 is the largest magnitude up to which every integer is a double.
  EXPECT_EQ(canonical_json(nlohmann::json::parse("9007199254740992.0")), "9007199254740992");
  EXPECT_EQ(canonical_json(nlohmann::json::parse("18014398509481984.0")), "1.8014398509481984e+16");
  EXPECT_EQ(canonical_json(nlohmann::json::parse("18446744073709551615")), "18446744073709551615");
}

TEST(TokenBucket, RoundsUpToPowersOfTwo) {
  EXPECT_EQ(token_bucket(-5), 0);
  EXPECT_EQ(token_bucket(0), 0);
  EXPECT_EQ(token_bucket(1), 1);
  EXPECT_EQ(token_bucket(2), 2);
  EXPECT_EQ(token_bucket(3), 4);
  EXPECT_EQ(token_bucket(100), 128);
  EXPECT_EQ(token_bucket(128), 128);
  EXPECT_EQ(token_bucket(129), 256);
  EXPECT_EQ(token_bucket(4097), 8192);
}

FingerprintParts norm_parts() {
  FingerprintParts parts;
  parts.kind = "rms_norm";
  parts.mode = "decode";
  parts.spec = {{"dim", 4096}, {"eps", 1e-5}};
  parts.impl_config = {{"weight_dtype", "bfloat8_b"}, {"fidelity", "HiFi4"}};
  parts.identity = "RMS_NORM(dim=4096,eps=1e-05)";
  parts.batch = 3;
  parts.tokens = 100;
  parts.mesh = "1x1";
  return parts;
}

TEST(MakeFingerprint, GoldenIdPinsTheScheme) {
  // The FNV-1a 64 of the canonical parts
  //   {"batch":4,"impl_config":{"fidelity":"HiFi4","weight_dtype":"bfloat8_b"},"kind":"rms_norm",
  //    "mesh":"1x1","mode":"decode","scheme":"ttt-fingerprint-1","spec":{"dim":4096,"eps":1e-05},
  //    "tokens":128,"version":"2.0"}
  // computed outside TTTv2 (a few lines of Python). It changes only with kFingerprintScheme or
  // TTTv2's major.minor version: update it then, and only then.
  ASSERT_EQ(std::string(kFingerprintScheme), "ttt-fingerprint-1");
  ASSERT_EQ(fingerprint_version(), "2.0");
  const Fingerprint fingerprint = make_fingerprint(norm_parts());
  EXPECT_EQ(fingerprint.id, "aa7a6936cd7ac866");
  EXPECT_EQ(fingerprint.summary,
            "rms_norm decode | RMS_NORM(dim=4096,eps=1e-05) | batch<=4 tokens<=128 | 1x1");
}

TEST(MakeFingerprint, SpellingsOfOneConfigurationHashAlike) {
  FingerprintParts respelled = norm_parts();
  respelled.spec = nlohmann::json::parse(R"({"eps": 0.00001, "dim": 4096.0})");
  respelled.impl_config =
      nlohmann::json::parse(R"({"fidelity":"HiFi4","weight_dtype":"bfloat8_b"})");
  respelled.batch = 4;    // Same bucket as 3.
  respelled.tokens = 65;  // Same bucket as 100.
  EXPECT_EQ(make_fingerprint(respelled).id, make_fingerprint(norm_parts()).id);
}

TEST(MakeFingerprint, IdentityNamesButDoesNotHash) {
  FingerprintParts renamed = norm_parts();
  renamed.identity = "another wording";
  EXPECT_EQ(make_fingerprint(renamed).id, make_fingerprint(norm_parts()).id);
  EXPECT_THAT(make_fingerprint(renamed).summary, HasSubstr("| another wording |"));
  // A kind that names its mode does not say it twice.
  FingerprintParts attention = norm_parts();
  attention.kind = "attention.decode";
  EXPECT_EQ(make_fingerprint(attention).summary.substr(0, 19), "attention.decode | ");
}

TEST(MakeFingerprint, EveryPartChangesTheId) {
  std::set<std::string> ids = {make_fingerprint(norm_parts()).id};
  const auto add = [&](const char* what, void (*change)(FingerprintParts&)) {
    FingerprintParts parts = norm_parts();
    change(parts);
    EXPECT_TRUE(ids.insert(make_fingerprint(parts).id).second) << what;
  };
  add("kind", [](FingerprintParts& p) { p.kind = "layer_norm"; });
  add("mode", [](FingerprintParts& p) { p.mode = "prefill"; });
  add("spec value", [](FingerprintParts& p) { p.spec["eps"] = 1e-6; });
  add("spec field", [](FingerprintParts& p) { p.spec["offset"] = true; });
  add("impl value", [](FingerprintParts& p) { p.impl_config["fidelity"] = "HiFi2"; });
  add("impl nesting", [](FingerprintParts& p) {
    p.impl_config = {{"weight_dtype", "bfloat8_b"}, {"x", {{"fidelity", "HiFi4"}}}};
  });
  add("batch bucket", [](FingerprintParts& p) { p.batch = 5; });
  add("token bucket", [](FingerprintParts& p) { p.tokens = 129; });
  add("mesh", [](FingerprintParts& p) { p.mesh = "1x8"; });
  add("integer vs string", [](FingerprintParts& p) { p.spec["dim"] = "4096"; });
}

TEST(FingerprintJson, RoundTripsAndNamesBadFields) {
  const Fingerprint fingerprint = make_fingerprint(norm_parts());
  const nlohmann::json json = to_json(fingerprint);
  EXPECT_EQ(json, nlohmann::json({{"id", fingerprint.id}, {"summary", fingerprint.summary}}));
  EXPECT_EQ(fingerprint_from_json(JsonNode(json, "r.json", "/fingerprint")), fingerprint);

  const nlohmann::json short_id = {{"id", "abc"}, {"summary", ""}};
  EXPECT_THAT([&] { fingerprint_from_json(JsonNode(short_id, "r.json", "/fp")); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("r.json: /fp/id: expected 16 lower-case hex digits, got \"abc\"")));
  const nlohmann::json extra = {{"id", fingerprint.id}, {"summary", ""}, {"kind", "x"}};
  EXPECT_THAT([&] { fingerprint_from_json(JsonNode(extra, "r.json", "/fp")); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("r.json: /fp/kind: unknown field")));
  const nlohmann::json missing = {{"id", fingerprint.id}};
  EXPECT_THAT([&] { fingerprint_from_json(JsonNode(missing, "r.json", "/fp")); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("missing field 'summary'")));
}

}  // namespace
}  // namespace ttt
