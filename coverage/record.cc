#include "coverage/record.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "coverage/internal/block_facts.h"
#include "validation/input/input_file.h"
#include "validation/input/json_reader.h"
#include "validation/tensor/dtype.h"

namespace ttt {
namespace {

constexpr const char* kCountKeys[] = {"calls", "passed", "failed"};

std::string infer_mode(const CallObservation& observation, const std::string& kind_mode) {
  if (!observation.mode.empty()) return observation.mode;
  if (!kind_mode.empty()) return kind_mode;
  if (observation.scalars.is_object() && observation.scalars.contains("mode") &&
      observation.scalars.at("mode").is_string()) {
    const std::string mode = observation.scalars.at("mode").get<std::string>();
    if (mode == "prefill" || mode == "decode") return mode;
  }
  std::string component;
  std::istringstream parts(observation.name);
  std::string found;
  while (std::getline(parts, component, '.')) {
    if (component == "prefill" || component == "decode") found = component;
  }
  return found;
}

// The index in `inputs` of the activation: the input the block family declares, else the first.
std::size_t activation_index(const std::string& block, const std::vector<InputInfo>& inputs) {
  const std::string name = coverage_detail::activation_input(block);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!name.empty() && inputs[i].name == name) return i;
  }
  return 0;
}

// Fills batch and seq_len from the activation, `record.inputs[index]` (of dtype `dtype`), and
// buckets its token dimensions.
void bucket_tokens(CoverageRecord& record, std::size_t index, DType dtype) {
  Shape& shape = record.inputs[index].shape;
  const std::size_t feature = is_floating(dtype) && !shape.empty() ? 1 : 0;
  const std::size_t token_dims = shape.size() - feature;
  std::int64_t batch = 1;
  std::int64_t seq_len = 1;
  if (record.mode == "decode") {
    for (std::size_t i = 0; i < token_dims; ++i) batch *= shape[i];
    for (std::size_t i = 0; i < token_dims; ++i) shape[i] = token_bucket(shape[i]);
  } else if (token_dims >= 1) {
    seq_len = shape[token_dims - 1];
    for (std::size_t i = 0; i + 1 < token_dims; ++i) batch *= shape[i];
    for (std::size_t i = 0; i < token_dims; ++i) shape[i] = token_bucket(shape[i]);
  }
  record.batch = token_bucket(batch);
  record.seq_len = token_bucket(seq_len);
}

// A call count: nlohmann's parser gives non-negative integers up to 2^64 - 1 as unsigned, larger
// ones as floating point.
std::uint64_t call_count(const JsonNode& node) {
  if (!node.json().is_number_unsigned()) {
    node.fail("expected an integer in [0, 18446744073709551615], got " + node.json().dump());
  }
  return node.json().get<std::uint64_t>();
}

}  // namespace

std::string CoverageRecord::key() const {
  nlohmann::json json = to_json(*this);
  for (const char* count : kCountKeys) json.erase(count);
  return json.dump();
}

std::uint64_t add_call_counts(std::uint64_t a, std::uint64_t b, const std::string& what) {
  if (b > std::numeric_limits<std::uint64_t>::max() - a) {
    throw std::overflow_error("[coverage] " + what + ": call count " + std::to_string(a) + " + " +
                              std::to_string(b) + " overflows 64 bits");
  }
  return a + b;
}

