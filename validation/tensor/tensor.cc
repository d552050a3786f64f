#include "validation/tensor/tensor.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "validation/input/allocation_limit.h"
#include "validation/tensor/formats.h"

namespace ttt {

// Owning storage is a heap buffer; a view's storage points at caller memory and owns nothing.
struct Tensor::Storage {
  std::unique_ptr<std::byte[]> owned;
  void* data = nullptr;
  std::size_t bytes = 0;
};

std::int64_t shape_numel(const Shape& shape, const char* operation) {
  if (shape.size() > static_cast<std::size_t>(kMaxRank)) {
    throw std::invalid_argument(std::string("[") + operation + "] rank " +
                                std::to_string(shape.size()) + " exceeds the maximum of " +
                                std::to_string(kMaxRank) + " in shape " + shape_to_string(shape));
  }
  std::int64_t numel = 1;
  for (std::int64_t dim : shape) {
    if (dim < 0) {
      throw std::invalid_argument(std::string("[") + operation + "] negative dimension in shape " +
                                  shape_to_string(shape));
    }
    if (dim != 0 && numel > std::numeric_limits<std::int64_t>::max() / dim) {
      throw std::invalid_argument(std::string("[") + operation + "] shape " +
                                  shape_to_string(shape) + " has too many elements");
    }
    numel *= dim;
  }
  return numel;
}

std::string shape_to_string(const Shape& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

namespace {

std::int64_t row_length_of(const Shape& shape) { return shape.empty() ? 1 : shape.back(); }

void quantize_values(std::span<float> values, const Shape& shape, DType dtype) {
  if (dtype == DType::float32 || values.empty()) return;
  quantize_in_place(values, row_length_of(shape), dtype);
}

template <typename T>
constexpr bool dtype_holds(DType dtype) {
  if constexpr (std::is_same_v<T, float>) return is_held_as_float32(dtype);
  if constexpr (std::is_same_v<T, double>) return dtype == DType::float64;
  if constexpr (std::is_same_v<T, std::int32_t>) return dtype == DType::int32;
  if constexpr (std::is_same_v<T, std::int64_t>) return dtype == DType::int64;
  return false;
}

}  // namespace

Tensor::Tensor(Shape shape, DType dtype) : shape_(std::move(shape)), dtype_(dtype) {
  const std::int64_t numel = shape_numel(shape_, "Tensor");
  const std::uint64_t bytes = bytes_of(static_cast<std::uint64_t>(numel), element_size(dtype));
  // Readers check declared sizes with the file's name first; this bounds everything else.
  check_allocation(bytes, "[Tensor] shape " + shape_to_string(shape_) + " of " +
                              std::string(dtype_name(dtype)));
  storage_ = std::make_shared<Storage>();
  storage_->bytes = static_cast<std::size_t>(bytes);
  storage_->owned = std::make_unique<std::byte[]>(storage_->bytes);  // Value-initialised: zeros.
  storage_->data = storage_->owned.get();
}

Tensor::Tensor(std::shared_ptr<Storage> storage, Shape shape, DType dtype,
               std::int64_t offset_elements)
    : storage_(std::move(storage)),
      shape_(std::move(shape)),
      dtype_(dtype),
      offset_(offset_elements) {}

Tensor Tensor::from_floats(Shape shape, std::vector<float> values, DType dtype) {
  if (!is_floating(dtype)) {
    throw std::invalid_argument("[Tensor::from_floats] dtype " + std::string(dtype_name(dtype)) +
                                " is not a floating dtype");
  }
  const std::int64_t numel = shape_numel(shape, "Tensor::from_floats");
  if (static_cast<std::int64_t>(values.size()) != numel) {
    throw std::invalid_argument("[Tensor::from_floats] " + std::to_string(values.size()) +
                                " values given for shape " + shape_to_string(shape) + " (" +
                                std::to_string(numel) + " elements)");
  }
  Tensor tensor(std::move(shape), dtype);
  if (dtype == DType::float64) {
    std::copy(values.begin(), values.end(), tensor.data<double>());  // Exact.
    return tensor;
  }
  // An empty vector's data() may be null, which memcpy must never see.
  if (!values.empty()) std::memcpy(tensor.raw_data(), values.data(), values.size() * sizeof(float));
  tensor.requantize();
  return tensor;
}

Tensor Tensor::from_doubles(Shape shape, std::vector<double> values, DType dtype) {
  if (!is_floating(dtype)) {
    throw std::invalid_argument("[Tensor::from_doubles] dtype " + std::string(dtype_name(dtype)) +
                                " is not a floating dtype");
  }
  const std::int64_t numel = shape_numel(shape, "Tensor::from_doubles");
  if (static_cast<std::int64_t>(values.size()) != numel) {
    throw std::invalid_argument("[Tensor::from_doubles] " + std::to_string(values.size()) +
                                " values given for shape " + shape_to_string(shape) + " (" +
                                std::to_string(numel) + " elements)");
  }
  if (dtype == DType::float64) {
    Tensor tensor(std::move(shape), dtype);
    if (!values.empty()) std::memcpy(tensor.raw_data(), values.data(), tensor.nbytes());
    return tensor;
  }
  // Through a float64 view, so that Tensor::to rounds each value once.
  return Tensor::view(std::move(shape), DType::float64, values.data()).to(dtype);
}

namespace {
template <typename T>
Tensor from_integers(Shape shape, const std::vector<T>& values, DType dtype, const char* op) {
  const std::int64_t numel = shape_numel(shape, op);
  if (static_cast<std::int64_t>(values.size()) != numel) {
    throw std::invalid_argument(std::string("[") + op + "] " + std::to_string(values.size()) +
                                " values given for shape " + shape_to_string(shape) + " (" +
                                std::to_string(numel) + " elements)");
  }
  Tensor tensor(std::move(shape), dtype);
  if (!values.empty()) std::memcpy(tensor.data<T>(), values.data(), values.size() * sizeof(T));
  return tensor;
}
}  // namespace

Tensor Tensor::from_int32(Shape shape, std::vector<std::int32_t> values) {
  return from_integers(std::move(shape), values, DType::int32, "Tensor::from_int32");
}

Tensor Tensor::from_int64(Shape shape, std::vector<std::int64_t> values) {
  return from_integers(std::move(shape), values, DType::int64, "Tensor::from_int64");
}

Tensor Tensor::scalar(float value, DType dtype) { return from_floats({}, {value}, dtype); }

Tensor Tensor::view(Shape shape, DType dtype, void* data) {
  const std::int64_t numel = shape_numel(shape, "Tensor::view");
  if (data == nullptr && numel > 0) {
    throw std::invalid_argument("[Tensor::view] null data for shape " + shape_to_string(shape));
  }
  auto storage = std::make_shared<Storage>();
  storage->data = data;
  storage->bytes = static_cast<std::size_t>(numel) * element_size(dtype);
  return Tensor(std::move(storage), std::move(shape), dtype, 0);
}

void Tensor::check_defined(const char* operation) const {
  if (!storage_) {
    throw std::logic_error(std::string("[Tensor::") + operation + "] the tensor is undefined");
  }
}

const Shape& Tensor::shape() const {
  check_defined("shape");
  return shape_;
}

std::int64_t Tensor::dim(int axis) const {
  const int r = rank();
  const int resolved = axis < 0 ? axis + r : axis;
  if (resolved < 0 || resolved >= r) {
    throw std::out_of_range("[Tensor::dim] axis " + std::to_string(axis) +
                            " is out of range for shape " + shape_to_string(shape_));
  }
  return shape_[static_cast<std::size_t>(resolved)];
}

std::int64_t Tensor::numel() const {
  check_defined("numel");
  std::int64_t n = 1;
  for (std::int64_t d : shape_) n *= d;
  return n;
}

DType Tensor::dtype() const {
  check_defined("dtype");
  return dtype_;
}

std::size_t Tensor::nbytes() const {
  return static_cast<std::size_t>(numel()) * element_size(dtype_);
}

bool Tensor::is_view() const {
  check_defined("is_view");
  return storage_->owned == nullptr;
}

void* Tensor::raw_data() const {
  return static_cast<std::byte*>(storage_->data) +
         static_cast<std::size_t>(offset_) * element_size(dtype_);
}

const void* Tensor::bytes() const {
  check_defined("bytes");
  return raw_data();
}

void* Tensor::mutable_bytes() {
  check_defined("mutable_bytes");
  return raw_data();
}

template <typename T>
T* Tensor::data() {
  return const_cast<T*>(std::as_const(*this).template data<T>());
}

template <typename T>
const T* Tensor::data() const {
  check_defined("data");
  if (!dtype_holds<T>(dtype_)) {
    throw std::invalid_argument("[Tensor::data] requested element type does not match dtype " +
                                std::string(dtype_name(dtype_)));
  }
  return static_cast<const T*>(raw_data());
}

template float* Tensor::data<float>();
template const float* Tensor::data<float>() const;
template std::int32_t* Tensor::data<std::int32_t>();
template const std::int32_t* Tensor::data<std::int32_t>() const;
template std::int64_t* Tensor::data<std::int64_t>();
template const std::int64_t* Tensor::data<std::int64_t>() const;
template double* Tensor::data<double>();
template const double* Tensor::data<double>() const;

std::int64_t flat_index(const Shape& shape, std::span<const std::int64_t> index,
                        const char* operation) {
  if (index.size() != shape.size()) {
    throw std::out_of_range(std::string("[") + operation + "] index of rank " +
                            std::to_string(index.size()) + " for a tensor of shape " +
                            shape_to_string(shape));
  }
  std::int64_t flat = 0;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (index[i] < 0 || index[i] >= shape[i]) {
      throw std::out_of_range(std::string("[") + operation + "] index " +
                              shape_to_string(Shape(index.begin(), index.end())) +
                              " is out of range for shape " + shape_to_string(shape));
    }
    flat = flat * shape[i] + index[i];
  }
  return flat;
}

std::vector<std::int64_t> unflatten_index(const Shape& shape, std::int64_t flat,
                                          const char* operation) {
  const std::int64_t numel = shape_numel(shape, operation);
  if (flat < 0 || flat >= numel) {
    throw std::out_of_range(std::string("[") + operation + "] flat index " + std::to_string(flat) +
                            " is out of range for shape " + shape_to_string(shape));
  }
  std::vector<std::int64_t> index(shape.size());
  for (std::size_t i = shape.size(); i-- > 0;) {
    index[i] = flat % shape[i];
    flat /= shape[i];
  }
  return index;
}

namespace {

std::string format_value(double value) {
  std::ostringstream text;
  text.precision(9);
  text << value;
  return text.str();
}

// Rounds to the nearest integer, ties to even. Throws for NaN, Inf and values outside Int.
template <typename Int>
Int round_to_integer(double value, const char* operation, std::int64_t element) {
  const double rounded = std::nearbyint(value);
  // -min() is 2^31 or 2^63, exact in double, unlike max().
  constexpr double kLimit = -static_cast<double>(std::numeric_limits<Int>::min());
  if (!(rounded >= -kLimit && rounded < kLimit)) {
    throw std::invalid_argument(std::string("[") + operation + "] element " +
                                std::to_string(element) + " = " + format_value(value) +
                                " cannot be converted to " +
                                (std::is_same_v<Int, std::int32_t> ? "int32" : "int64"));
  }
  return static_cast<Int>(rounded);
}

// A float32 from which quantizing to `dtype` gives what rounding `value` directly to `dtype` would:
// for float32 itself the nearest float; for the narrower formats `value` rounded to odd (truncated,
// with the last bit set when inexact), which keeps the sticky information that a second rounding
// to at most 22 significant bits needs (no double rounding).
float float_for_dtype(double value, DType dtype) {
  const float nearest = static_cast<float>(value);
  if (dtype == DType::float32 || std::isnan(value) || static_cast<double>(nearest) == value) {
    return nearest;
  }
  const float truncated = std::fabs(static_cast<double>(nearest)) > std::fabs(value)
                              ? std::nextafter(nearest, 0.0f)
                              : nearest;
  return std::bit_cast<float>(std::bit_cast<std::uint32_t>(truncated) | 1u);
}

// The same for integers, which may not be exact in double: above 2^24 the magnitude is rounded to
// odd with integer arithmetic.
template <typename Int>
float integer_for_dtype(Int value, DType dtype) {
  if (dtype == DType::float32) return static_cast<float>(value);
  const std::uint64_t magnitude =
      value < 0 ? 0 - static_cast<std::uint64_t>(value) : static_cast<std::uint64_t>(value);
  const int excess = static_cast<int>(std::bit_width(magnitude)) - 24;
  if (excess <= 0) return static_cast<float>(value);
  std::uint64_t kept = magnitude >> excess;
  if ((magnitude & ((std::uint64_t{1} << excess) - 1)) != 0) kept |= 1u;
  const float rounded_to_odd = std::ldexp(static_cast<float>(kept), excess);
  return value < 0 ? -rounded_to_odd : rounded_to_odd;
}

}  // namespace

double Tensor::at(std::initializer_list<std::int64_t> index) const {
  check_defined("at");
  return at_flat(flat_index(shape_, std::span(index.begin(), index.size()), "Tensor::at"));
}

double Tensor::at_flat(std::int64_t flat) const {
  check_defined("at_flat");
  if (flat < 0 || flat >= numel()) {
    throw std::out_of_range("[Tensor::at_flat] flat index " + std::to_string(flat) +
                            " is out of range for shape " + shape_to_string(shape_));
  }
  const auto i = static_cast<std::size_t>(flat);
  switch (dtype_) {
    case DType::int32:
      return data<std::int32_t>()[i];
    case DType::int64:
      return static_cast<double>(data<std::int64_t>()[i]);
    case DType::float64:
      return data<double>()[i];
    default:
      return data<float>()[i];
  }
}

namespace {

// Writes one element of `tensor` rounded to its dtype; for block formats the element's block is
// requantized. REQUIRES: flat is in range.
void store_element(Tensor& tensor, std::int64_t flat, double value, const char* operation) {
  const auto i = static_cast<std::size_t>(flat);
  const DType dtype = tensor.dtype();
  switch (dtype) {
    case DType::int32:
      tensor.data<std::int32_t>()[i] = round_to_integer<std::int32_t>(value, operation, flat);
      return;
    case DType::int64:
      tensor.data<std::int64_t>()[i] = round_to_integer<std::int64_t>(value, operation, flat);
      return;
    case DType::float64:
      tensor.data<double>()[i] = value;
      return;
    default:
      break;
  }
  float* values = tensor.data<float>();
  values[i] = float_for_dtype(value, dtype);
  if (is_block_float(dtype)) {
    // Requantize the whole block the element belongs to: its shared exponent may change.
    const std::int64_t row_length = row_length_of(tensor.shape());
    const std::int64_t row = flat / row_length;
    const std::int64_t block_start =
        row * row_length + (flat % row_length) / kBlockSize * kBlockSize;
    const std::int64_t block_end = std::min(block_start + kBlockSize, (row + 1) * row_length);
    quantize_in_place(
        std::span(values + block_start, static_cast<std::size_t>(block_end - block_start)),
        block_end - block_start, dtype);
  } else {
    quantize_in_place(std::span(values + i, 1), 1, dtype);
  }
}

}  // namespace

void Tensor::set(std::initializer_list<std::int64_t> index, double value) {
  check_defined("set");
  store_element(*this, flat_index(shape_, std::span(index.begin(), index.size()), "Tensor::set"),
                value, "Tensor::set");
}

void Tensor::set_flat(std::int64_t flat, double value) {
  check_defined("set_flat");
  if (flat < 0 || flat >= numel()) {
    throw std::out_of_range("[Tensor::set_flat] flat index " + std::to_string(flat) +
                            " is out of range for shape " + shape_to_string(shape_));
  }
  store_element(*this, flat, value, "Tensor::set_flat");
}

namespace {

// Converts n elements for Tensor::to; `target` is the result's dtype.
template <typename From, typename To>
void convert_all(const From* from, To* to, std::size_t n, DType target) {
  for (std::size_t i = 0; i < n; ++i) {
    if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
      to[i] = round_to_integer<To>(from[i], "Tensor::to", static_cast<std::int64_t>(i));
    } else if constexpr (std::is_integral_v<To> && sizeof(From) > sizeof(To)) {
      if (from[i] < std::numeric_limits<To>::min() || from[i] > std::numeric_limits<To>::max()) {
        throw std::invalid_argument("[Tensor::to] element " + std::to_string(i) + " = " +
                                    std::to_string(from[i]) + " does not fit int32");
      }
      to[i] = static_cast<To>(from[i]);
    } else if constexpr (std::is_same_v<To, double>) {
      to[i] = static_cast<double>(from[i]);  // Exact, or an int64 rounded once.
    } else if constexpr (std::is_floating_point_v<To> && std::is_integral_v<From>) {
      to[i] = integer_for_dtype(from[i], target);
    } else if constexpr (std::is_same_v<From, double>) {
      to[i] = float_for_dtype(from[i], target);  // Rounded once by the requantize that follows.
    } else {
      to[i] = from[i];
    }
  }
}

template <typename To>
void convert_from(const Tensor& source, To* to, DType target) {
  const auto n = static_cast<std::size_t>(source.numel());
  switch (source.dtype()) {
    case DType::int32:
      convert_all(source.data<std::int32_t>(), to, n, target);
      return;
    case DType::int64:
      convert_all(source.data<std::int64_t>(), to, n, target);
      return;
    case DType::float64:
      convert_all(source.data<double>(), to, n, target);
      return;
    default:
      convert_all(source.data<float>(), to, n, target);
      return;
  }
}

}  // namespace

