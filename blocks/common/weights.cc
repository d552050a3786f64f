#include "blocks/common/weights.h"

#include <stdexcept>
#include <string>
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

Tensor load_optional(const WeightSource& source) {
  return source.defined() ? source.load() : Tensor();
}

void check_weight(const char* block, const char* name, const WeightSource& source,
                  const Shape& expected) {
  const std::string prefix = std::string("[") + block + "] " + name;
  if (!source.defined()) throw std::invalid_argument(prefix + " is missing");
  if (source.shape() != expected) {
    throw std::invalid_argument(prefix + " has shape " + shape_to_string(source.shape()) +
                                ", expected " + shape_to_string(expected));
  }
}

void check_optional_weight(const char* block, const char* name, const WeightSource& source,
                           const Shape& expected, bool wanted, const std::string& condition) {
  if (wanted && !source.defined()) {
    throw std::invalid_argument(std::string("[") + block + "] " + name +
                                " is missing: " + condition);
  }
  if (!wanted && source.defined()) {
    throw std::invalid_argument(std::string("[") + block + "] " + name + " is given, but " +
                                condition);
  }
  if (wanted) check_weight(block, name, source, expected);
}

std::string flag_condition(const char* field, bool set) {
  return std::string("spec.") + field + (set ? " is set" : " is not set");
}

}  // namespace ttt
