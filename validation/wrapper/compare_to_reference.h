// compare_to_reference: wrap a device function so that every call is checked against a reference.
//
//   auto mlp = ttt::compare_to_reference("layers.0.mlp", device_mlp, reference_mlp,
//                                        {.input_names = {"x"}, .output_names = {"out"}});
//   ttt::Tensor y = mlp(x);  // Runs device_mlp, then reference_mlp, compares, records, returns
//                            // device_mlp's output.
//   ttt::print_validation_report();
//
// The returned callable has device_fn's exact call signature and return type, so it replaces the
// device function in a model without other changes. It is a typed layer over the untyped core of
// checked_call.h: it names the arguments' and outputs' tensors and hands the call to
// run_checked_call(). When validation is on for the name (switches.h:
// TTT_VALIDATE, TTT_VALIDATE_FILTER, sampling), a call
//   1. maps each argument for the reference (Mappers::input, else a copy whose tensors are cloned,
//      so a device_fn that updates an argument in place - a KV cache - cannot change what the
//      reference sees),
//   2. runs device_fn and then reference_fn, each timed with a steady clock,
//   3. finds the tensors of both outputs (tensor_visit.h), compares each output by name with its
//      tolerances (metrics.h) and builds a ValidationRecord (validation_registry() keeps it),
//   4. hands the call to the call sinks that want it (call_sink.h: the registry, the active trace
//      session, coverage, your own),
//   5. throws ValidationError if raise_on_failure is set and the call failed, and otherwise
//      returns the device output (or, with return_reference_output, the reference output converted
//      to the device output type: teacher forcing).
// A failure to map, a throwing reference or a metric that cannot be computed is recorded as a
// failed pseudo-metric (StageFailure or OutputCheck) with its message; the model run goes on with
// the device output. An exception thrown by device_fn is recorded and rethrown.
//
// Threading: the callable (and its copies) may be called from many threads at once when device_fn
// and reference_fn may be; the registry and the switches are thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "validation/metrics/metrics.h"
#include "validation/tensor/tensor.h"
#include "validation/wrapper/call_sink.h"
#include "validation/wrapper/checked_call.h"
#include "validation/wrapper/registry.h"
#include "validation/wrapper/switches.h"
#include "validation/wrapper/tensor_visit.h"

namespace ttt {

// Placeholder for a mapper that is not set.
struct NoMapper {};

// Conversions for types the wrapper cannot compare as they are (device layouts). Build with
// ttt::mappers().with_input(f).with_output(g).with_to_device_output(h); unset ones do nothing.
template <typename InputMapper = NoMapper, typename OutputMapper = NoMapper,
          typename ToDeviceOutput = NoMapper>
struct Mappers {
  // Applied to each argument it can be called with (`input(const Arg&)`), giving the value the
  // reference receives and the trace records; other arguments are copied.
  InputMapper input;
  // Applied to the device output and to the reference output when it can be called with them,
  // giving the value whose tensors are compared.
  OutputMapper output;
  // Teacher forcing: converts the reference output to the device output type.
  ToDeviceOutput to_device_output;

