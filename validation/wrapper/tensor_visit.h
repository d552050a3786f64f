// Finding the tensors inside a value: the wrapper's one customization point.
//
// compare_to_reference needs the tensors of every argument and output: to record shapes and
// dtypes, to compare outputs, to snapshot inputs, to capture traces and, for teacher forcing, to
// put the reference's tensors into a copy of the device output. It knows these types by itself:
//
//   ttt::Tensor; ttt::MeshTensor (validation/mesh: compared composed, recorded per device);
//   integers, floating point numbers, bool and enums (scalars); std::vector, std::array,
//   std::optional, std::pair and std::tuple of any known type, nested freely.
//
// Any other type opts in with one free function in its own namespace (found by ADL):
//
//   namespace model {
//   struct KvCache { ttt::Tensor k, v; int length; };
//   void ttt_visit_tensors(KvCache& cache, ttt::TensorVisitor& visit) {
//     visit("k", cache.k);
//     visit("v", cache.v);
//     visit("length", cache.length);  // Scalars are recorded (traces keep them), not compared.
//   }
//   }  // namespace model
//
// Take the value by non-const reference so that the wrapper can also replace the tensors (input
// snapshots, teacher forcing); the wrapper never modifies a value it only reads. A function taking
// `const KvCache&` also works, for reading only. Members are named, nested names are joined with
// '/' ("k_cache/k"), and a member visited under the name "" takes the name of the value itself,
// which is how a device-layout tensor type converts itself: `visit("", to_host(device_tensor))`
// (a temporary is read-only). A type that is neither known nor opted in is a compile-time error
// that names this function.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "validation/mesh/mesh.h"
#include "validation/tensor/tensor.h"

namespace ttt {

// A scalar argument or member as the wrapper records it (traces keep them as JSON).
using ScalarValue = std::variant<bool, std::int64_t, std::uint64_t, double>;

class TensorVisitor;

namespace detail {

template <typename T>
struct is_std_vector : std::false_type {};
template <typename T, typename A>
struct is_std_vector<std::vector<T, A>> : std::true_type {};

template <typename T>
struct is_std_array : std::false_type {};
template <typename T, std::size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};

template <typename T>
struct is_std_optional : std::false_type {};
template <typename T>
struct is_std_optional<std::optional<T>> : std::true_type {};

template <typename T>
struct is_tuple_like : std::false_type {};
template <typename... T>
struct is_tuple_like<std::tuple<T...>> : std::true_type {};
template <typename A, typename B>
struct is_tuple_like<std::pair<A, B>> : std::true_type {};

template <typename T>
concept ScalarType = std::is_arithmetic_v<T> || std::is_enum_v<T>;

// A type that opted in through the customization point (non-const or const form).
template <typename T>
concept HasVisitFunction = requires(T& value, TensorVisitor& visitor) {
  ttt_visit_tensors(value, visitor);
};

template <typename T>
constexpr bool visitable();

template <typename Tuple, std::size_t... I>
constexpr bool all_elements_visitable(std::index_sequence<I...>) {
  return (visitable<std::remove_cv_t<std::tuple_element_t<I, Tuple>>>() && ...);
}

// Whether visit_tensors() accepts T (after removing references and const).
template <typename T>
constexpr bool visitable() {
  if constexpr (std::is_same_v<T, Tensor> || std::is_same_v<T, MeshTensor> || ScalarType<T>) {
    return true;
  } else if constexpr (is_std_vector<T>::value || is_std_array<T>::value ||
                       is_std_optional<T>::value) {
    return visitable<std::remove_cv_t<typename T::value_type>>();
  } else if constexpr (is_tuple_like<T>::value) {
    return all_elements_visitable<T>(std::make_index_sequence<std::tuple_size_v<T>>{});
  } else {
    return HasVisitFunction<T>;
  }
}

}  // namespace detail

// True when the wrapper can find the tensors of T (a known type, or one with ttt_visit_tensors).
template <typename T>
concept TensorVisitable = detail::visitable<std::remove_cvref_t<T>>();

// Walks a value's members. The wrapper derives from it to collect, clone or replace tensors; a
// type's ttt_visit_tensors() only calls operator() once per member.
class TensorVisitor {
 public:
  virtual ~TensorVisitor() = default;

  // Visits `value` as the member `name` of the value being visited ("" = the value itself). An
  // lvalue can be modified by the visitor (snapshots, teacher forcing); a const value or a
  // temporary is read-only.
  template <typename T>
  void operator()(std::string_view name, T&& value);

  // The full name of the value being visited, e.g. "k_cache/k".
  const std::string& path() const { return path_; }

 protected:
  // One tensor the visitor may replace (assign to `tensor`).
  virtual void on_tensor(Tensor& tensor) = 0;
  // One tensor that must not be modified (a const value, a temporary, or a type whose
  // ttt_visit_tensors takes its value by const reference).
  virtual void on_read_only_tensor(const Tensor& tensor) = 0;
  // One scalar member or argument. Default: ignored.
  virtual void on_scalar(const ScalarValue& value);
  // One mesh tensor; `writable` is the same value when the visitor may replace it, else null.
  // Default: its shards as the elements "0", "1", ... in device order (so a visitor that knows
  // only tensors still sees every shard). The wrapper's collectors override it to keep the mesh
  // tensor whole (NamedTensor::mesh).
  virtual void on_mesh_tensor(const MeshTensor& value, MeshTensor* writable);

 private:
  template <typename T>
  friend void visit_tensors(T&& value, TensorVisitor& visitor);
  template <typename T>
  void dispatch(T&& value);

