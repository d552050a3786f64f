#include "suites/suite/registry.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "blocks/common/block_kind.h"
#include "suites/suite/internal/registry_config.h"
#include "suites/suite/suite_file.h"
#include "validation/input/input_file.h"
#include "validation/input/json_reader.h"
#include "validation/markup/number.h"

namespace ttt {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Reading.

double finite_number(const JsonNode& node) {
  const double value = node.number();
  if (!std::isfinite(value)) node.fail("expected a finite number");
  return value;
}

RegistryConfig read_config(const JsonNode& node) {
  node.allow_only({"kind", "mode", "device", "mesh", "batch", "tokens", "spec", "impl_config"});
  RegistryConfig config;
  config.kind = node.at("kind").string();
  config.mode = node.at("mode").string();
  config.device = node.at("device").string();
  config.mesh = node.at("mesh").string();
  config.batch = node.at("batch").integer_at_least(1);
  config.tokens = node.at("tokens").integer_at_least(0);
  config.spec = node.at("spec").object();
  config.impl_config = node.at("impl_config").object();
  return config;
}

RegistryResult read_result(const JsonNode& node) {
  node.allow_only({"date", "commit", "machine", "accuracy", "latency"});
  RegistryResult result;
  result.date = node.at("date").string();
  result.commit = node.at("commit").string();
  result.machine = node.at("machine").string();
  const JsonNode accuracy = node.at("accuracy");
  accuracy.allow_only({"pcc", "nmse", "max_abs_error"});
  result.pcc = finite_number(accuracy.at("pcc"));
  result.nmse = finite_number(accuracy.at("nmse"));
  result.max_abs_error = finite_number(accuracy.at("max_abs_error"));
  const JsonNode latency = node.at("latency");
  if (!latency.json().is_null()) {
    latency.allow_only({"repetitions", "wall_p50_ns", "wall_p90_ns", "cpu_p50_ns"});
    result.repetitions = latency.at("repetitions").integer_at_least(1);
    result.wall_p50_ns = finite_number(latency.at("wall_p50_ns"));
    result.wall_p90_ns = finite_number(latency.at("wall_p90_ns"));
    result.cpu_p50_ns = finite_number(latency.at("cpu_p50_ns"));
  }
  return result;
}

RegistryEvidence read_evidence(const JsonNode& node) {
  node.allow_only({"suite", "case", "result"});
  RegistryEvidence evidence;
  evidence.suite = node.at("suite").string();
  if (evidence.suite.empty()) node.at("suite").fail("expected a suite file, got \"\"");
  evidence.case_id = node.at("case").string();
  if (evidence.case_id.empty()) node.at("case").fail("expected a case id, got \"\"");
  if (const auto result = node.find("result"); result && !result->json().is_null()) {
    evidence.result = read_result(*result);
  }
  return evidence;
}

bool evidence_before(const RegistryEvidence& a, const RegistryEvidence& b) {
  return std::tie(a.suite, a.case_id) < std::tie(b.suite, b.case_id);
}

// ---------------------------------------------------------------------------------------------
// Writing.

using Ordered = nlohmann::ordered_json;

Ordered result_json(const RegistryResult& result) {
  Ordered latency = nullptr;
  if (result.repetitions > 0) {
    latency = {{"repetitions", result.repetitions},
               {"wall_p50_ns", result.wall_p50_ns},
               {"wall_p90_ns", result.wall_p90_ns},
               {"cpu_p50_ns", result.cpu_p50_ns}};
  }
  return {{"date", result.date},
          {"commit", result.commit},
          {"machine", result.machine},
          {"accuracy",
           {{"pcc", result.pcc}, {"nmse", result.nmse}, {"max_abs_error", result.max_abs_error}}},
          {"latency", latency}};
}

Ordered entry_json(const RegistryEntry& entry) {
  Ordered evidence = Ordered::array();
  for (const RegistryEvidence& e : entry.evidence) {
    Ordered item = {{"suite", e.suite}, {"case", e.case_id}};
    item["result"] = e.result ? result_json(*e.result) : Ordered(nullptr);
    evidence.push_back(item);
  }
  const RegistryConfig& c = entry.config;
  return {{"fingerprint", {{"id", entry.fingerprint.id}, {"summary", entry.fingerprint.summary}}},
          {"config",
           {{"kind", c.kind},
            {"mode", c.mode},
            {"device", c.device},
            {"mesh", c.mesh},
            {"batch", c.batch},
            {"tokens", c.tokens},
            {"spec", Ordered(c.spec)},
            {"impl_config", Ordered(c.impl_config)}}},
          {"evidence", evidence}};
}

// ---------------------------------------------------------------------------------------------
// Checking.

// The JSON paths where `recorded` and `now` differ ("/ffn_dim: 14336 recorded, 8192 now"), at
// most `limit` of them.
std::vector<std::string> json_differences(const Json& recorded, const Json& now,
                                          std::size_t limit = 4) {
  std::vector<std::string> lines;
  for (const Json& op : Json::diff(recorded, now)) {
    if (lines.size() == limit) {
      lines.push_back("...");
      break;
    }
    const std::string path = op.at("path").get<std::string>();
    const std::string what = op.at("op").get<std::string>();
    const Json pointer_value = recorded.contains(Json::json_pointer(path))
                                   ? recorded.at(Json::json_pointer(path))
                                   : Json(nullptr);
    if (what == "add") {
      lines.push_back(path + ": not recorded, now " + op.at("value").dump());
    } else if (what == "remove") {
      lines.push_back(path + ": recorded " + pointer_value.dump() + ", now absent");
    } else {
      lines.push_back(path + ": recorded " + pointer_value.dump() + ", now " +
                      op.at("value").dump());
    }
  }
  return lines;
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const std::string& part : parts) out += (out.empty() ? "" : separator) + part;
  return out;
}