  template <typename F>
  Mappers<F, OutputMapper, ToDeviceOutput> with_input(F f) const {
    return {std::move(f), output, to_device_output};
  }
  template <typename F>
  Mappers<InputMapper, F, ToDeviceOutput> with_output(F f) const {
    return {input, std::move(f), to_device_output};
  }
  template <typename F>
  Mappers<InputMapper, OutputMapper, F> with_to_device_output(F f) const {
    return {input, output, std::move(f)};
  }
};

// No conversions; start of the builder.
inline Mappers<> mappers() { return {}; }

namespace detail {

struct DeduceSignature {};

// The single call signature of a callable, when it has one.
template <typename F>
struct callable_signature {
  static constexpr bool known = false;
};
template <typename R, typename... A>
struct callable_signature<R(A...)> {
  static constexpr bool known = true;
  using type = R(A...);
};
template <typename R, typename... A>
struct callable_signature<R(A...) noexcept> : callable_signature<R(A...)> {};
template <typename R, typename... A>
struct callable_signature<R (*)(A...)> : callable_signature<R(A...)> {};
template <typename R, typename... A>
struct callable_signature<R (*)(A...) noexcept> : callable_signature<R(A...)> {};
template <typename C, typename R, typename... A>
struct callable_signature<R (C::*)(A...)> : callable_signature<R(A...)> {};
template <typename C, typename R, typename... A>
struct callable_signature<R (C::*)(A...) const> : callable_signature<R(A...)> {};
template <typename C, typename R, typename... A>
struct callable_signature<R (C::*)(A...) noexcept> : callable_signature<R(A...)> {};
template <typename C, typename R, typename... A>
struct callable_signature<R (C::*)(A...) const noexcept> : callable_signature<R(A...)> {};
template <typename F>
requires requires { &F::operator(); }
struct callable_signature<F> : callable_signature<decltype(&F::operator())> {};

template <typename T>
struct tuple_arity : std::integral_constant<std::size_t, 1> {};
template <typename... T>
struct tuple_arity<std::tuple<T...>> : std::integral_constant<std::size_t, sizeof...(T)> {};
template <typename A, typename B>
struct tuple_arity<std::pair<A, B>> : std::integral_constant<std::size_t, 2> {};

// Collects tensors, with scalars turned into rank-0 tensors. A mesh tensor is kept gathered but
// not composed: run_checked_call composes it, so that a compose failure is the output's verdict.
class OutputCollector final : public TensorVisitor {
 public:
  std::vector<NamedTensor> tensors;

 protected:
  void on_tensor(Tensor& tensor) override { on_read_only_tensor(tensor); }
  void on_read_only_tensor(const Tensor& tensor) override;
  void on_scalar(const ScalarValue& value) override;
  void on_mesh_tensor(const MeshTensor& value, MeshTensor* writable) override;
};

// Replaces every tensor with its clone (input snapshots); read-only tensors stay shared.
class CloneVisitor final : public TensorVisitor {
 protected:
  void on_tensor(Tensor& tensor) override;
  void on_read_only_tensor(const Tensor&) override {}
};

// Replaces every tensor with the reference tensor of the same name, converted to its dtype (a
// mesh tensor: distributed with its mesh and placements).
class ReplaceVisitor final : public TensorVisitor {
 public:
  explicit ReplaceVisitor(const std::vector<NamedTensor>& replacements)
      : replacements_(replacements) {}

 protected:
  void on_tensor(Tensor& tensor) override;
  void on_read_only_tensor(const Tensor& tensor) override;
  void on_mesh_tensor(const MeshTensor& value, MeshTensor* writable) override;

 private:
  const NamedTensor& replacement() const;
  const std::vector<NamedTensor>& replacements_;
};

// Visits a (possibly tuple-like) top-level value under its top-level names.
template <typename T>
void visit_named(TensorVisitor& visitor, const std::vector<std::string>& names, T& value) {
  using Plain = std::remove_cvref_t<T>;
  if constexpr (is_tuple_like<Plain>::value) {
    if (names.size() == std::tuple_size_v<Plain>) {
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (visitor(names[I], std::get<I>(value)), ...);
      }
      (std::make_index_sequence<std::tuple_size_v<Plain>>{});
      return;
    }
  }
  visitor(names.front(), value);
}

// The type a mapper gives for a T (decayed), or T itself when the mapper does not take a T.
template <typename Mapper, typename T, bool = std::is_invocable_v<const Mapper&, const T&>>
struct mapped_type {
  using type = T;
};
template <typename Mapper, typename T>
struct mapped_type<Mapper, T, true> {
  using type = std::remove_cvref_t<std::invoke_result_t<const Mapper&, const T&>>;
};

// The value an argument becomes for the reference: input(arg) when the mapper takes it, else a
// copy of the argument.
template <typename MapperT, typename Arg>
using host_argument_t = typename mapped_type<MapperT, std::remove_cvref_t<Arg>>::type;

template <typename MapperT, typename Arg>
constexpr void check_argument() {
  using Plain = std::remove_cvref_t<Arg>;
  if constexpr (!std::is_invocable_v<const MapperT&, const Plain&>) {
    static_assert(std::is_copy_constructible_v<Plain>,
                  "ttt::compare_to_reference: an argument of device_fn cannot be copied for the "
                  "reference; convert it with ttt::mappers().with_input(...)");
  }
  static_assert(TensorVisitable<host_argument_t<MapperT, Arg>>,
                "ttt::compare_to_reference: an argument of device_fn holds no tensors the wrapper "
                "can find. Give its type a free function `void ttt_visit_tensors(YourType& value, "
                "ttt::TensorVisitor& visit)` in its namespace (docs/validation.md \"Custom "
                "types\"), or convert it with ttt::mappers().with_input(...).");
}

template <typename Signature, typename DeviceFn, typename ReferenceFn, typename MappersT>
class ValidatedCallable;

}  // namespace detail

