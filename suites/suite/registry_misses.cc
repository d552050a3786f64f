// Misses: the configurations a model run used that have no evidence in the registry, each with
// the suite-file case that would give it evidence.
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "blocks/common/block_kind.h"
#include "suites/suite/internal/registry_config.h"
#include "suites/suite/registry.h"
#include "suites/suite/suite_file.h"
#include "validation/input/input_file.h"
#include "validation/input/json_reader.h"
#include "validation/trace/trace_reader.h"

namespace ttt {
namespace {

using Json = nlohmann::json;

// The JSON merge patch that turns `from` into `to`: the fields of `to` that differ, null for a
// field `to` lacks.
Json merge_patch_between(const Json& from, const Json& to) {
  if (!from.is_object() || !to.is_object()) return to;
  Json patch = Json::object();
  for (const auto& [key, value] : to.items()) {
    if (!from.contains(key)) {
      patch[key] = value;
    } else if (from.at(key) != value) {
      patch[key] = merge_patch_between(from.at(key), value);
    }
  }
  for (const auto& [key, value] : from.items()) {
    if (!to.contains(key)) patch[key] = nullptr;
  }
  return patch;
}

// Every string value of a field called `name`, anywhere in `json`.
void collect_strings(const Json& json, const std::string& name, std::set<std::string>& out) {
  if (!json.is_object()) return;
  for (const auto& [key, value] : json.items()) {
    if (key == name && value.is_string()) out.insert(value.get<std::string>());
    collect_strings(value, name, out);
  }
}

// "bfloat8_b/HiFi2": the kind's main weight format and the fidelities of its matmuls.
std::string precision_text(const BlockKind& kind, const ObservedBlock& block, Mode mode,
                           Device device) {
  std::string weights;
  if (kind.facts) {
    weights = kind.facts(block.parts.spec, block.parts.impl_config, device, mode).weight_dtype;
  }
  std::set<std::string> fidelities;
  collect_strings(block.parts.impl_config, "fidelity", fidelities);
  std::string text = weights.empty() ? "no weights" : weights;
  std::string joined;
  for (const std::string& fidelity : fidelities) joined += (joined.empty() ? "" : ",") + fidelity;
  return joined.empty() ? text : text + "/" + joined;
}

std::string describe(const BlockKind& kind, const ObservedBlock& block, Mode mode, Device device) {
  const FingerprintParts& p = block.parts;
  return p.kind + " " + p.mode + ", " + p.identity + ", " +
         precision_text(kind, block, mode, device) + ", " + block.device +
         ", batch<=" + std::to_string(p.batch) + " tokens<=" + std::to_string(p.tokens) +
         ", mesh " + p.mesh;
}

// The suite-file case of `block` (docs/suites.md "Cases"), or throws std::invalid_argument.
Json suggested_case(const BlockKind& kind, const ObservedBlock& block, const Fingerprint& fp,
                    Mode mode, Device device) {
  const FingerprintParts& p = block.parts;
  const Json no_overrides = Json::object();
  const ConfiguredBlock defaults =
      kind.configure(JsonNode(p.spec, "observed spec"), device, mode, std::nullopt,
                     JsonNode(no_overrides, "observed impl_config"));
  Json shapes = Json::object();
  for (const std::string& field : kind.shape_fields(mode)) {
    shapes[field] = field == "batch" ? p.batch : p.tokens;
  }
  const double pcc = kind.tolerances && kind.tolerances->pcc ? *kind.tolerances->pcc : 0.99;
  Json c = {{"name", p.kind + "." + p.mode + ".fp" + fp.id.substr(0, 8)},
            {"block", p.kind},
            {"mode", p.mode},
            {"spec", p.spec},
            {"shapes", shapes},
            {"expect", {{"pcc", pcc}}}};
  const Json patch = merge_patch_between(defaults.impl_config, p.impl_config);
  if (!patch.empty()) c["impl_config"] = patch;
  return c;
}

// The id a suite file on the block's device and mesh computes for `c`.
Fingerprint suggested_case_fingerprint(const Json& c, const ObservedBlock& block) {
  const Json file = {{"suite", "registry-miss"},
                     {"device", block.device},
                     {"mesh", mesh_name(parse_mesh(block.parts.mesh))},
                     {"cases", Json::array({c})}};
  const SuiteFile parsed = parse_suite_file(file, "suggested case", ".");
  const Suite suite = make_suite(parsed);
  const std::optional<Fingerprint> fp =
      registry_detail::suite_case_fingerprint(parsed, suite, c.at("name").get<std::string>());
  if (!fp) throw std::invalid_argument("the suggested case is not in its suite");
  return *fp;
}

// One line of JSON with the case's fields in reading order.
std::string case_line(const Json& c) {
  nlohmann::ordered_json ordered;
  for (const char* key : {"name", "block", "mode", "spec", "impl_config", "shapes", "expect"}) {
    if (c.contains(key)) ordered[key] = c.at(key);
  }
  return ordered.dump();
}

// The mode of a traced call: its kind's or its name's ".prefill"/".decode" suffix (the patterns
// name calls "<module path>.<mode>").
std::optional<Mode> traced_call_mode(const TraceCall& call) {
  for (const std::string& text : {call.block, call.name}) {
    if (text.ends_with(".decode")) return Mode::decode;
    if (text.ends_with(".prefill")) return Mode::prefill;
  }
  return std::nullopt;
}

// The parts of `block` whose fingerprint is `id`: batch and tokens tried over the buckets (powers
// of two; tokens also 0), or nullopt.
std::optional<FingerprintParts> parts_with_id(const BlockKind& kind, const ConfiguredBlock& block,
                                              Mode mode, const std::string& id) {
  constexpr std::int64_t kMaxBatch = std::int64_t{1} << 12;
  constexpr std::int64_t kMaxTokens = std::int64_t{1} << 24;
  for (std::int64_t batch = 1; batch <= kMaxBatch; batch *= 2) {
    for (std::int64_t tokens = 0; tokens <= kMaxTokens; tokens = tokens == 0 ? 1 : tokens * 2) {
      FingerprintParts parts = fingerprint_parts(kind, block, mode, {batch, tokens, tokens});
      if (make_fingerprint(parts).id == id) return parts;
    }
  }
  return std::nullopt;
}

}  // namespace

std::vector<ObservedBlock> observed_blocks(const TraceReader& trace) {
  std::vector<ObservedBlock> observed;
  std::map<std::string, std::size_t> index;
  for (const std::int64_t seq : trace.sequence_numbers()) {
    const TraceCall call = trace.call(seq);
    if (!call.fingerprint || call.block.empty()) continue;
    if (const auto it = index.find(call.fingerprint->id); it != index.end()) {
      ++observed[it->second].calls;
      continue;
    }
    const BlockKind* kind = find_block_kind(call.block);
    const std::optional<Mode> mode = traced_call_mode(call);
    if (kind == nullptr || !kind->configure || !mode) continue;
    const std::string where = trace.path() + ": " + call.path;
    ConfiguredBlock block{parse_json(call.spec_json, where + " spec"),
                          parse_json(call.impl_config_json, where + " impl_config"), ""};
    block.identity = kind->identity(block.spec);
    ObservedBlock item;
    item.device = call.device.empty() ? "N150" : call.device;
    if (const auto parts = parts_with_id(*kind, block, *mode, call.fingerprint->id)) {
      item.parts = *parts;
    } else {
      item.parts = fingerprint_parts(*kind, block, *mode, {});
      item.recorded = call.fingerprint;
    }
    index.emplace(call.fingerprint->id, observed.size());
    observed.push_back(std::move(item));
  }
  return observed;
}

std::vector<EvidenceMiss> find_misses(const Registry& registry,
                                      const std::vector<ObservedBlock>& observed) {
  std::vector<EvidenceMiss> misses;
  std::map<std::string, std::size_t> index;
  for (const ObservedBlock& block : observed) {
    const Fingerprint fp = block.recorded ? *block.recorded : make_fingerprint(block.parts);
    if (registry.find(fp.id) != nullptr) continue;
    if (const auto [it, inserted] = index.try_emplace(fp.id, misses.size()); !inserted) {
      misses[it->second].block.calls += block.calls;
      continue;
    }
    EvidenceMiss miss;
    miss.fingerprint = fp;
    miss.block = block;
    if (block.recorded && block.recorded->id != make_fingerprint(block.parts).id) {
      miss.description = block.recorded->summary;
      miss.suggestion_problem =
          "its recorded fingerprint is not what this build computes for its config (recorded "
          "by another TTTv2 version?)";
      misses.push_back(std::move(miss));
      continue;
    }
    const BlockKind* kind = find_block_kind(block.parts.kind);
    if (kind == nullptr || !kind->configure) {
      miss.description = block.parts.kind + " " + block.parts.mode + ", " + block.parts.identity;
      miss.suggestion_problem = "'" + block.parts.kind + "' is not a block kind a suite can run";
      misses.push_back(std::move(miss));
      continue;
    }
    const Mode mode = parse_mode(block.parts.mode);
    const Device device = parse_device(block.device);
    miss.description = describe(*kind, block, mode, device);
    try {
      miss.suggested_case = suggested_case(*kind, block, fp, mode, device);
      const Fingerprint again = suggested_case_fingerprint(miss.suggested_case, block);
      if (again.id != fp.id) {
        miss.suggestion_problem = "a suite case of its config computes fp=" + again.id + " (" +
                                  again.summary + "), not this one";
        miss.suggested_case = nullptr;
      }
    } catch (const std::invalid_argument& error) {
      miss.suggestion_problem = std::string("no suite case can run it: ") + error.what();
      miss.suggested_case = nullptr;
    }
    misses.push_back(std::move(miss));
  }
  return misses;
}

std::string format_misses(const std::vector<EvidenceMiss>& misses, const Registry& registry) {
  if (misses.empty()) return "";
  std::ostringstream out;
  out << misses.size() << (misses.size() == 1 ? " fingerprint has" : " fingerprints have")
      << " no evidence in " << registry.file << ":\n";
  for (const EvidenceMiss& miss : misses) {
    out << "no evidence for fp=" << miss.fingerprint.id << " (" << miss.description << ")";
    if (!miss.block.case_id.empty()) {
      out << ": case '" << miss.block.case_id << "' of " << miss.block.suite
          << " runs it; record its passing result with `ttt registry update --registry "
          << registry.file << " --results R.json` (R.json from `ttt suite run --json`)\n";
    } else if (miss.suggested_case.is_null()) {
      out << ": " << miss.suggestion_problem << "\n";
    } else {
      out << ": add a case with device " << miss.block.device << " and mesh "
          << mesh_name(parse_mesh(miss.block.parts.mesh))
          << " (the suite file's \"device\" and \"mesh\") to a suite file:\n"
          << "  " << case_line(miss.suggested_case) << "\n";
    }
  }
  return out.str();
}

}  // namespace ttt
