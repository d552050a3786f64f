// Coverage records: what one exercised block configuration looked like, written as JSON Lines
// (docs/coverage.md "Records").
//
// Every validated wrapper call, suite case and replayed trace call can yield a CoverageRecord:
// the block kind and mode, the Spec and ImplConfig JSON, the device, the inputs' names, shapes
// and dtypes (the activation's token dimensions bucketed to powers of two), and how many calls
// passed and failed (64-bit unsigned counts; a sum that would overflow is an error). Identical
// records (everything but the counts) aggregate into one with summed counts, so files from many
// runs, models and machines merge into a small file.
//
//   ttt::CoverageRecord record = ttt::make_coverage_record(observation);
//   ttt::append_coverage_file("coverage.jsonl", {record});
//   std::vector<ttt::CoverageRecord> all = ttt::read_coverage_files({"a.jsonl", "b.jsonl"});
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "validation/fingerprint/fingerprint.h"
#include "validation/tensor/tensor.h"
#include "validation/wrapper/registry.h"

namespace ttt {

// The value of the "ttt_coverage" key every record line carries: the format version.
inline constexpr int kCoverageFormatVersion = 1;

// One input of a covered call.
struct CoverageInput {
  std::string name;   // As the call named it: "x", "w_gate/0".
  Shape shape;        // Bucketed for the first tensor input (see make_coverage_record).
  std::string dtype;  // dtype_name(): "bfloat16", "bfloat8_b", "int32", ...
  bool operator==(const CoverageInput&) const = default;
};

// One exercised configuration with its outcome counts.
struct CoverageRecord {
  // What produced it: "wrapper", "suite" or "replay"; "plan" for the records a suite file plans
  // before it runs (planned_coverage_records).
  std::string source;
  // Free-form provenance: the suite's name, the trace file, or what a program set; "" for none.
  std::string origin;
  // The block kind as the call named it ("attention.decode", "gated_mlp", "my_model.gate"), and
  // the family coverage counts it under: the kind without the mode suffix ("attention"), or for a
  // mesh kind that runs a single-device block on every device that block's (tp_gated_mlp:
  // "gated_mlp"; BlockKind::single_device). Reports describe a record from its kind.
  std::string kind;
  std::string block;
  // "prefill", "decode", or "" when nothing tells (see make_coverage_record).
  std::string mode;
  // The Spec's identity string (docs/blocks.md), or for another block its family followed by the
  // Spec's JSON. Informative: reports recompute it from `spec`.
  std::string identity;
  nlohmann::json spec = nlohmann::json::object();
  nlohmann::json impl_config = nlohmann::json::object();
  std::string device;  // "N150", ...; "" when unknown.
  // Sorted by name, so that a call recorded by the wrapper (inputs in call order) and the same
  // call replayed from a trace (inputs by name) give the same record.
  std::vector<CoverageInput> inputs;
  // Token dimensions of the activation input (see make_coverage_record), bucketed: the smallest
  // power of two >= the value (1, 2, 4, ..., 128, ...). seq_len is 1 in decode. 0 when the call
  // had no tensor input.
  std::int64_t batch = 0;
  std::int64_t seq_len = 0;
  // > 1 when the call ran one of `vocab_shards` equal shards of the vocabulary (a suite's
  // "split": {"vocab_size": N} of an LM head or embedding): `spec` then names the whole
  // configuration the shard stands for (its vocab_size is the shard's times vocab_shards) and
  // the inputs keep the shard's shapes. Written only when > 1.
  std::int64_t vocab_shards = 1;
  // The configuration's fingerprint (docs/fingerprints.md) when the source knew it: a suite's
  // seeded case, a pattern's module call, a traced call that carries one. Part of the key.
  std::optional<Fingerprint> fingerprint;
  // Outcome counts. calls - passed - failed calls ran without a verdict ("unchecked").
  std::uint64_t calls = 0;
  std::uint64_t passed = 0;
  std::uint64_t failed = 0;

