// The fingerprint registry: a checked-in, reviewed file (suites/registry/registry.json) that maps
// each block configuration's fingerprint (validation/fingerprint) to its evidence: the suite cases
// that run it and their last accepted results (accuracy, latency, machine, commit, date).
// docs/fingerprints.md "Registry" describes the format.
//
//   ttt::Registry registry = ttt::load_registry("suites/registry/registry.json");
//   for (const std::string& line : ttt::check_registry(registry)) std::cerr << line << "\n";
//   ttt::update_registry(registry, ttt::load_run_results("R.json"), "R.json");
//   ttt::write_registry(registry);
//
// A model run asks it which of its configurations have no evidence (find_misses): each miss comes
// with the suite-file case that would give it evidence.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "suites/suite/results.h"
#include "validation/fingerprint/fingerprint.h"
#include "validation/trace/trace_reader.h"

namespace ttt {

// The registry file's "format" and "format_version".
inline constexpr std::string_view kRegistryFormat = "ttt-fingerprint-registry";
inline constexpr int kRegistryFormatVersion = 1;

// The canonical configuration a fingerprint was computed from: the FingerprintParts (without the
// identity, which the Spec determines) and the device whose defaults the ImplConfig came from.
struct RegistryConfig {
  std::string kind;  // A block kind: "gated_mlp", "attention.decode", "tp_lm_head".
  std::string mode;  // "prefill" | "decode".
  std::string device = "N150";
  std::string mesh = "1x1";  // "RxC".
  std::int64_t batch = 1;    // Token buckets (token_bucket), as hashed.
  std::int64_t tokens = 0;
  nlohmann::json spec = nlohmann::json::object();         // Every field, as the block writes it.
  nlohmann::json impl_config = nlohmann::json::object();  // Complete.
};

// The last accepted result of one case (a passing case of `ttt suite run --json`).
struct RegistryResult {
  std::string date;     // The run's created_utc.
  std::string commit;   // The run's machine.commit.
  std::string machine;  // "<cpu model>, <cores> cores, <build type>".
  // Worst over the case's outputs.
  double pcc = 0.0;
  double nmse = 0.0;
  double max_abs_error = 0.0;
  // Latency of the timed repetitions, in nanoseconds; repetitions == 0 when the case has no timing.
  std::int64_t repetitions = 0;
  double wall_p50_ns = 0.0;
  double wall_p90_ns = 0.0;
  double cpu_p50_ns = 0.0;
  bool operator==(const RegistryResult&) const = default;
};

// One suite case that runs the configuration.
struct RegistryEvidence {
  // The suite file, relative to the registry file's directory ("gpt2.json" beside
  // suites/registry/registry.json).
  std::string suite;
  std::string case_id;
  std::optional<RegistryResult> result;
  bool operator==(const RegistryEvidence&) const = default;
};

struct RegistryEntry {
  Fingerprint fingerprint;
  RegistryConfig config;
  std::vector<RegistryEvidence> evidence;  // Sorted by (suite, case_id); at least one.
  std::string path;  // Its JSON path in the file ("/entries/3"); "" for an entry not read.
};

struct Registry {
  std::string file;                    // Where it was read from / is written to.
  std::string description;             // What the evidence is (which runs, which machine).
  std::vector<RegistryEntry> entries;  // Sorted by fingerprint id, ids unique.

