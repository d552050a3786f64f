// The registry's writers and readers of results: update from suite results, diff, show.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "blocks/common/block_kind.h"
#include "suites/suite/internal/registry_config.h"
#include "suites/suite/registry.h"
#include "suites/suite/timing.h"
#include "validation/input/json_reader.h"
#include "validation/markup/number.h"

namespace ttt {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

// The config of a block case result, before recompute() buckets and configures it.
RegistryConfig case_config(const CaseResult& c) {
  RegistryConfig config;
  config.kind = c.kind;
  config.mode = c.mode;
  config.device = c.device;
  config.spec = c.spec;
  config.impl_config = c.impl_config;
  config.batch = c.shapes.value("batch", std::int64_t{1});
  config.tokens = c.mode == "prefill" ? c.shapes.value("seq_len", std::int64_t{0})
                                      : c.shapes.value("context_len", std::int64_t{0});
  return config;
}

bool is_block_case(const CaseResult& c) {
  const BlockKind* kind = find_block_kind(c.kind);
  return kind != nullptr && kind->configure != nullptr;
}

// The result of a passing case, or why it cannot be one.
std::optional<RegistryResult> accepted_result(const RunResults& run, const CaseResult& c,
                                              std::string& why) {
  if (c.status != CaseStatus::pass) {
    why =
        "status " + std::string(case_status_name(c.status)) + " (only passing cases are accepted)";
    return std::nullopt;
  }
  if (c.outputs.empty()) {
    why = "no output metrics";
    return std::nullopt;
  }
  RegistryResult result;
  result.date = run.created_utc;
  result.commit = run.machine.commit;
  result.machine = run.machine.cpu_model + ", " + std::to_string(run.machine.cores) + " cores, " +
                   run.machine.build_type;
  result.pcc = c.outputs.front().metrics.pcc;
  result.nmse = c.outputs.front().metrics.nmse;
  result.max_abs_error = c.outputs.front().metrics.max_abs_error;
  for (const OutputResult& output : c.outputs) {
    result.pcc = std::min(result.pcc, output.metrics.pcc);
    result.nmse = std::max(result.nmse, output.metrics.nmse);
    result.max_abs_error = std::max(result.max_abs_error, output.metrics.max_abs_error);
  }
  if (!std::isfinite(result.pcc) || !std::isfinite(result.nmse) ||
      !std::isfinite(result.max_abs_error)) {
    why = "non-finite metrics";
    return std::nullopt;
  }
  if (c.timing && !c.timing->wall_ns.empty()) {
    const TimingStats wall = compute_timing_stats(c.timing->wall_ns);
    result.repetitions = wall.count;
    result.wall_p50_ns = wall.p50;
    result.wall_p90_ns = wall.p90;
    result.cpu_p50_ns = compute_timing_stats(c.timing->cpu_ns).p50;
  }
  return result;
}

// `file` (as the run named it, relative to the working directory) relative to `base`.
std::string relative_to(const std::string& file, const fs::path& base) {
  const fs::path from = fs::absolute(base.empty() ? fs::path(".") : base).lexically_normal();
  return fs::absolute(file).lexically_normal().lexically_relative(from).generic_string();
}

bool same_config(const RegistryConfig& a, const RegistryConfig& b) {
  return std::tie(a.kind, a.mode, a.device, a.mesh, a.batch, a.tokens) ==
             std::tie(b.kind, b.mode, b.device, b.mesh, b.batch, b.tokens) &&
         canonical_json(a.spec) == canonical_json(b.spec) &&
         canonical_json(a.impl_config) == canonical_json(b.impl_config);
}

std::string entry_line(const RegistryEntry& entry) {
  return entry.fingerprint.id + " " + entry.fingerprint.summary;
}

// "pcc 0.9991 -> 0.9987, wall p50 1.20 ms -> 1.31 ms (+9.2%)": what moved between two results.
std::string result_changes(const RegistryResult& a, const RegistryResult& b) {
  std::vector<std::string> changes;
  const auto number = [&](const char* name, double x, double y) {
    if (x != y) {
      changes.push_back(std::string(name) + " " + format_significant(x, 6) + " -> " +
                        format_significant(y, 6));
    }
  };
  number("pcc", a.pcc, b.pcc);
  number("nmse", a.nmse, b.nmse);
  number("max_abs_error", a.max_abs_error, b.max_abs_error);
  if (a.wall_p50_ns != b.wall_p50_ns && a.repetitions > 0 && b.repetitions > 0) {
    std::ostringstream text;
    text << "wall p50 " << format_ns(a.wall_p50_ns) << " -> " << format_ns(b.wall_p50_ns);
    if (a.wall_p50_ns > 0) {
      char percent[32];
      std::snprintf(percent, sizeof percent, " (%+.1f%%)",
                    (b.wall_p50_ns / a.wall_p50_ns - 1.0) * 100.0);
      text << percent;
    }
    changes.push_back(text.str());
  } else if ((a.repetitions > 0) != (b.repetitions > 0)) {
    changes.push_back(b.repetitions > 0 ? "latency now recorded" : "latency no longer recorded");
  }
  if (a.commit != b.commit) changes.push_back("commit " + a.commit + " -> " + b.commit);
  if (a.machine != b.machine) changes.push_back("machine " + a.machine + " -> " + b.machine);
  if (changes.empty() && a.date != b.date) changes.push_back("date " + a.date + " -> " + b.date);
  std::string out;
  for (const std::string& change : changes) out += (out.empty() ? "" : ", ") + change;
  return out;
}

std::string result_text(const RegistryResult& r) {
  std::string text = "pcc " + format_significant(r.pcc, 6) + ", nmse " +
                     format_significant(r.nmse, 3) + ", max_abs_error " +
                     format_significant(r.max_abs_error, 3) + "; ";
  if (r.repetitions > 0) {
    text += "wall p50 " + format_ns(r.wall_p50_ns) + ", p90 " + format_ns(r.wall_p90_ns) +
            ", cpu p50 " + format_ns(r.cpu_p50_ns) + " (" + std::to_string(r.repetitions) +
            " repetitions); ";
  } else {
    text += "no latency; ";
  }
  return text + "commit " + r.commit.substr(0, 12) + ", " + r.date + ", " + r.machine;
}

}  // namespace