Tensor Tensor::to(DType target) const {
  check_defined("to");
  Tensor result(shape_, target);
  switch (target) {
    case DType::int32:
      convert_from(*this, result.data<std::int32_t>(), target);
      break;
    case DType::int64:
      convert_from(*this, result.data<std::int64_t>(), target);
      break;
    case DType::float64:
      convert_from(*this, result.data<double>(), target);
      break;
    default:
      convert_from(*this, result.data<float>(), target);
      result.requantize();
      break;
  }
  return result;
}

void Tensor::requantize() {
  check_defined("requantize");
  if (is_held_as_float32(dtype_)) quantize_values(mutable_floats(), shape_, dtype_);
}

Tensor Tensor::reshape(Shape new_shape) const {
  check_defined("reshape");
  if (shape_numel(new_shape, "Tensor::reshape") != numel()) {
    throw std::invalid_argument("[Tensor::reshape] cannot reshape " + shape_to_string(shape_) +
                                " to " + shape_to_string(new_shape));
  }
  if (is_block_float(dtype_) && row_length_of(new_shape) != row_length_of(shape_) &&
      (row_length_of(new_shape) % kBlockSize != 0 || row_length_of(shape_) % kBlockSize != 0)) {
    // Blocks follow the last dimension; a reshape that moves block boundaries would silently
    // change which values share an exponent.
    throw std::invalid_argument("[Tensor::reshape] cannot reshape " +
                                std::string(dtype_name(dtype_)) + " tensor " +
                                shape_to_string(shape_) + " to " + shape_to_string(new_shape) +
                                ": the last dimension must stay a multiple of 16");
  }
  return Tensor(storage_, std::move(new_shape), dtype_, offset_);
}

