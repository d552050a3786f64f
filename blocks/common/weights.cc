#include "blocks/common/weights.h"

#include <utility>

namespace ttt {

WeightSource::WeightSource(Tensor tensor) : tensor_(std::move(tensor)) {
  if (!tensor_.defined()) throw std::invalid_argument("[WeightSource] undefined tensor");
  if (!is_floating(tensor_.dtype())) {
    throw std::invalid_argument("[WeightSource] weight has dtype " +
                                std::string(dtype_name(tensor_.dtype())) +
                                ", expected a floating dtype");
  }
  shape_ = tensor_.shape();
}

WeightSource::WeightSource(Shape shape, std::function<Tensor()> load)
    : shape_(std::move(shape)), load_(std::move(load)) {
  if (!load_) throw std::invalid_argument("[WeightSource] empty load function");
}

const Shape& WeightSource::shape() const {
  if (!defined()) throw std::logic_error("[WeightSource] shape() of an undefined source");
  return shape_;
}

Tensor WeightSource::load() const {
  if (!defined()) throw std::logic_error("[WeightSource] load() of an undefined source");
  if (!load_) return tensor_;
  Tensor loaded = load_();
  if (!loaded.defined() || loaded.shape() != shape_) {
    throw std::invalid_argument(
        "[WeightSource] loader returned shape " +
        (loaded.defined() ? shape_to_string(loaded.shape()) : std::string("(undefined)")) +
        ", expected " + shape_to_string(shape_));
  }
  return loaded;
}

}  // namespace ttt
