// Tensor: a shape, a dtype and contiguous row-major values, owned or viewed.
//
// A Tensor is a cheap handle: copies share storage (like torch and MLX); `clone()` copies values.
// The device's floating dtypes hold float32 values that are exactly representable in the dtype, so
// reading a bfloat16 tensor gives the bfloat16 values; float64 holds doubles and integer dtypes
// hold int32_t / int64_t.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "validation/tensor/dtype.h"

namespace ttt {

// Dimensions, outermost first. Rank 0 (a scalar) to kMaxRank.
using Shape = std::vector<std::int64_t>;
inline constexpr int kMaxRank = 8;

// Number of elements of a shape (1 for rank 0). Throws std::invalid_argument for a negative
// dimension or a rank above kMaxRank, naming `operation`.
std::int64_t shape_numel(const Shape& shape, const char* operation = "shape");

// "[2, 3, 4]".
std::string shape_to_string(const Shape& shape);

class Tensor {
 public:
  // An undefined tensor: defined() is false, every accessor but defined() throws.
  Tensor() = default;

  // A zero-filled owning tensor.
  Tensor(Shape shape, DType dtype);

  // An owning tensor from float32 values, quantized to `dtype` (a floating dtype).
  // Throws std::invalid_argument when values.size() != numel(shape).
  static Tensor from_floats(Shape shape, std::vector<float> values, DType dtype = DType::float32);
  // An owning tensor from float64 values: kept exactly for float64, else each value rounded once,
  // directly to `dtype` (a floating dtype; no double rounding through float32).
  // Throws std::invalid_argument when values.size() != numel(shape).
  static Tensor from_doubles(Shape shape, std::vector<double> values,
                             DType dtype = DType::float64);
  static Tensor from_int32(Shape shape, std::vector<std::int32_t> values);
  static Tensor from_int64(Shape shape, std::vector<std::int64_t> values);
  // A rank-0 tensor.
  static Tensor scalar(float value, DType dtype = DType::float32);

  // A view over memory owned elsewhere; the caller keeps it alive while any copy of the view
  // exists. `data` holds float for the float32-held dtypes (values must already be representable
  // in `dtype`: use quantize_in_place first), double for float64, int32_t / int64_t for integers.
  static Tensor view(Shape shape, DType dtype, void* data);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const;
  int rank() const { return static_cast<int>(shape().size()); }
  // Dimension `axis`; negative counts from the end. Throws std::out_of_range.
  std::int64_t dim(int axis) const;
  std::int64_t numel() const;
  DType dtype() const;
  // Bytes of the in-memory values (numel * element_size).
  std::size_t nbytes() const;
  // True when this tensor does not own its memory (made by view()).
  bool is_view() const;

  // Typed access. T must match the in-memory type (float for the float32-held dtypes, double for
  // float64, int32_t, int64_t); a mismatch throws std::invalid_argument. Writing through data()
  // bypasses quantization: keep values representable, or call requantize().
  template <typename T>
  T* data();
  template <typename T>
  const T* data() const;
  std::span<const float> floats() const {
    return {data<float>(), static_cast<std::size_t>(numel())};
  }
  std::span<float> mutable_floats() { return {data<float>(), static_cast<std::size_t>(numel())}; }
  std::span<const double> doubles() const {
    return {data<double>(), static_cast<std::size_t>(numel())};
  }
  // The in-memory values as bytes (nbytes() of them), whatever their type: for files, hashes and
  // copies that do not look at the values. Throws std::logic_error for an undefined tensor.
  const void* bytes() const;
  void* mutable_bytes();

  // Element access for tests and tools, by multi-index (one index per dimension) or flat index.
  // Returns the value as double for any dtype. Throws std::out_of_range naming the index.
  double at(std::initializer_list<std::int64_t> index) const;
  double at_flat(std::int64_t flat_index) const;
  // Sets one element, rounding `value` once, directly to the dtype (integers: to nearest, ties to
  // even; throws std::invalid_argument for NaN or out of range). For block formats the element's
  // whole block is requantized (its shared exponent may change).
  void set(std::initializer_list<std::int64_t> index, double value);
  void set_flat(std::int64_t flat_index, double value);

  // Quantize-then-dequantize conversion: a new owning tensor whose values are those of this
  // tensor rounded to `dtype`. Float -> int rounds to nearest, ties to even, and throws
  // std::invalid_argument naming the element on NaN/Inf/out of range; int64 -> int32 throws when a
  // value does not fit; int -> float and float64 -> a narrower float are exact where the float
  // dtype allows, else rounded once.
  Tensor to(DType dtype) const;

  // Re-rounds the values in place to this tensor's dtype (after writing through data()).
  void requantize();

  // A tensor sharing storage with a new shape of the same numel. Throws naming both shapes.
  Tensor reshape(Shape shape) const;

  // A deep, owning copy.
  Tensor clone() const;

  // Identity of the underlying storage: equal for tensors sharing memory (traces write shared
  // tensors once). Null for an undefined tensor.
  const void* storage_id() const;

  // "Tensor(shape=[2, 3], dtype=bfloat16, min=-1.5, max=2, mean=0.25)"; NaN/Inf counts when
  // present.
  std::string summary() const;

 private:
  struct Storage;
  Tensor(std::shared_ptr<Storage> storage, Shape shape, DType dtype, std::int64_t offset_elements);
  void* raw_data() const;
  void check_defined(const char* operation) const;

  std::shared_ptr<Storage> storage_;
  Shape shape_;
  DType dtype_ = DType::float32;
  std::int64_t offset_ = 0;  // In elements, for views into a larger storage.
};

struct MeshTensor;  // validation/mesh/mesh.h

// A tensor with the name it has in a call: an argument ("x"), an output ("out0") or an element of
// a container argument ("kv/0"). Reports, traces and coverage use these names.
struct NamedTensor {
  std::string name;
  Tensor tensor;
  // Set when the value is a tensor laid out on a mesh: its shards (every device's, gathered) and
  // placements. `tensor` is then the composed whole, or undefined while it is not composed (the
  // wrapper composes device outputs itself, so that a failed compose is a recorded verdict).
  std::shared_ptr<const MeshTensor> mesh{};
};

// Flat row-major index <-> multi-index. Throws std::out_of_range naming `operation`, the index and
// the shape.
std::int64_t flat_index(const Shape& shape, std::span<const std::int64_t> index,
                        const char* operation = "flat_index");
std::vector<std::int64_t> unflatten_index(const Shape& shape, std::int64_t flat_index,
                                          const char* operation = "unflatten_index");

}  // namespace ttt
