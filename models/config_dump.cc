#include "models/config_dump.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <utility>

#include "blocks/common/block_kind.h"
#include "patterns/module_configs.h"
#include "validation/fingerprint/fingerprint.h"
#include "validation/input/input_file.h"
#include "validation/input/json_reader.h"
#include "validation/trace/trace_error.h"
#include "validation/trace/trace_reader.h"

namespace ttt {
namespace {

using Json = nlohmann::json;

std::string mesh_text(const Mesh& mesh) {
  return std::to_string(mesh.rows) + "x" + std::to_string(mesh.cols);
}

// The shapes of the run's calls in `mode`: one prefill, then one decode per step.
std::vector<CallShapes> call_shapes(const ConfigDumpRun& run, Mode mode) {
  if (mode == Mode::prefill) return {{.batch = run.batch, .seq_len = run.prompt_tokens}};
  std::vector<CallShapes> shapes;
  for (std::int64_t step = 0; step < run.decode_steps; ++step) {
    shapes.push_back({.batch = run.batch, .context_len = run.prompt_tokens + step});
  }
  return shapes;
}

Json module_entry(const ModuleConfig& config, const ConfigDumpRun& run) {
  Json entry = {{"module", config.path},
                {"mode", std::string(mode_name(config.mode))},
                {"kind", config.info.block},
                {"identity", ""},
                {"spec", Json::parse(config.info.spec_json)},
                {"impl_config", Json::parse(config.info.impl_config_json)},
                {"fingerprints", Json::array()}};
  const BlockKind* kind = find_block_kind(config.info.block);
  if (kind == nullptr) return entry;
  const ConfiguredBlock block{entry["spec"], entry["impl_config"], kind->identity(entry["spec"])};
  entry["identity"] = block.identity;
  std::set<std::string> seen;
  for (const CallShapes& shapes : call_shapes(run, config.mode)) {
    const Fingerprint fingerprint = fingerprint_of(*kind, block, config.mode, shapes);
    if (seen.insert(fingerprint.id).second) entry["fingerprints"].push_back(to_json(fingerprint));
  }
  return entry;
}

// The strict reading of a dump's structure; `node` is its root.
void check_dump(const JsonNode& node) {
  node.object();
  if (!node.has("ttt_config_dump")) node.fail("not a configuration dump (no ttt_config_dump key)");
  const std::int64_t version = node.at("ttt_config_dump").integer();
  if (version > kConfigDumpFormatVersion) {
    node.at("ttt_config_dump")
        .fail("format version " + std::to_string(version) +
              " is newer than this ttt understands (" + std::to_string(kConfigDumpFormatVersion) +
              ")");
  }
  node.allow_only({"ttt_config_dump", "tttv2_version", "fingerprint_version", "model", "device",
                   "mesh", "preset", "shapes", "modules"});
  for (const char* key : {"tttv2_version", "fingerprint_version", "device", "mesh", "preset"}) {
    node.at(key).string();
  }
  const JsonNode model = node.at("model");
  model.allow_only({"source", "spec"});
  model.at("source").string();
  model.at("spec").object();
  const JsonNode shapes = node.at("shapes");
  shapes.allow_only({"batch", "prompt_tokens", "decode_steps"});
  for (const char* key : {"batch", "prompt_tokens", "decode_steps"}) {
    shapes.at(key).integer_at_least(0);
  }
  const JsonNode modules = node.at("modules");
  for (std::size_t i = 0; i < modules.size(); ++i) {
    const JsonNode entry = modules.at(i);
    entry.allow_only({"module", "mode", "kind", "identity", "spec", "impl_config", "fingerprints"});
    entry.at("module").string();
    const JsonNode mode = entry.at("mode");
    if (mode.string() != "prefill" && mode.string() != "decode") {
      mode.fail("expected \"prefill\" or \"decode\", got \"" + mode.string() + "\"");
    }
    entry.at("kind").string();
    entry.at("identity").string();
    entry.at("spec").object();
    entry.at("impl_config").object();
    const JsonNode fingerprints = entry.at("fingerprints");
    for (std::size_t f = 0; f < fingerprints.size(); ++f) fingerprint_from_json(fingerprints.at(f));
  }
}

bool is_hdf5_file(const std::string& path) {
  static constexpr std::array<char, 8> kSignature = {'\x89', 'H',  'D',    'F',
                                                     '\r',   '\n', '\x1a', '\n'};
  std::ifstream in(path, std::ios::binary);
  std::array<char, 8> head{};
  return in.read(head.data(), head.size()) && head == kSignature;
}

// Appends the leaves where `a` and `b` differ, under `path` ("impl_config.ff1"). An absent side
// is null.
void diff_values(const Json& a, const Json& b, const std::string& path, const std::string& module,
                 std::vector<ConfigDifference>& out) {
  const auto child = [&](const std::string& key) { return path.empty() ? key : path + "." + key; };
  if (a.is_object() && b.is_object()) {
    std::set<std::string> keys;
    for (const auto& [key, value] : a.items()) keys.insert(key);
    for (const auto& [key, value] : b.items()) keys.insert(key);
    for (const std::string& key : keys) {
      diff_values(a.contains(key) ? a.at(key) : Json(), b.contains(key) ? b.at(key) : Json(),
                  child(key), module, out);
    }
  } else if (a.is_array() && b.is_array()) {
    for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
      diff_values(i < a.size() ? a[i] : Json(), i < b.size() ? b[i] : Json(),
                  path + "[" + std::to_string(i) + "]", module, out);
    }
  } else if (canonical_json(a) != canonical_json(b)) {
    out.push_back({module, path, a, b});
  }
}

std::string module_key(const Json& entry) {
  return entry.at("module").get<std::string>() + " " + entry.at("mode").get<std::string>();
}

// A module entry with its fingerprints as ids only: the summaries repeat what the other fields
// say, so a changed field would be named three times.
Json comparable(const Json& entry) {
  Json copy = entry;
  Json ids = Json::array();
  for (const Json& fingerprint : entry.at("fingerprints")) ids.push_back(fingerprint.at("id"));
  copy["fingerprints"] = std::move(ids);
  copy.erase("module");
  copy.erase("mode");
  return copy;
}

}  // namespace