// Wraps `device_fn` with validation against `reference_fn` (see the top of this file).
//   name:          how reports, traces and coverage call it, e.g. "layers.3.attention.decode".
//   device_fn:     any callable with one call signature (a function, a lambda, a functor); for a
//                  generic lambda or an overloaded functor name the signature as the first
//                  template argument: compare_to_reference<ttt::Tensor(const ttt::Tensor&)>(...).
//   reference_fn:  called with the (mapped) arguments as lvalues; returns the expected output.
//   options:       names, tolerances, behaviour, provenance.
//   mappers:       conversions for types the wrapper cannot compare as they are.
//   location:      the wrapping site, recorded in every record (leave the default).
// Returns a copyable callable with device_fn's signature. Throws std::invalid_argument naming
// `name` for inconsistent options (names that do not fit, an unknown output_tolerances key, bad
// sampling, provenance JSON that is not an object, teacher forcing without a conversion).
template <typename Signature = detail::DeduceSignature, typename DeviceFn, typename ReferenceFn,
          typename MappersT = Mappers<>>
auto compare_to_reference(std::string name, DeviceFn device_fn, ReferenceFn reference_fn,
                          CompareOptions options = {}, MappersT mappers = {},
                          std::source_location location = std::source_location::current()) {
  using Deduced = std::conditional_t<std::is_same_v<Signature, detail::DeduceSignature>,
                                     detail::callable_signature<DeviceFn>,
                                     detail::callable_signature<Signature>>;
  static_assert(Deduced::known,
                "ttt::compare_to_reference: device_fn has no single call signature (a generic "
                "lambda or an overloaded functor); name it: "
                "compare_to_reference<ttt::Tensor(const ttt::Tensor&, int)>(name, ...)");
  using Callable =
      detail::ValidatedCallable<typename Deduced::type, DeviceFn, ReferenceFn, MappersT>;
  return Callable(std::move(name), std::move(device_fn), std::move(reference_fn),
                  std::move(options), std::move(mappers), location);
}

// ---------------------------------------------------------------------------------------------
// Implementation.

namespace detail {

template <typename R, typename... Args, typename DeviceFn, typename ReferenceFn, typename MappersT>
class ValidatedCallable<R(Args...), DeviceFn, ReferenceFn, MappersT> {
  using InputMapper = decltype(std::declval<MappersT>().input);
  using OutputMapper = decltype(std::declval<MappersT>().output);
  using ToDeviceOutput = decltype(std::declval<MappersT>().to_device_output);
  using HostArgs = std::tuple<host_argument_t<InputMapper, Args>...>;
  using Result = std::conditional_t<std::is_lvalue_reference_v<R>,
                                    std::reference_wrapper<std::remove_reference_t<R>>, R>;