CoverageRecord make_coverage_record(const CallObservation& observation) {
  CoverageRecord record;
  record.source = observation.source;
  record.origin = observation.origin;
  record.kind = observation.kind;
  const auto [block, kind_mode] = coverage_detail::split_kind(observation.kind);
  record.mode = infer_mode(observation, kind_mode);
  record.spec = observation.spec.is_object() ? observation.spec : nlohmann::json::object();
  record.impl_config =
      observation.impl_config.is_object() ? observation.impl_config : nlohmann::json::object();
  record.device = observation.device;
  record.fingerprint = observation.fingerprint;
  if (observation.vocab_shards > 1) {
    // The vocabulary is the single-device block's: a tp_lm_head's is spec.lm_head.vocab_size.
    const std::string member = coverage_detail::single_device_member(block);
    nlohmann::json* single = &record.spec;
    if (!member.empty()) {
      const auto inner = record.spec.find(member);
      single = inner != record.spec.end() && inner->is_object() ? &*inner : nullptr;
    }
    const std::string field = member.empty() ? "spec.vocab_size" : "spec." + member + ".vocab_size";
    const auto vocab = single == nullptr ? record.spec.end() : single->find("vocab_size");
    if (single == nullptr || vocab == single->end() || !vocab->is_number_integer()) {
      throw std::invalid_argument("[coverage] " + observation.name +
                                  ": a call run on a vocabulary shard needs an integer " + field);
    }
    *vocab = vocab->get<std::int64_t>() * observation.vocab_shards;
    record.vocab_shards = observation.vocab_shards;
  }
  // A mesh kind's record counts under the single-device block it runs (describe_block).
  const coverage_detail::BlockFacts facts = coverage_detail::describe_block(
      block, record.spec, record.impl_config, record.device, record.mode);
  record.block = facts.block;
  record.identity = facts.identity;
  for (const InputInfo& input : observation.inputs) {
    record.inputs.push_back({input.name, input.shape, std::string(dtype_name(input.dtype))});
  }
  if (!observation.inputs.empty()) {
    const std::size_t activation = activation_index(block, observation.inputs);
    bucket_tokens(record, activation, observation.inputs[activation].dtype);
  }
  std::stable_sort(record.inputs.begin(), record.inputs.end(),
                   [](const CoverageInput& a, const CoverageInput& b) { return a.name < b.name; });
  record.calls = 1;
  record.passed = observation.outcome == CallObservation::Outcome::passed ? 1 : 0;
  record.failed = observation.outcome == CallObservation::Outcome::failed ? 1 : 0;
  return record;
}

nlohmann::json to_json(const CoverageRecord& record) {
  nlohmann::json inputs = nlohmann::json::array();
  for (const CoverageInput& input : record.inputs) {
    inputs.push_back({{"name", input.name}, {"shape", input.shape}, {"dtype", input.dtype}});
  }
  nlohmann::json json = {{"ttt_coverage", kCoverageFormatVersion},
                         {"source", record.source},
                         {"origin", record.origin},
                         {"kind", record.kind},
                         {"block", record.block},
                         {"mode", record.mode},
                         {"identity", record.identity},
                         {"spec", record.spec},
                         {"impl_config", record.impl_config},
                         {"device", record.device},
                         {"inputs", std::move(inputs)},
                         {"batch", record.batch},
                         {"seq_len", record.seq_len},
                         {"calls", record.calls},
                         {"passed", record.passed},
                         {"failed", record.failed}};
  if (record.vocab_shards > 1) json["vocab_shards"] = record.vocab_shards;
  if (record.fingerprint) json["fingerprint"] = to_json(*record.fingerprint);
  return json;
}