// The problems of one entry's config and id (not its evidence).
void check_entry(const Registry& registry, const RegistryEntry& entry,
                 std::vector<std::string>& problems) {
  const std::string where = registry.file + ": " + entry.path;
  registry_detail::Recomputed now;
  try {
    now = registry_detail::recompute(entry.config, registry.file,
                                     json_child_path(entry.path, "config"));
  } catch (const std::invalid_argument& error) {
    problems.push_back(error.what());
    return;
  }
  const auto stale = [&](const std::string& what) {
    problems.push_back(where + ": stale fingerprint " + entry.fingerprint.id + ": " + what);
  };
  if (canonical_json(now.parts.spec) != canonical_json(entry.config.spec)) {
    stale("the kind now writes another spec (" +
          join(json_differences(entry.config.spec, now.parts.spec), "; ") +
          "); re-run its cases and `ttt registry update`");
    return;
  }
  if (canonical_json(now.parts.impl_config) != canonical_json(entry.config.impl_config)) {
    stale("the kind now writes another impl_config (" +
          join(json_differences(entry.config.impl_config, now.parts.impl_config), "; ") +
          "): a default changed; re-run its cases and `ttt registry update`");
    return;
  }
  if (now.fingerprint.id != entry.fingerprint.id) {
    stale("its config hashes to " + now.fingerprint.id + " (TTTv" + fingerprint_version() + ", " +
          kFingerprintScheme +
          "): the version or the fingerprint scheme changed, or the id or config was edited; "
          "re-run its cases and `ttt registry update`");
    return;
  }
  if (now.fingerprint.summary != entry.fingerprint.summary) {
    stale("its summary is \"" + now.fingerprint.summary + "\" now, \"" + entry.fingerprint.summary +
          "\" recorded");
  }
}

}  // namespace

