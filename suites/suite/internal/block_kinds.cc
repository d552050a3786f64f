#include "suites/suite/internal/block_kinds.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

#include "suites/suite/internal/hash.h"
#include "validation/input/allocation_limit.h"
#include "validation/mesh/mesh.h"
#include "validation/tensor/random.h"

namespace ttt::suite_detail {
namespace {

// Draws the inputs a kind lists for one case, or (measure_only) adds up their bytes without
// drawing, so that a suite file is checked against the allocation limit before anything is
// allocated. Both refuse inputs whose bytes together exceed the limit, naming the input that
// crosses it.
class Drawer {
 public:
  Drawer(const SeededInputs& seeded, std::uint64_t seed, bool measure_only)
      : seeded_(seeded), seed_(seed), measure_only_(measure_only) {}

  void add(const InputPlan& call) {
    for (const auto& entry : call.inputs) {
      if (const auto* rule = std::get_if<InputRule>(&entry)) {
        add(*rule, rule->name);
      } else {
        add_repeated(std::get<RepeatedInputs>(entry));
      }
    }
    for (const auto& [name, value] : call.scalars.items()) inputs_.scalars[name] = value;
  }
  CaseInputs& inputs() { return inputs_; }

 private:
  void add(const InputRule& rule, const std::string& name) {
    if (rule.mesh && rule.mesh->per_device) {
      add_per_device(rule, name, *rule.mesh);
      return;
    }
    // A mesh input is held whole and as its shards (the replicated axes' copies included).
    const std::uint64_t copies = rule.mesh ? 1 + stored_copies(*rule.mesh) : 1;
    if (!reserve(name, rule.shape, stored_dtype(rule), copies)) return;
    NamedTensor input{name, draw(rule, input_seed(seed_, name))};
    if (rule.mesh) {
      input.mesh = std::make_shared<const MeshTensor>(
          rule.mesh->layout ? rule.mesh->layout(input.tensor)
                            : distribute(input.tensor, rule.mesh->mesh, rule.mesh->placements));
    }
    inputs_.tensors.push_back(std::move(input));
  }

  // One tensor per device, each from its own seed "<name>/<device>", as the container
  // <name>/<device> with the placements as the scalar the container form carries.
  void add_per_device(const InputRule& rule, const std::string& name, const MeshInputRule& mesh) {
    const auto devices = static_cast<std::uint64_t>(mesh.mesh.size());
    if (!reserve(name, rule.shape, stored_dtype(rule), devices)) return;
    for (int device = 0; device < mesh.mesh.size(); ++device) {
      const std::string element = name + "/" + std::to_string(device);
      inputs_.tensors.push_back({element, draw(rule, input_seed(seed_, element))});
    }
    inputs_.scalars["placements"] = {placement_name(mesh.placements[0]),
                                     placement_name(mesh.placements[1])};
  }

  Tensor draw(const InputRule& rule, std::uint64_t seed) const {
    switch (rule.seeding) {
      case Seeding::activation:
        return seeded_activation(rule.shape, seeded_.activation_std, seed);
      case Seeding::matrix:
      case Seeding::offset_scale:
        return random_normal(rule.shape, seed, 0.0, seeded_.weight_std);
      case Seeding::norm_scale:
        return random_normal(rule.shape, seed, 1.0, seeded_.weight_std);
      case Seeding::ids:
        return random_integers(rule.shape, seed, 0, rule.vocab, DType::int64);
      case Seeding::positions:
        return uniform_positions(rule.shape.at(0), rule.position);
      case Seeding::kv_cache:
        return seeded_cache(rule.shape, rule.dtype, rule.filled, seed);
    }
    throw std::logic_error("[suite] unknown seeding of input '" + rule.name + "'");
  }

  // How many times a whole mesh input's elements are held in its shards: once per device of each
  // replicated axis; at most once per device for a kind's own layout.
  static std::uint64_t stored_copies(const MeshInputRule& mesh) {
    if (mesh.layout) return static_cast<std::uint64_t>(mesh.mesh.size());
    std::uint64_t copies = 1;
    for (int axis = 0; axis < 2; ++axis) {
      if (mesh.placements[axis].kind == Placement::Kind::replicated) {
        copies *= static_cast<std::uint64_t>(mesh.mesh.axis_size(axis));
      }
    }
    return copies;
  }

  // The groups (an MoE's experts) are checked against the limit at once: adding them one by one
  // would loop `count` times (2^40 for a hostile num_experts) before the total crossed the limit.
  // When drawing, each input is counted again as it is drawn.
  void add_repeated(const RepeatedInputs& group) {
    std::uint64_t group_bytes = 0;
    for (const InputRule& rule : group.each) {
      group_bytes = saturating_add(group_bytes, input_bytes(rule.shape, DType::float32));
    }
    const std::uint64_t total = saturating_add(
        total_bytes_, bytes_of(static_cast<std::uint64_t>(group.count), group_bytes));
    check_allocation(total, group.what + ", with the inputs before them,");
    if (measure_only_) {
      total_bytes_ = total;
      return;
    }
    for (std::int64_t i = 0; i < group.count; ++i) {
      for (const InputRule& rule : group.each) add(rule, rule.name + "/" + std::to_string(i));
    }
  }

