// Fingerprints: a stable name for one block configuration as it runs (docs/fingerprints.md).
//
// A fingerprint hashes what decides a call's numbers: the block kind and mode, the canonical Spec,
// the canonical ImplConfig after defaults and overrides, the token dimensions bucketed as coverage
// buckets them, the mesh, and TTTv2's major.minor version. Two spellings of one configuration
// (field order, 1 vs 1.0 vs 1e0, a default written or left to the block) give one id, because the
// Spec and ImplConfig come from the kind's configure (every field written) and are hashed as
// canonical_json. Block calls, suite cases, coverage records and trace calls carry it, written as
// `"fingerprint": {"id": "...", "summary": "..."}`.
//
//   ttt::Fingerprint fp = ttt::make_fingerprint({.kind = "gated_mlp", .mode = "decode", ...});
//   fp.id       // "3f0c9a51e2d47b86": 16 hex digits
//   fp.summary  // "gated_mlp decode | GATED_MLP(...) | batch<=1 tokens<=128 | 1x1"
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "validation/input/json_reader.h"

namespace ttt {

// The scheme tag mixed into every id. It changes, with TTTv2's major.minor version, exactly when
// ids of unchanged configurations are meant to change (a new part, another canonical form).
inline constexpr const char* kFingerprintScheme = "ttt-fingerprint-1";

// `value` as compact JSON that depends only on its meaning: object keys sorted, no spaces, a
// floating-point number with an integral value of magnitude <= 2^53 written as that integer
// ("1", "1.0" and "1e0" all give 1), any other number in its shortest round-trip form.
std::string canonical_json(const nlohmann::json& value);

// Smallest power of two >= `value` (1 for values <= 1; 0 stays 0): the bucket of a token count
// (batch, seq_len, context_len). Coverage records and fingerprints bucket with it, so that a
// configuration tested at 100 tokens stands for one run at 128.
std::int64_t token_bucket(std::int64_t value);

// What a fingerprint hashes. Fill `spec` and `impl_config` from the kind's configure
// (ConfiguredBlock), never from a file as written: only then are defaults written out.
struct FingerprintParts {
  std::string kind;            // Block kind name: "gated_mlp", "attention.decode", "tp_attention".
  std::string mode;            // "prefill" | "decode".
  nlohmann::json spec;         // Every field, as the block writes it (ConfiguredBlock::spec).
  nlohmann::json impl_config;  // Complete, after defaults and overrides.
  // The readable vars() identity (ConfiguredBlock::identity). In the summary only: it is a
  // function of the Spec, so hashing it again would only tie ids to its wording.
  std::string identity;
  std::int64_t batch = 1;    // Users; bucketed with token_bucket.
  std::int64_t tokens = 0;   // seq_len in prefill, context_len in decode; bucketed.
  std::string mesh = "1x1";  // "RxC".
};

// A configuration's fingerprint.
struct Fingerprint {
  // 16 lowercase hex digits: the 64-bit FNV-1a of the canonical parts, kFingerprintScheme and
  // TTTv2's major.minor.
  std::string id;
  // Readable: "gated_mlp decode | <identity> | batch<=1 tokens<=128 | 1x1" (the mode is left out
  // when the kind names it: "attention.decode | ...").
  std::string summary;
  bool operator==(const Fingerprint&) const = default;
};

// The fingerprint of `parts`.
Fingerprint make_fingerprint(const FingerprintParts& parts);

// TTTv2's "major.minor", the version part of every id.
const std::string& fingerprint_version();

// {"id": ..., "summary": ...}, the one JSON spelling.
nlohmann::json to_json(const Fingerprint& fingerprint);
// Inverse, for the readers of results, records and dumps. Throws std::invalid_argument naming the
// node's file and path for an unknown or missing field, or an id that is not 16 lower-case hex
// digits ("r.json: /suites/0/cases/2/fingerprint/id: expected 16 lower-case hex digits, ...").
Fingerprint fingerprint_from_json(const JsonNode& node);

}  // namespace ttt