RegistryUpdate update_registry(Registry& registry, const RunResults& results,
                               const std::string& source) {
  RegistryUpdate update;
  const fs::path base = fs::path(registry.file).parent_path();
  std::set<std::string> existing;
  for (const RegistryEntry& entry : registry.entries) existing.insert(entry.fingerprint.id);
  std::set<std::string> touched;
  std::map<std::string, RegistryEntry> entries;
  for (RegistryEntry& entry : registry.entries) entries[entry.fingerprint.id] = std::move(entry);

  for (std::size_t s = 0; s < results.suites.size(); ++s) {
    const SuiteResult& suite = results.suites[s];
    for (std::size_t k = 0; k < suite.cases.size(); ++k) {
      const CaseResult& c = suite.cases[k];
      const std::string label = suite.name + "/" + c.id;
      if (suite.file.empty()) {
        update.skipped.push_back(label + ": no suite file (a suite built in C++)");
        continue;
      }
      if (!is_block_case(c)) {
        update.skipped.push_back(label + ": kind '" + c.kind + "' is not a block kind");
        continue;
      }
      std::string why;
      const std::optional<RegistryResult> result = accepted_result(results, c, why);
      if (!result) {
        update.skipped.push_back(label + ": " + why);
        continue;
      }
      const std::string path = json_child_path(
          json_child_path(json_child_path(json_child_path("", "suites"), s), "cases"), k);
      RegistryConfig config = case_config(c);
      const registry_detail::Recomputed now = registry_detail::recompute(config, source, path);
      if (c.fingerprint && c.fingerprint->id != now.fingerprint.id) {
        throw std::invalid_argument(
            source + ": " + path + "/fingerprint/id: the case recorded fp=" + c.fingerprint->id +
            ", its config computes fp=" + now.fingerprint.id +
            " in this build (results of another TTTv2 version?); run the case again");
      }
      config.spec = now.parts.spec;
      config.impl_config = now.parts.impl_config;
      config.mesh = now.parts.mesh;
      config.batch = now.parts.batch;
      config.tokens = now.parts.tokens;
      const RegistryEvidence evidence{relative_to(suite.file, base), c.id, result};
      // The case's evidence moves: a case belongs to the one fingerprint its config has now.
      for (auto& [id, entry] : entries) {
        if (id == now.fingerprint.id) continue;
        const auto before = entry.evidence.size();
        std::erase_if(entry.evidence, [&](const RegistryEvidence& e) {
          return e.suite == evidence.suite && e.case_id == evidence.case_id;
        });
        if (entry.evidence.size() != before) touched.insert(id);
      }
      RegistryEntry& entry = entries[now.fingerprint.id];
      entry.fingerprint = now.fingerprint;
      entry.config = config;
      std::erase_if(entry.evidence, [&](const RegistryEvidence& e) {
        return e.suite == evidence.suite && e.case_id == evidence.case_id;
      });
      entry.evidence.push_back(evidence);
      std::sort(entry.evidence.begin(), entry.evidence.end(),
                [](const RegistryEvidence& a, const RegistryEvidence& b) {
                  return std::tie(a.suite, a.case_id) < std::tie(b.suite, b.case_id);
                });
      touched.insert(now.fingerprint.id);
    }
  }
  registry.entries.clear();
  for (auto& [id, entry] : entries) {
    if (entry.evidence.empty()) {
      update.dropped.push_back(entry_line(entry));
      continue;
    }
    if (touched.contains(id)) {
      (existing.contains(id) ? update.updated : update.added).push_back(entry_line(entry));
    }
    entry.path.clear();
    registry.entries.push_back(std::move(entry));
  }
  return update;
}