  // The entry with this id, or nullptr.
  const RegistryEntry* find(std::string_view id) const;
  // The entry whose id is `id` or starts with it (a prefix of >= 4 digits). Throws
  // std::invalid_argument "[registry] <file>: no entry ..." or "... is ambiguous (a, b)".
  const RegistryEntry& lookup(std::string_view id) const;
};

// Parses a registry. Throws std::invalid_argument "<source>: <JSON path>: <what>" for the first
// structural error: a wrong type, an unknown or missing field, an id that is not 16 lower-case hex
// digits, an id present twice, an entry without evidence. What the entries mean (kinds, configs,
// ids) is check_registry's.
Registry registry_from_json(const nlohmann::json& json, const std::string& source);
// Reads `path` (std::invalid_argument naming the file when it cannot be read or is not JSON).
Registry load_registry(const std::string& path);
// An empty registry to be written to `path`.
Registry empty_registry(const std::string& path);
// The file's JSON, fields in reading order (fingerprint, config, evidence).
nlohmann::ordered_json to_json(const Registry& registry);
// Writes registry.file (entries sorted, 2-space indent). Throws std::runtime_error naming it.
void write_registry(const Registry& registry);

// Every problem of every entry, one line each, "<file>: <JSON path>: <what>" (empty: all good):
//   - a kind no block registers, a device or mode that does not parse;
//   - a config the kind's configure now rejects (a field renamed or removed);
//   - stale: the kind now writes another Spec or ImplConfig for it (a default added or changed),
//     or its recomputed id or summary differs from the recorded one (TTTv2's version or the
//     fingerprint scheme changed, or the file was edited by hand);
//   - with `evidence`, an evidence case whose suite file is gone, that no longer has the case, or
//     whose case now computes another fingerprint.
std::vector<std::string> check_registry(const Registry& registry, bool evidence = true);

// What update_registry did.
struct RegistryUpdate {
  std::vector<std::string> added;    // New entries: "<id> <summary>".
  std::vector<std::string> updated;  // Entries given new evidence or results.
  std::vector<std::string> dropped;  // Entries left without evidence (their case moved).
  // Cases not recorded, with why: "gpt2/ffn.decode: status fail (only passing cases are
  // accepted)".
  std::vector<std::string> skipped;
};

// Records every passing block case of `results` (read from `source`) as evidence of its
// fingerprint, with its result; other entries stay. A (suite, case) recorded under another id
// moves (its config changed), and an entry left without evidence is dropped. The fingerprint is
// recomputed from the case's config; a case whose recorded fingerprint differs is an error.
// Throws std::invalid_argument "<source>: /suites/0/cases/3: ..." (unknown kind, a config the
// kind rejects, a fingerprint from another TTTv2 version).
RegistryUpdate update_registry(Registry& registry, const RunResults& results,
                               const std::string& source);

// Differences between two registries, one line each: "+ <id> <summary>" (only in b),
// "- <id> <summary>" (only in a), "~ <id> <what changed>" (evidence added or removed, results
// moved: "gpt2.json/ffn.decode: pcc 0.9991 -> 0.9987, wall p50 1.20 ms -> 1.31 ms (+9.2%)").
std::vector<std::string> diff_registries(const Registry& a, const Registry& b);

// A human description of an entry (`ttt registry show`).
std::string format_entry(const RegistryEntry& entry);

// One configuration a model run used.
struct ObservedBlock {
  FingerprintParts parts;
  std::string device = "N150";
  std::int64_t calls = 1;  // Calls with this fingerprint.
  // Where it ran, when it was a suite case ("suites/gpt2.json" and the case id): the case then
  // exists and only its evidence is missing.
  std::string suite;
  std::string case_id;
  // The fingerprint the run recorded (a trace call's), when it is not make_fingerprint(parts): a
  // trace written by another TTTv2 version. Unset: make_fingerprint(parts).
  std::optional<Fingerprint> recorded = std::nullopt;
};

// A configuration with no evidence in the registry.
struct EvidenceMiss {
  Fingerprint fingerprint;
  ObservedBlock block;
  // "gated_mlp decode, GATED_MLP(hidden=4096,ffn=14336,act=silu), bfloat8_b/HiFi2, N150, batch<=1
  // tokens<=128, mesh 1x1".
  std::string description;
  // The suite-file case that runs it (docs/suites.md "Cases"): name, block, mode, spec, the
  // impl_config fields that differ from the device's defaults, shapes and an expectation. For a
  // suite file on `block.device` and `parts.mesh`.
  nlohmann::json suggested_case;
  // Why there is no suggested_case (null): not a kind a suite runs, or no suite case reproduces
  // the fingerprint (a shape bucket a case cannot express).
  std::string suggestion_problem;
};

// The observed configurations (merged by fingerprint, calls summed) whose fingerprints have no
// registry entry, in first-seen order.
std::vector<EvidenceMiss> find_misses(const Registry& registry,
                                      const std::vector<ObservedBlock>& observed);
// The report: "no evidence for fp=<id> (<description>): add a case with" and the case on one
// line, for each miss; or for a suite case the `ttt registry update` to run. "" when none.
std::string format_misses(const std::vector<EvidenceMiss>& misses, const Registry& registry);

// The block cases of a suite run as observed blocks (their fingerprints recomputed as
// update_registry does; wrapped and module cases have none).
std::vector<ObservedBlock> observed_blocks(const RunResults& results);
// The calls of a trace (`ttt demo`'s, or one `ttt replay` reads) that carry a fingerprint and a
// block kind, one per fingerprint with its calls counted. A trace stores the fingerprint, not its
// batch and token buckets: they are the powers of two that give the recorded id with the call's
// Spec and ImplConfig; when none does (a trace of another TTTv2 version), `recorded` keeps it.
std::vector<ObservedBlock> observed_blocks(const TraceReader& trace);

}  // namespace ttt