Tensor Tensor::clone() const {
  check_defined("clone");
  Tensor copy(shape_, dtype_);
  if (nbytes() > 0) std::memcpy(copy.raw_data(), raw_data(), nbytes());
  return copy;
}

const void* Tensor::storage_id() const { return storage_ ? storage_->data : nullptr; }

std::string Tensor::summary() const {
  if (!storage_) return "Tensor(undefined)";
  std::ostringstream out;
  out << "Tensor(shape=" << shape_to_string(shape_) << ", dtype=" << dtype_name(dtype_);
  const std::int64_t n = numel();
  if (n > 0) {
    double min = std::numeric_limits<double>::infinity();
    double max = -min;
    double sum = 0.0;
    std::int64_t finite = 0, nan = 0, inf = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const double v = at_flat(i);
      if (std::isnan(v)) {
        ++nan;
      } else if (std::isinf(v)) {
        ++inf;
      } else {
        min = std::min(min, v);
        max = std::max(max, v);
        sum += v;
        ++finite;
      }
    }
    if (finite > 0) {
      out << ", min=" << min << ", max=" << max << ", mean=" << sum / static_cast<double>(finite);
    }
    if (nan > 0) out << ", nan=" << nan;
    if (inf > 0) out << ", inf=" << inf;
  }
  out << ")";
  return out.str();
}

}  // namespace ttt
