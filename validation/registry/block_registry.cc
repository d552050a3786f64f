#include "validation/registry/block_registry.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "validation/registry/builtin_blocks.h"

namespace ttt {

BindCache::BindCache(std::size_t capacity) : capacity_(capacity) {
  if (capacity == 0) throw std::invalid_argument("[BindCache] capacity must be >= 1");
}

std::size_t BindCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

std::int64_t BindCache::hits() const {
  std::lock_guard lock(mutex_);
  return hits_;
}

std::shared_ptr<const void> BindCache::find(const std::string& key) {
  std::lock_guard lock(mutex_);
  const auto it = std::find_if(entries_.begin(), entries_.end(),
                               [&](const auto& entry) { return entry.first == key; });
  if (it == entries_.end()) return nullptr;
  entries_.splice(entries_.begin(), entries_, it);
  ++hits_;
  return entries_.front().second;
}

void BindCache::put(const std::string& key, std::shared_ptr<const void> value) {
  std::lock_guard lock(mutex_);
  std::erase_if(entries_, [&](const auto& entry) { return entry.first == key; });
  entries_.emplace_front(key, std::move(value));
  if (entries_.size() > capacity_) entries_.pop_back();
}

std::string tensor_cache_key(const Tensor& tensor) {
  if (!tensor.defined()) return "-";
  const void* values = nullptr;
  switch (tensor.dtype()) {
    case DType::int32:
      values = tensor.data<std::int32_t>();
      break;
    case DType::int64:
      values = tensor.data<std::int64_t>();
      break;
    case DType::float64:
      values = tensor.data<double>();
      break;
    default:
      values = tensor.data<float>();
      break;
  }
  char address[32];
  std::snprintf(address, sizeof(address), "%p", values);
  return std::string(address) + ":" + std::string(dtype_name(tensor.dtype())) +
         shape_to_string(tensor.shape());
}

const Tensor& BlockCall::input(std::string_view name) const {
  for (const NamedTensor& input : inputs) {
    if (input.name == name) return input.tensor;
  }
  throw std::invalid_argument("[" + kind + "] missing input '" + std::string(name) + "'");
}

std::shared_ptr<const MeshTensor> BlockCall::mesh(std::string_view name) const {
  for (const NamedTensor& input : inputs) {
    if (input.name == name) return input.mesh;
  }
  return nullptr;
}

std::vector<Tensor> BlockCall::container(std::string_view name) const {
  const std::string prefix = std::string(name) + "/";
  std::vector<std::pair<std::int64_t, Tensor>> elements;
  for (const NamedTensor& input : inputs) {
    if (input.name.rfind(prefix, 0) != 0) continue;
    const std::string index = input.name.substr(prefix.size());
    if (index.empty() || index.size() > 9 ||
        !std::all_of(index.begin(), index.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      throw std::invalid_argument("[" + kind + "] container input '" + input.name +
                                  "' has an element name that is not an index");
    }
    elements.emplace_back(std::stoll(index), input.tensor);
  }
  std::sort(elements.begin(), elements.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Tensor> tensors;
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (elements[i].first != static_cast<std::int64_t>(i)) {
      throw std::invalid_argument("[" + kind + "] container input '" + std::string(name) +
                                  "' has no element " + std::to_string(i));
    }
    tensors.push_back(elements[i].second);
  }
  return tensors;
}

void BlockRegistry::add(BlockReplayer replayer) {
  if (replayer.kind.empty()) throw std::invalid_argument("[BlockRegistry] empty block kind");
  if (!replayer.bind) {
    throw std::invalid_argument("[BlockRegistry] block kind '" + replayer.kind +
                                "' has no bind function");
  }
  std::lock_guard lock(mutex_);
  if (replayers_.count(replayer.kind) != 0) {
    throw std::invalid_argument("[BlockRegistry] block kind '" + replayer.kind +
                                "' is already registered");
  }
  std::string kind = replayer.kind;
  replayers_.emplace(std::move(kind), std::make_unique<BlockReplayer>(std::move(replayer)));
}

const BlockReplayer* BlockRegistry::find(std::string_view kind) const {
  std::lock_guard lock(mutex_);
  const auto it = replayers_.find(kind);
  return it == replayers_.end() ? nullptr : it->second.get();
}

std::vector<std::string> BlockRegistry::kinds() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> kinds;
  for (const auto& entry : replayers_) kinds.push_back(entry.first);
  return kinds;
}

BlockRegistry& BlockRegistry::global() {
  static BlockRegistry* registry = [] {
    auto* created = new BlockRegistry();  // Never destroyed: registrations outlive static order.
    add_builtin_blocks(*created);
    return created;
  }();
  return *registry;
}

BlockRegistration::BlockRegistration(BlockReplayer replayer) {
  BlockRegistry::global().add(std::move(replayer));
}

std::vector<NamedTensor> named(std::vector<NamedTensor> outputs) { return outputs; }

}  // namespace ttt