  static_assert(!std::is_void_v<R>,
                "ttt::compare_to_reference: device_fn returns void; return the values to compare "
                "(e.g. std::tuple<ttt::Tensor, ttt::Tensor> for an output and an updated cache)");
  static_assert(
      !std::is_rvalue_reference_v<R>,
      "ttt::compare_to_reference: device_fn returns an rvalue reference; return by value");
  static_assert(std::is_invocable_v<ReferenceFn&, host_argument_t<InputMapper, Args>&...>,
                "ttt::compare_to_reference: reference_fn cannot be called with device_fn's "
                "arguments (after Mappers::input) passed as lvalues");
  using ReferenceResult =
      std::invoke_result_t<ReferenceFn&, host_argument_t<InputMapper, Args>&...>;
  static_assert(!std::is_void_v<ReferenceResult>,
                "ttt::compare_to_reference: reference_fn returns void; return the expected output");

  // The values whose tensors are compared: outputs after Mappers::output, when it takes them.
  using Expected = std::remove_cvref_t<ReferenceResult>;
  using DeviceCompared = typename mapped_type<OutputMapper, std::remove_cvref_t<R>>::type;
  using ReferenceCompared = typename mapped_type<OutputMapper, Expected>::type;
  template <typename T>
  static constexpr bool output_mapped = std::is_invocable_v<const OutputMapper&, const T&>;

  static_assert(TensorVisitable<DeviceCompared>,
                "ttt::compare_to_reference: device_fn's return type holds no tensors the wrapper "
                "can find. Give it a free function `void ttt_visit_tensors(YourType& value, "
                "ttt::TensorVisitor& visit)` in its namespace (docs/validation.md \"Custom "
                "types\"), or convert it with ttt::mappers().with_output(...).");
  static_assert(TensorVisitable<ReferenceCompared>,
                "ttt::compare_to_reference: reference_fn's return type holds no tensors the "
                "wrapper can find (see docs/validation.md \"Custom types\").");

  // Teacher forcing: how a reference output becomes an R (never for a reference return type).
  static constexpr bool forced_by_mapper =
      std::is_invocable_r_v<R, const ToDeviceOutput&, Expected&>;
  static constexpr bool forced_by_rebuild = std::is_copy_constructible_v<R> && TensorVisitable<R>;
  static constexpr bool forced_by_conversion = std::is_convertible_v<Expected&, R>;
  static constexpr bool can_teacher_force =
      !std::is_reference_v<R> && (forced_by_mapper || forced_by_rebuild || forced_by_conversion);

  struct Shared {
    std::shared_ptr<const CallDescription> description;
    ReferenceFn reference_fn;
    MappersT mappers;
  };

 public:
  ValidatedCallable(std::string name, DeviceFn device_fn, ReferenceFn reference_fn,
                    CompareOptions options, MappersT mappers, const std::source_location& location)
      : device_(std::move(device_fn)) {
    (check_argument<InputMapper, Args>(), ...);
    const bool enabled = options.enabled;
    if (options.return_reference_output && !can_teacher_force) {
      throw std::invalid_argument(
          "[compare_to_reference] " + name +
          ": return_reference_output needs a conversion from the reference output to device_fn's "
          "return type: give ttt::mappers().with_to_device_output(...)");
    }
    auto description = describe_call(std::move(name), std::move(options), location,
                                      sizeof...(Args), tuple_arity<DeviceCompared>::value);
    shared_ = std::make_shared<Shared>(
        Shared{std::move(description), std::move(reference_fn), std::move(mappers)});
    enabled_ = enabled;
  }

  // Calls device_fn, validating and handing the call to sinks as the switches and sinks say.
  R operator()(Args... args) const {
    if ((validation_state.load(std::memory_order_relaxed) == kValidationOff || !enabled_) &&
        !sinks_see_unvalidated_calls()) [[likely]] {
      return device_(std::forward<Args>(args)...);
    }
    return checked_call(std::forward<Args>(args)...);
  }

  // The wrapped name.
  const std::string& name() const { return shared_->description->name; }