  // The aggregation key: the record's JSON without its counts, compact and with sorted keys.
  std::string key() const;
  bool operator==(const CoverageRecord&) const = default;
};

// What a source saw of one call, before bucketing.
struct CallObservation {
  std::string source;  // "wrapper", "suite", "replay".
  std::string origin;
  std::string name;  // The call's name; used only to infer the mode ("layers.3.ffn.decode").
  std::string kind;  // Block kind; "" when the call has none.
  std::string mode;  // "prefill", "decode", or "" to infer it.
  nlohmann::json spec = nlohmann::json::object();
  nlohmann::json impl_config = nlohmann::json::object();
  nlohmann::json scalars = nlohmann::json::object();  // A "mode" scalar names the mode.
  std::string device;
  std::vector<InputInfo> inputs;  // Tensor inputs, in any order (wrapper's InputInfo).
  // The call ran one of this many equal shards of the vocabulary (see CoverageRecord).
  std::int64_t vocab_shards = 1;
  std::optional<Fingerprint> fingerprint;  // Copied into the record.
  enum class Outcome { passed, failed, unchecked } outcome = Outcome::unchecked;
};

// Builds the record of one call (calls = 1 and one of passed/failed set by the outcome).
// The mode is, in order: `observation.mode`; the kind's ".prefill"/".decode" suffix; a string
// scalar "mode"; a dot-separated component "prefill" or "decode" of the name; else "".
// Token dimensions come from the activation input: the one the block family declares
// (coverage_detail::activation_input: "x", the embedding's "ids"), or for another block the first
// tensor input. A floating tensor's last dimension is its feature dimension, an integer tensor
// has none: in decode batch = the product of the token dimensions, seq_len = 1; otherwise
// seq_len = the last token dimension, batch = the product of those before it (1 if none). Both
// are bucketed with token_bucket(), and the activation's shape is recorded with the bucketed
// values. With vocab_shards > 1 the Spec's vocab_size is multiplied by it, for a mesh kind the
// single-device block's (a tp_lm_head's spec.lm_head.vocab_size; throws std::invalid_argument
// when there is no integer vocab_size). The identity is computed from the Spec (blocks' own
// identity(); a mesh kind's is its single-device block's; see CoverageRecord::identity).
CoverageRecord make_coverage_record(const CallObservation& observation);

// a + b for call counts; throws std::overflow_error "[coverage] <what>: call count <a> + <b>
// overflows 64 bits" instead of wrapping around.
std::uint64_t add_call_counts(std::uint64_t a, std::uint64_t b, const std::string& what);

// One JSON object per record (docs/coverage.md "Records").
nlohmann::json to_json(const CoverageRecord& record);
// Inverse. Throws std::invalid_argument "<where>: field 'calls': expected an integer in
// [0, 18446744073709551615]" for a
// missing, mistyped or inconsistent field, or "<where>: not a coverage record (no ttt_coverage
// key)", or a newer format version.
CoverageRecord coverage_record_from_json(const nlohmann::json& json, const std::string& where);

// Sums the counts of identical records (same key()) and sorts by (block, mode, identity, key).
// Throws std::overflow_error (add_call_counts) when a sum does not fit 64 bits.
std::vector<CoverageRecord> aggregate_coverage(std::vector<CoverageRecord> records);

// Reads a JSON Lines coverage file (blank lines are skipped). Throws std::invalid_argument
// naming the file and line ("cov.jsonl:3: ...") for a line that is not JSON or not a record, and
// when the file cannot be opened.
std::vector<CoverageRecord> read_coverage_file(const std::string& path);
// Reads every file, in order, into one list (not aggregated).
std::vector<CoverageRecord> read_coverage_files(const std::vector<std::string>& paths);

// The JSON Lines text of `records`, one compact line each.
std::string to_jsonl(const std::vector<CoverageRecord>& records);
// Writes (truncating) `path`, or standard output for "-". Throws std::runtime_error naming the
// file when it cannot be written.
void write_coverage_file(const std::string& path, const std::vector<CoverageRecord>& records);

}  // namespace ttt