namespace registry_detail {

std::optional<Fingerprint> suite_case_fingerprint(const SuiteFile& file, const Suite& suite,
                                                  const std::string& case_id) {
  for (std::size_t i = 0; i < suite.size(); ++i) {
    if (suite.case_at(i).id() != case_id) continue;
    return case_fingerprint(suite.case_at(i).target().describe(), file.cases.at(i).shapes);
  }
  return std::nullopt;
}

Recomputed recompute(const RegistryConfig& config, const std::string& source,
                     const std::string& path) {
  const Json node_root = {{"kind", config.kind},
                          {"mode", config.mode},
                          {"device", config.device},
                          {"spec", config.spec},
                          {"impl_config", config.impl_config}};
  const JsonNode node(node_root, source, path);
  const BlockKind* kind = find_block_kind(config.kind);
  if (kind == nullptr || !kind->configure) {
    std::vector<std::string> names;
    for (const BlockKind& k : block_kinds()) {
      if (k.configure) names.push_back(k.name);
    }
    node.at("kind").fail("unknown block kind '" + config.kind + "' (known: " + join(names, ", ") +
                         ")");
  }
  Mode mode = Mode::prefill;
  Device device = Device::N150;
  try {
    mode = parse_mode(config.mode);
  } catch (const std::invalid_argument& error) {
    node.at("mode").fail(error.what());
  }
  try {
    device = parse_device(config.device);
  } catch (const std::invalid_argument& error) {
    node.at("device").fail(error.what());
  }
  ConfiguredBlock block;
  try {
    block = kind->configure(node.at("spec"), device, mode, std::nullopt, node.at("impl_config"));
  } catch (const std::invalid_argument& error) {
    // The kind names a bad field by its path when it can; its own checks ("[gated_mlp] ...") get
    // the config's.
    const std::string message = error.what();
    if (message.rfind(source + ": ", 0) == 0) throw;
    node.fail(config.kind + " rejects the config: " + message);
  }
  Recomputed out;
  out.parts =
      fingerprint_parts(*kind, block, mode, CallShapes{config.batch, config.tokens, config.tokens});
  out.fingerprint = make_fingerprint(out.parts);
  return out;
}

}  // namespace registry_detail

const RegistryEntry* Registry::find(std::string_view id) const {
  const auto it = std::lower_bound(
      entries.begin(), entries.end(), id,
      [](const RegistryEntry& entry, std::string_view key) { return entry.fingerprint.id < key; });
  return it != entries.end() && it->fingerprint.id == id ? &*it : nullptr;
}

const RegistryEntry& Registry::lookup(std::string_view id) const {
  if (id.size() < 4) {
    throw std::invalid_argument("[registry] " + file + ": '" + std::string(id) +
                                "': give at least 4 digits of a fingerprint id");
  }
  std::vector<const RegistryEntry*> found;
  for (const RegistryEntry& entry : entries) {
    if (entry.fingerprint.id.rfind(id, 0) == 0) found.push_back(&entry);
  }
  if (found.empty()) {
    throw std::invalid_argument("[registry] " + file + ": no entry has fingerprint '" +
                                std::string(id) + "'");
  }
  if (found.size() > 1) {
    std::vector<std::string> ids;
    for (const RegistryEntry* entry : found) ids.push_back(entry->fingerprint.id);
    throw std::invalid_argument("[registry] " + file + ": '" + std::string(id) +
                                "' is ambiguous (" + join(ids, ", ") + ")");
  }
  return *found.front();
}