 private:
  // Converts the typed call into an UntypedCall: the named tensors and scalars of the mapped
  // arguments, and sides that run the typed functions and name their outputs' tensors.
  [[gnu::noinline]] R checked_call(Args... args) const {
    const CallDescription& description = *shared_->description;
    const CallPlan plan = plan_call(description);
    if (!plan.checked()) return device_(std::forward<Args>(args)...);

    UntypedCall call;
    std::optional<HostArgs> host_args;
    try {
      host_args.emplace(map_input(args)...);
      TensorCollector collector;
      std::size_t index = 0;
      std::apply(
          [&](auto&... host) { (collector(description.options.input_names[index++], host), ...); },
          *host_args);
      call.inputs.tensors = std::move(collector.tensors);
      call.inputs.scalars = std::move(collector.scalars);
      if (plan.validate && plan.captures_tensors() && description.options.snapshot_inputs) {
        clone_tensors(call.inputs.tensors);  // The reference may modify its arguments in place.
      }
    } catch (...) {
      host_args.reset();
      call.input_failure = StageFailure{"input_mapping", exception_message(std::current_exception())};
    }

    std::optional<Result> result;
    call.device.run = [&](const CallInputs&) { result.emplace(device_(std::forward<Args>(args)...)); };
    call.device.outputs = [&] { return collect_output(static_cast<R&>(*result)); };
    std::optional<Expected> expected;
    call.reference.run = [&](const CallInputs&) {
      expected.emplace(std::apply(shared_->reference_fn, *host_args));
    };
    call.reference.outputs = [&] { return collect_output(*expected); };
    std::optional<std::remove_cvref_t<R>> forced;
    if constexpr (can_teacher_force) {
      if (description.options.return_reference_output) {
        call.teacher_force = [&](const std::vector<NamedTensor>* reference_outputs) {
          forced.reset();
          forced = teacher_force(*expected, static_cast<R&>(*result), reference_outputs);
          return forced.has_value();
        };
      }
    }

    run_checked_call(description, plan, call);
    if constexpr (can_teacher_force) {
      if (forced.has_value()) return std::move(*forced);
    }
    R& device_output = static_cast<R&>(*result);
    if constexpr (std::is_lvalue_reference_v<R>) {
      return device_output;
    } else {
      return std::move(device_output);
    }
  }

  template <typename Arg>
  host_argument_t<InputMapper, Arg> map_input(const Arg& arg) const {
    const InputMapper& mapper = shared_->mappers.input;
    if constexpr (std::is_invocable_v<const InputMapper&, const Arg&>) {
      return mapper(arg);
    } else {
      Arg copy(arg);
      if (shared_->description->options.snapshot_inputs) {
        CloneVisitor cloner;
        cloner("", copy);
      }
      return copy;
    }
  }

  template <typename T>
  std::vector<NamedTensor> collect_output(T& value) const {
    using Plain = std::remove_cvref_t<T>;
    const std::vector<std::string>& names = shared_->description->options.output_names;
    OutputCollector collector;
    if constexpr (output_mapped<Plain>) {
      auto mapped = shared_->mappers.output(static_cast<const Plain&>(value));
      visit_named(collector, names, mapped);
    } else {
      visit_named(collector, names, value);
    }
    return std::move(collector.tensors);
  }

  // The reference output as an R, or nothing when its tensors could not be collected (that
  // failure is already recorded).
  std::optional<std::remove_cvref_t<R>> teacher_force(
      Expected& expected, R& device_output,
      const std::vector<NamedTensor>* reference_outputs) const {
    if constexpr (forced_by_mapper) {
      return shared_->mappers.to_device_output(expected);
    } else if constexpr (forced_by_rebuild) {
      if (reference_outputs == nullptr) return std::nullopt;
      std::remove_cvref_t<R> rebuilt(device_output);
      ReplaceVisitor replacer(*reference_outputs);
      visit_named(replacer, shared_->description->options.output_names, rebuilt);
      return rebuilt;
    } else {
      return static_cast<std::remove_cvref_t<R>>(expected);
    }
  }

  mutable DeviceFn device_;
  std::shared_ptr<Shared> shared_;
  bool enabled_ = true;
};

}  // namespace detail

}  // namespace ttt