  // The dtype an input's bytes are counted in: int64 ids and positions, a cache's own format,
  // float32 for the rest (activations are drawn in float32 before rounding).
  static DType stored_dtype(const InputRule& rule) {
    switch (rule.seeding) {
      case Seeding::ids:
      case Seeding::positions:
        return DType::int64;
      case Seeding::kv_cache:
        return rule.dtype;
      default:
        return DType::float32;
    }
  }
  static std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
    return std::min(a, std::numeric_limits<std::uint64_t>::max() - b) + b;
  }
  static std::uint64_t input_bytes(const Shape& shape, DType dtype) {
    return bytes_of(static_cast<std::uint64_t>(shape_numel(shape, "seeded input")),
                    element_size(dtype));
  }
  // Counts the input's bytes, `copies` times (a mesh input's shards); false when only measuring.
  bool reserve(const std::string& name, const Shape& shape, DType dtype, std::uint64_t copies = 1) {
    total_bytes_ = saturating_add(total_bytes_, bytes_of(copies, input_bytes(shape, dtype)));
    check_allocation(total_bytes_,
                     "seeded input '" + name + "' (shape " + shape_to_string(shape) +
                         (copies > 1 ? ", held " + std::to_string(copies) + " times" : "") +
                         "), with the inputs before it,");
    return !measure_only_;
  }

  SeededInputs seeded_;
  std::uint64_t seed_;
  bool measure_only_;
  std::uint64_t total_bytes_ = 0;
  CaseInputs inputs_;
};

CallShapes call_shapes(const CaseShapes& shapes) {
  return {shapes.batch, shapes.seq_len, shapes.context_len};
}

}  // namespace

const KnownKind* find_known_kind(std::string_view kind) {
  const BlockKind* found = find_block_kind(kind);
  return found != nullptr && found->seeded_inputs ? found : nullptr;
}

std::vector<std::string> known_kind_names() {
  std::vector<std::string> names;
  for (const BlockKind& kind : block_kinds()) {
    if (kind.seeded_inputs) names.push_back(kind.name);
  }
  return names;
}

ParsedBlock parse_block(const KnownKind& kind, const JsonNode& spec, Device device, Mode mode,
                        const std::optional<Preset>& preset,
                        const JsonNode& impl_config_overrides) {
  return kind.configure(spec, device, mode, preset, impl_config_overrides);
}

std::string block_identity(const KnownKind& kind, const nlohmann::json& spec) {
  return kind.identity(spec);
}

std::vector<std::string> shape_fields(const KnownKind& kind, Mode mode) {
  return kind.shape_fields(mode);
}

CaseInputs seeded_block_inputs(const KnownKind& kind, const ParsedBlock& block, Mode mode,
                               const CaseShapes& shapes, const SeededInputs& seeded,
                               std::uint64_t seed) {
  if (!(seeded.activation_std > 0.0) || !(seeded.weight_std > 0.0)) {
    throw std::invalid_argument("seeded inputs need activation_std > 0 and weight_std > 0");
  }
  Drawer draw(seeded, seed, /*measure_only=*/false);
  const CallShapes call = call_shapes(shapes);
  draw.add(kind.seeded_inputs(block, mode, call));
  if (!seeded.regime.empty()) {
    find_edge_regime(kind.name, kind.edge_regimes, seeded.regime)
        .apply(block, mode, call, draw.inputs().tensors);
  }
  return std::move(draw.inputs());
}

void check_seeded_input_bytes(const KnownKind& kind, const ParsedBlock& block, Mode mode,
                              const CaseShapes& shapes) {
  Drawer measure(SeededInputs{}, 0, /*measure_only=*/true);
  measure.add(kind.seeded_inputs(block, mode, call_shapes(shapes)));
}

Tensor seeded_cache(const Shape& shape, DType dtype, std::int64_t filled, std::uint64_t seed) {
  const std::int64_t max_seq = shape[2];
  const std::int64_t head_dim = shape[3];
  if (filled > max_seq) {
    throw std::invalid_argument("cache of " + std::to_string(max_seq) + " positions cannot hold " +
                                std::to_string(filled));
  }
  std::vector<float> values(static_cast<std::size_t>(shape_numel(shape)), 0.0f);
  if (filled > 0) {
    const Tensor drawn = random_normal({shape_numel(shape)}, seed, 0.0, 1.0);
    const std::span<const float> source = drawn.floats();
    const std::int64_t rows = shape[0] * shape[1];
    for (std::int64_t row = 0; row < rows; ++row) {
      const std::int64_t begin = row * max_seq * head_dim;
      std::copy_n(source.begin() + begin, filled * head_dim, values.begin() + begin);
    }
  }
  return Tensor::from_floats(shape, std::move(values), dtype);
}

Tensor seeded_activation(const Shape& shape, double std, std::uint64_t seed) {
  return random_normal(shape, seed, 0.0, std, DType::bfloat16);
}

Tensor uniform_positions(std::int64_t batch, std::int64_t position) {
  return Tensor::from_int64({batch},
                            std::vector<std::int64_t>(static_cast<std::size_t>(batch), position));
}

}  // namespace ttt::suite_detail