CoverageRecord coverage_record_from_json(const nlohmann::json& json, const std::string& where) {
  const JsonNode root(json, where);
  root.object();
  if (!json.contains("ttt_coverage")) {
    throw std::invalid_argument(where + ": not a coverage record (no ttt_coverage key)");
  }
  // The version first: a newer format's fields are not unknown, they are not understood yet.
  const JsonNode version = root.at("ttt_coverage");
  if (version.integer() > kCoverageFormatVersion) {
    throw std::invalid_argument(where + ": coverage format version " + version.json().dump() +
                                " is newer than this ttt understands (" +
                                std::to_string(kCoverageFormatVersion) + ")");
  }
  root.allow_only({"ttt_coverage", "source", "origin", "kind", "block", "mode", "identity", "spec",
                   "impl_config", "device", "inputs", "batch", "seq_len", "vocab_shards",
                   "fingerprint", "calls", "passed", "failed"});
  CoverageRecord record;
  record.source = root.at("source").string();
  if (const auto origin = root.find("origin")) record.origin = origin->string();
  record.kind = root.at("kind").string();
  record.block = root.at("block").string();
  const JsonNode mode = root.at("mode");
  record.mode = mode.string();
  if (!record.mode.empty() && record.mode != "prefill" && record.mode != "decode") {
    mode.fail("expected \"prefill\", \"decode\" or \"\", got \"" + record.mode + "\"");
  }
  record.identity = root.at("identity").string();
  record.spec = root.at("spec").object();
  record.impl_config = root.at("impl_config").object();
  record.device = root.at("device").string();
  const JsonNode inputs = root.at("inputs");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const JsonNode input = inputs.at(i);
    input.allow_only({"name", "shape", "dtype"});
    CoverageInput parsed;
    parsed.name = input.at("name").string();
    parsed.dtype = input.at("dtype").string();
    const JsonNode shape = input.at("shape");
    for (std::size_t d = 0; d < shape.size(); ++d) {
      parsed.shape.push_back(shape.at(d).integer_at_least(0));
    }
    record.inputs.push_back(std::move(parsed));
  }
  record.batch = root.at("batch").integer_at_least(0);
  record.seq_len = root.at("seq_len").integer_at_least(0);
  if (const auto shards = root.find("vocab_shards"))
    record.vocab_shards = shards->integer_at_least(1);
  if (const auto fingerprint = root.find("fingerprint")) {
    record.fingerprint = fingerprint_from_json(*fingerprint);
  }
  const JsonNode calls = root.at("calls");
  record.calls = call_count(calls);
  record.passed = call_count(root.at("passed"));
  record.failed = call_count(root.at("failed"));
  if (record.passed > record.calls || record.failed > record.calls - record.passed) {
    calls.fail("passed (" + std::to_string(record.passed) + ") + failed (" +
               std::to_string(record.failed) + ") exceed calls (" + std::to_string(record.calls) +
               ")");
  }
  return record;
}

std::vector<CoverageRecord> aggregate_coverage(std::vector<CoverageRecord> records) {
  std::map<std::string, std::size_t> index_of;
  std::vector<CoverageRecord> merged;
  for (CoverageRecord& record : records) {
    const auto [it, inserted] = index_of.try_emplace(record.key(), merged.size());
    if (inserted) {
      merged.push_back(std::move(record));
      continue;
    }
    CoverageRecord& into = merged[it->second];
    const std::string what = into.kind + " " + into.identity;
    into.calls = add_call_counts(into.calls, record.calls, what);
    into.passed = add_call_counts(into.passed, record.passed, what);
    into.failed = add_call_counts(into.failed, record.failed, what);
  }
  std::sort(merged.begin(), merged.end(), [](const CoverageRecord& a, const CoverageRecord& b) {
    return std::forward_as_tuple(a.block, a.mode, a.identity) <
               std::forward_as_tuple(b.block, b.mode, b.identity) ||
           (std::forward_as_tuple(a.block, a.mode, a.identity) ==
                std::forward_as_tuple(b.block, b.mode, b.identity) &&
            a.key() < b.key());
  });
  return merged;
}

std::vector<CoverageRecord> read_coverage_file(const std::string& path) {
  require_regular_file(path);
  std::ifstream in(path);
  if (!in) throw std::invalid_argument(path + ": cannot open the coverage file");
  std::vector<CoverageRecord> records;
  std::string line;
  std::int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(number);
    records.push_back(coverage_record_from_json(parse_json(line, where), where));
  }
  if (in.bad()) throw std::invalid_argument(path + ": read error");
  return records;
}

std::vector<CoverageRecord> read_coverage_files(const std::vector<std::string>& paths) {
  std::vector<CoverageRecord> records;
  for (const std::string& path : paths) {
    std::vector<CoverageRecord> part = read_coverage_file(path);
    records.insert(records.end(), std::make_move_iterator(part.begin()),
                   std::make_move_iterator(part.end()));
  }
  return records;
}

std::string to_jsonl(const std::vector<CoverageRecord>& records) {
  std::string text;
  for (const CoverageRecord& record : records) text += to_json(record).dump() + "\n";
  return text;
}

void write_coverage_file(const std::string& path, const std::vector<CoverageRecord>& records) {
  const std::string text = to_jsonl(records);
  if (path == "-") {
    std::cout << text << std::flush;
    return;
  }
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw std::runtime_error(path + ": cannot write the coverage file");
}

}  // namespace ttt
