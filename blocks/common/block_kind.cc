#include "blocks/common/block_kind.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace ttt {

// Defined in the file blocks/CMakeLists.txt generates: calls add_<folder>_block_kinds(kinds) of
// every blocks/<folder>/kinds.cc and appends each folder's name to `folders`.
void add_generated_block_kinds(std::vector<BlockKind>& kinds, std::vector<std::string>& folders);

namespace {

struct Catalog {
  std::vector<BlockKind> kinds;
  std::vector<std::string> folders;
};

// A descriptor that replay, the suites or coverage could not use is a programming error in its
// kinds.cc: refused on first use, naming the kind.
void check_kind(const BlockKind& kind) {
  const auto fail = [&](const std::string& what) {
    throw std::logic_error("[block_kinds] kind '" + kind.name + "' " + what);
  };
  if (kind.name.empty()) fail("has no name");
  if (kind.family.empty()) fail("has no family");
  if (!kind.bind) fail("has no bind function");
  if (!kind.configure || !kind.identity || !kind.weights) {
    fail("has no configure, identity or weights function");
  }
  if (kind.outputs.empty()) fail("has no outputs");
}

// BlockKind::depends_on names code of other kind folders, "blocks/<folder>/" or
// "blocks/<folder>/<stem>", sorted, once each: test selection maps changed paths to kinds through
// them (docs/fingerprints.md "Selection").
void check_dependencies(const BlockKind& kind, const std::vector<std::string>& folders) {
  const auto fail = [&](const std::string& what) {
    throw std::logic_error("[block_kinds] kind '" + kind.name + "' " + what);
  };
  if (!std::is_sorted(kind.depends_on.begin(), kind.depends_on.end()) ||
      std::adjacent_find(kind.depends_on.begin(), kind.depends_on.end()) != kind.depends_on.end()) {
    fail("depends_on is not sorted without repeats");
  }
  for (const std::string& entry : kind.depends_on) {
    const std::size_t slash = entry.find('/', 7);
    const std::string folder = entry.starts_with("blocks/") && slash != std::string::npos
                                   ? entry.substr(7, slash - 7)
                                   : "";
    if (!std::binary_search(folders.begin(), folders.end(), folder) ||
        "blocks/" + folder == kind.folder) {
      fail("depends_on names '" + entry +
           "', which is not in another folder of blocks/ with a kinds.cc");
    }
  }
}

const Catalog& catalog() {
  static const Catalog* const built = [] {
    auto* result = new Catalog();
    add_generated_block_kinds(result->kinds, result->folders);
    std::sort(result->kinds.begin(), result->kinds.end(),
              [](const BlockKind& a, const BlockKind& b) { return a.name < b.name; });
    std::sort(result->folders.begin(), result->folders.end());
    for (std::size_t i = 0; i < result->kinds.size(); ++i) {
      check_kind(result->kinds[i]);
      check_dependencies(result->kinds[i], result->folders);
      if (i > 0 && result->kinds[i - 1].name == result->kinds[i].name) {
        throw std::logic_error("[block_kinds] kind '" + result->kinds[i].name +
                               "' is defined twice");
      }
    }
    return result;
  }();
  return *built;
}

}  // namespace

std::vector<std::string> BlockKind::shape_fields(Mode mode) const {
  std::vector<std::string> fields{"batch"};
  if (mode == Mode::prefill) fields.emplace_back("seq_len");
  if (mode == Mode::decode && decode_reads_context) fields.emplace_back("context_len");
  return fields;
}

BlockReplayer BlockKind::replayer() const {
  return {.kind = name,
          .inputs = replay_inputs,
          .outputs = outputs,
          .tolerances = tolerances,
          .metric_policy = metric_policy,
          .bind = bind};
}

const std::vector<BlockKind>& block_kinds() { return catalog().kinds; }

const BlockKind* find_block_kind(std::string_view name) {
  const std::vector<BlockKind>& kinds = block_kinds();
  const auto it = std::lower_bound(
      kinds.begin(), kinds.end(), name,
      [](const BlockKind& kind, std::string_view wanted) { return kind.name < wanted; });
  return it != kinds.end() && it->name == name ? &*it : nullptr;
}

const std::vector<std::string>& block_kind_folders() { return catalog().folders; }

void require_call_shapes(const CallShapes& shapes, Mode mode, bool uses_context) {
  if (shapes.batch < 1) {
    throw std::invalid_argument("shapes.batch must be >= 1, got " + std::to_string(shapes.batch));
  }
  if (mode == Mode::prefill && shapes.seq_len < 1) {
    throw std::invalid_argument("shapes.seq_len must be >= 1 in prefill, got " +
                                std::to_string(shapes.seq_len));
  }
  if (uses_context && shapes.context_len < 0) {
    throw std::invalid_argument("shapes.context_len must be >= 0, got " +
                                std::to_string(shapes.context_len));
  }
}

Shape activation_shape(Mode mode, const CallShapes& shapes, std::int64_t width) {
  if (mode == Mode::prefill) return {shapes.batch, shapes.seq_len, width};
  return {shapes.batch, width};
}

Fingerprint fingerprint_of(const BlockKind& kind, const ConfiguredBlock& block, Mode mode,
                           const CallShapes& shapes) {
  return make_fingerprint(fingerprint_parts(kind, block, mode, shapes));
}

FingerprintParts fingerprint_parts(const BlockKind& kind, const ConfiguredBlock& block, Mode mode,
                                   const CallShapes& shapes) {
  FingerprintParts parts;
  parts.kind = kind.name;
  parts.mode = std::string(mode_name(mode));
  parts.spec = block.spec;
  parts.impl_config = block.impl_config;
  parts.identity = block.identity;
  parts.batch = shapes.batch;
  if (mode == Mode::prefill) {
    parts.tokens = shapes.seq_len;
  } else {
    parts.tokens = kind.decode_reads_context ? shapes.context_len : 1;
  }
  const auto mesh = block.spec.is_object() ? block.spec.find("mesh") : block.spec.end();
  if (mesh != block.spec.end()) {
    if (!mesh->is_string()) {
      throw std::invalid_argument("[fingerprint] " + kind.name +
                                  " spec.mesh: expected a mesh name, got " + mesh->dump());
    }
    const Mesh parsed = parse_mesh(mesh->get<std::string>());
    parts.mesh = std::to_string(parsed.rows) + "x" + std::to_string(parsed.cols);
  }
  parts.batch = token_bucket(parts.batch);
  parts.tokens = token_bucket(parts.tokens);
  return parts;
}

DeviceCost device_cost(const BlockKind& kind, const ConfiguredBlock& block, Mode mode,
                       const CallShapes& shapes) {
  if (!kind.cost) {
    throw std::invalid_argument("[device cost] block kind '" + kind.name +
                                "' declares no device cost (BlockKind::cost in "
                                "blocks/<family>/kinds.cc)");
  }
  return kind.cost(block, mode, shapes);
}

std::int64_t cache_length(std::int64_t positions_needed) {
  return std::max<std::int64_t>(32, (positions_needed + 31) / 32 * 32);
}

}  // namespace ttt