Json make_config_dump(const CausalLm& model, const ConfigDumpRun& run) {
  Json modules = Json::array();
  for (const ModuleConfig& config : module_configs(model)) {
    modules.push_back(module_entry(config, run));
  }
  return {{"ttt_config_dump", kConfigDumpFormatVersion},
          {"tttv2_version", TTT_VERSION},
          {"fingerprint_version", fingerprint_version()},
          {"model", {{"source", run.source}, {"spec", run.model_spec}}},
          {"device", std::string(device_name(run.device))},
          {"mesh", mesh_text(run.mesh)},
          {"preset", run.preset ? std::string(preset_name(*run.preset)) : std::string("none")},
          {"shapes",
           {{"batch", run.batch},
            {"prompt_tokens", run.prompt_tokens},
            {"decode_steps", run.decode_steps}}},
          {"modules", std::move(modules)}};
}

Json read_config_dump(const std::string& path) {
  require_regular_file(path);
  Json dump;
  std::string source = path;
  if (is_hdf5_file(path)) {
    std::string text;
    try {
      text = TraceReader::open(path).header().config_json;
    } catch (const TraceError& error) {
      throw std::invalid_argument(error.what());
    }
    if (text.empty()) {
      throw std::invalid_argument(path +
                                  ": the trace carries no configuration dump (root attribute "
                                  "'config'; ttt demo writes one)");
    }
    source = path + " (attribute 'config')";
    dump = parse_json(text, source);
  } else {
    dump = read_json_file(path, "the configuration dump");
  }
  check_dump(JsonNode(dump, source));
  return dump;
}

std::vector<ConfigDifference> diff_config_dumps(const Json& a, const Json& b) {
  std::vector<ConfigDifference> out;
  for (const char* key :
       {"tttv2_version", "fingerprint_version", "device", "mesh", "preset", "shapes", "model"}) {
    diff_values(a.at(key), b.at(key), key, "", out);
  }
  std::map<std::string, const Json*> in_b;
  for (const Json& entry : b.at("modules")) in_b.emplace(module_key(entry), &entry);
  std::set<std::string> in_a;
  for (const Json& entry : a.at("modules")) {
    const std::string key = module_key(entry);
    in_a.insert(key);
    const auto other = in_b.find(key);
    if (other == in_b.end()) {
      out.push_back({key, "", entry.at("kind"), Json()});
      continue;
    }
    diff_values(comparable(entry), comparable(*other->second), "", key, out);
  }
  for (const Json& entry : b.at("modules")) {
    const std::string key = module_key(entry);
    if (in_a.count(key) == 0) out.push_back({key, "", Json(), entry.at("kind")});
  }
  return out;
}

std::string describe(const ConfigDifference& difference) {
  std::string text = difference.module.empty() ? "" : difference.module + ": ";
  if (difference.field.empty()) return text + (difference.b.is_null() ? "only in A" : "only in B");
  const auto value = [](const Json& json) {
    return json.is_null() ? std::string("(absent)") : json.dump();
  };
  return text + difference.field + ": " + value(difference.a) + " -> " + value(difference.b);
}

}  // namespace ttt