  std::string path_;
  int read_only_depth_ = 0;  // > 0 while inside a read-only value.
};

// Visits every tensor and scalar of `value` (the top-level name is the visitor's current path).
// Compile-time error when the type is not TensorVisitable.
template <typename T>
void visit_tensors(T&& value, TensorVisitor& visitor);

// The tensors of `value`, named from `name` ("out", "out/0", "kv/k"), in visiting order. Empty
// optionals contribute nothing. Copies share storage with `value` (Tensor is a handle).
template <typename T>
std::vector<NamedTensor> named_tensors(std::string_view name, const T& value);

// ---------------------------------------------------------------------------------------------
// Implementation.

namespace detail {

// Converts any ScalarType to the ScalarValue alternative that keeps it exactly.
template <typename T>
ScalarValue to_scalar_value(T value) {
  if constexpr (std::is_enum_v<T>) {
    return to_scalar_value(static_cast<std::underlying_type_t<T>>(value));
  } else if constexpr (std::is_same_v<T, bool>) {
    return ScalarValue(value);
  } else if constexpr (std::is_floating_point_v<T>) {
    return ScalarValue(static_cast<double>(value));
  } else if constexpr (std::is_signed_v<T>) {
    return ScalarValue(static_cast<std::int64_t>(value));
  } else {
    return ScalarValue(static_cast<std::uint64_t>(value));
  }
}

// Appends `name` to `path` with '/' ("" keeps the path).
void push_path(std::string& path, std::string_view name);

// Every shard of `tensor` on this process: the tensor itself when the process's transport holds
// every device, else the shards gathered through it (a collective: every process calls it).
std::shared_ptr<const MeshTensor> gathered_mesh_tensor(const MeshTensor& tensor);

// Collects tensors (and optionally scalars) with their names. A mesh tensor is one NamedTensor:
// its shards gathered and composed (a compose failure throws).
class TensorCollector final : public TensorVisitor {
 public:
  std::vector<NamedTensor> tensors;
  std::vector<std::pair<std::string, ScalarValue>> scalars;

 protected:
  void on_tensor(Tensor& tensor) override { on_read_only_tensor(tensor); }
  void on_read_only_tensor(const Tensor& tensor) override;
  void on_scalar(const ScalarValue& value) override;
  void on_mesh_tensor(const MeshTensor& value, MeshTensor* writable) override;
};

}  // namespace detail

template <typename T>
void TensorVisitor::operator()(std::string_view name, T&& value) {
  const std::size_t saved_size = path_.size();
  detail::push_path(path_, name);
  // A failing member still restores the path, so the visitor stays usable for error messages.
  struct Restore {
    std::string& path;
    std::size_t size;
    ~Restore() { path.resize(size); }
  } restore{path_, saved_size};
  dispatch(std::forward<T>(value));
}

template <typename T>
void TensorVisitor::dispatch(T&& value) {
  using Plain = std::remove_cvref_t<T>;
  static_assert(detail::visitable<Plain>(),
                "ttt: the wrapper cannot find the tensors of this type. Give the type a free "
                "function `void ttt_visit_tensors(YourType& value, ttt::TensorVisitor& visit)` in "
                "its own namespace that calls visit(\"member\", value.member) for each member "
                "(validation/wrapper/tensor_visit.h, docs/validation.md \"Custom types\"), or "
                "convert it with ttt::mappers().with_input(...) / .with_output(...).");
  constexpr bool read_only =
      std::is_const_v<std::remove_reference_t<T>> || !std::is_lvalue_reference_v<T>;
  if constexpr (read_only) ++read_only_depth_;
  struct Restore {
    int& depth;
    ~Restore() {
      if constexpr (read_only) --depth;
    }
  } restore{read_only_depth_};

  if constexpr (std::is_same_v<Plain, Tensor>) {
    if (read_only_depth_ > 0) {
      on_read_only_tensor(value);
    } else {
      on_tensor(const_cast<Tensor&>(static_cast<const Tensor&>(value)));
    }
  } else if constexpr (std::is_same_v<Plain, MeshTensor>) {
    on_mesh_tensor(value, read_only_depth_ > 0
                              ? nullptr
                              : &const_cast<MeshTensor&>(static_cast<const MeshTensor&>(value)));
  } else if constexpr (detail::ScalarType<Plain>) {
    on_scalar(detail::to_scalar_value(value));
  } else if constexpr (detail::is_std_vector<Plain>::value || detail::is_std_array<Plain>::value) {
    std::size_t index = 0;
    for (auto&& element : value) {
      (*this)(std::to_string(index++), element);
    }
  } else if constexpr (detail::is_std_optional<Plain>::value) {
    if (value.has_value()) (*this)("", *value);
  } else if constexpr (detail::is_tuple_like<Plain>::value) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((*this)(std::to_string(I), std::get<I>(value)), ...);
    }
    (std::make_index_sequence<std::tuple_size_v<Plain>>{});
  } else if constexpr (detail::HasVisitFunction<Plain>) {
    // Inside a read-only subtree the value may only have a non-const ttt_visit_tensors; calling
    // it is safe because read_only_depth_ keeps every tensor below read-only.
    ttt_visit_tensors(const_cast<Plain&>(static_cast<const Plain&>(value)), *this);
  }
}

template <typename T>
void visit_tensors(T&& value, TensorVisitor& visitor) {
  visitor.dispatch(std::forward<T>(value));
}

template <typename T>
std::vector<NamedTensor> named_tensors(std::string_view name, const T& value) {
  detail::TensorCollector collector;
  collector(name, value);
  return std::move(collector.tensors);
}

}  // namespace ttt