std::vector<std::string> diff_registries(const Registry& a, const Registry& b) {
  std::vector<std::string> lines;
  std::map<std::string, const RegistryEntry*> left;
  std::map<std::string, const RegistryEntry*> right;
  for (const RegistryEntry& entry : a.entries) left[entry.fingerprint.id] = &entry;
  for (const RegistryEntry& entry : b.entries) right[entry.fingerprint.id] = &entry;
  std::set<std::string> ids;
  for (const auto& [id, entry] : left) ids.insert(id);
  for (const auto& [id, entry] : right) ids.insert(id);
  for (const std::string& id : ids) {
    const auto l = left.find(id);
    const auto r = right.find(id);
    if (r == right.end()) {
      lines.push_back("- " + entry_line(*l->second));
      continue;
    }
    if (l == left.end()) {
      lines.push_back("+ " + entry_line(*r->second));
      continue;
    }
    const RegistryEntry& x = *l->second;
    const RegistryEntry& y = *r->second;
    const std::string prefix = "~ " + id + " ";
    if (x.fingerprint.summary != y.fingerprint.summary) {
      lines.push_back(prefix + "summary \"" + x.fingerprint.summary + "\" -> \"" +
                      y.fingerprint.summary + "\"");
    }
    if (!same_config(x.config, y.config)) {
      lines.push_back(prefix +
                      "config differs (the same id for two configs: one file is stale "
                      "or edited; run `ttt registry check`)");
    }
    std::map<std::pair<std::string, std::string>, const RegistryEvidence*> cases;
    for (const RegistryEvidence& e : x.evidence) cases[{e.suite, e.case_id}] = &e;
    std::set<std::pair<std::string, std::string>> in_b;
    for (const RegistryEvidence& e : y.evidence) {
      in_b.insert({e.suite, e.case_id});
      const auto before = cases.find({e.suite, e.case_id});
      const std::string name = e.suite + "/" + e.case_id;
      if (before == cases.end()) {
        lines.push_back(prefix + "+ evidence " + name);
      } else if (before->second->result != e.result) {
        if (!before->second->result || !e.result) {
          lines.push_back(prefix + name + ": " + (e.result ? "result added" : "result removed"));
        } else {
          lines.push_back(prefix + name + ": " +
                          result_changes(*before->second->result, *e.result));
        }
      }
    }
    for (const auto& [key, e] : cases) {
      if (!in_b.contains(key))
        lines.push_back(prefix + "- evidence " + key.first + "/" + key.second);
    }
  }
  return lines;
}

std::string format_entry(const RegistryEntry& entry) {
  const RegistryConfig& c = entry.config;
  std::ostringstream out;
  out << "fp " << entry.fingerprint.id << "  " << entry.fingerprint.summary << "\n"
      << "  kind " << c.kind << ", mode " << c.mode << ", device " << c.device << ", mesh "
      << c.mesh << ", batch<=" << c.batch << ", tokens<=" << c.tokens << "\n"
      << "  spec " << c.spec.dump() << "\n"
      << "  impl_config " << c.impl_config.dump() << "\n"
      << "  evidence (" << entry.evidence.size() << "):\n";
  for (const RegistryEvidence& e : entry.evidence) {
    out << "    " << e.suite << " / " << e.case_id << ": "
        << (e.result ? result_text(*e.result) : std::string("no accepted result recorded")) << "\n";
  }
  return out.str();
}

std::vector<ObservedBlock> observed_blocks(const RunResults& results) {
  std::vector<ObservedBlock> observed;
  for (const SuiteResult& suite : results.suites) {
    for (const CaseResult& c : suite.cases) {
      if (!is_block_case(c) || c.status == CaseStatus::not_run) continue;
      registry_detail::Recomputed now;
      try {
        now = registry_detail::recompute(case_config(c), suite.file, "");
      } catch (const std::invalid_argument&) {
        continue;  // The case erred on this config; it ran nothing to give evidence for.
      }
      ObservedBlock block;
      block.parts = now.parts;
      block.device = c.device;
      block.suite = suite.file;
      block.case_id = c.id;
      observed.push_back(std::move(block));
    }
  }
  return observed;
}

}  // namespace ttt