Registry registry_from_json(const Json& json, const std::string& source) {
  const JsonNode root(json, source);
  root.allow_only({"format", "format_version", "description", "entries"});
  const std::string format = root.at("format").string();
  if (format != kRegistryFormat) {
    root.at("format").fail("is '" + format + "', expected '" + std::string(kRegistryFormat) + "'");
  }
  const std::int64_t version = root.at("format_version").integer();
  if (version < 1 || version > kRegistryFormatVersion) {
    root.at("format_version")
        .fail("version " + std::to_string(version) + " is not supported (this build reads up to " +
              std::to_string(kRegistryFormatVersion) + ")");
  }
  Registry registry;
  registry.file = source;
  registry.description = root.at("description").string();
  const JsonNode entries = root.at("entries");
  std::map<std::string, std::string> seen;  // id -> path
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const JsonNode node = entries.at(i);
    node.allow_only({"fingerprint", "config", "evidence"});
    RegistryEntry entry;
    entry.path = node.path();
    entry.fingerprint = fingerprint_from_json(node.at("fingerprint"));
    if (const auto [it, inserted] = seen.emplace(entry.fingerprint.id, node.path()); !inserted) {
      node.at("fingerprint")
          .at("id")
          .fail("fingerprint " + entry.fingerprint.id + " is also the id of " + it->second);
    }
    entry.config = read_config(node.at("config"));
    const JsonNode evidence = node.at("evidence");
    if (evidence.size() == 0) evidence.fail("an entry needs at least one evidence case");
    std::set<std::pair<std::string, std::string>> cases;
    for (std::size_t j = 0; j < evidence.size(); ++j) {
      RegistryEvidence item = read_evidence(evidence.at(j));
      if (!cases.emplace(item.suite, item.case_id).second) {
        evidence.at(j).fail("case " + item.suite + "/" + item.case_id + " is listed twice");
      }
      entry.evidence.push_back(std::move(item));
    }
    std::sort(entry.evidence.begin(), entry.evidence.end(), evidence_before);
    registry.entries.push_back(std::move(entry));
  }
  std::sort(registry.entries.begin(), registry.entries.end(),
            [](const RegistryEntry& a, const RegistryEntry& b) {
              return a.fingerprint.id < b.fingerprint.id;
            });
  return registry;
}

Registry load_registry(const std::string& path) {
  return registry_from_json(read_json_file(path, "the registry"), path);
}

Registry empty_registry(const std::string& path) {
  Registry registry;
  registry.file = path;
  return registry;
}

Ordered to_json(const Registry& registry) {
  Ordered entries = Ordered::array();
  for (const RegistryEntry& entry : registry.entries) entries.push_back(entry_json(entry));
  Ordered json = Ordered::object();
  json["format"] = kRegistryFormat;
  json["format_version"] = kRegistryFormatVersion;
  json["description"] = registry.description;
  json["entries"] = entries;
  return json;
}

void write_registry(const Registry& registry) {
  const std::string text = to_json(registry).dump(2) + "\n";
  std::ofstream out(registry.file);
  out << text;
  if (!out) throw std::runtime_error("[registry] " + registry.file + ": cannot write");
}

std::vector<std::string> check_registry(const Registry& registry, bool evidence) {
  std::vector<std::string> problems;
  for (const RegistryEntry& entry : registry.entries) check_entry(registry, entry, problems);
  if (!evidence) return problems;
  // Each suite file is loaded once; a file that cannot be loaded is one problem per case.
  struct Loaded {
    std::optional<SuiteFile> file;
    std::optional<Suite> suite;
    std::string error;
  };
  std::map<std::string, Loaded> files;
  const fs::path base = fs::path(registry.file).parent_path();
  for (const RegistryEntry& entry : registry.entries) {
    for (std::size_t j = 0; j < entry.evidence.size(); ++j) {
      const RegistryEvidence& e = entry.evidence[j];
      const std::string where = registry.file + ": " +
                                json_child_path(json_child_path(entry.path, "evidence"), j) + ": " +
                                e.suite + "/" + e.case_id;
      auto [it, inserted] = files.try_emplace(e.suite);
      Loaded& loaded = it->second;
      if (inserted) {
        try {
          loaded.file = load_suite_file((base / e.suite).string());
          loaded.suite.emplace(make_suite(*loaded.file));
        } catch (const std::exception& error) {
          loaded.error = error.what();
        }
      }
      if (!loaded.suite) {
        problems.push_back(where + ": the suite file cannot be read: " + loaded.error);
        continue;
      }
      const std::optional<Fingerprint> found =
          registry_detail::suite_case_fingerprint(*loaded.file, *loaded.suite, e.case_id);
      if (!found) {
        problems.push_back(where + ": the suite file has no case '" + e.case_id + "'");
      } else if (found->id != entry.fingerprint.id) {
        problems.push_back(where + ": stale evidence: the case now runs fp=" + found->id + " (" +
                           found->summary + "); re-run it and `ttt registry update`");
      }
    }
  }
  return problems;
}

}  // namespace ttt
