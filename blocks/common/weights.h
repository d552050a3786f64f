// Reference weights that load lazily, and device weights prepared from them once (the seeds'
// "tensor caches").
//
// A block receives its reference weights (float32, the model's values) as WeightSources: either
// a tensor already in memory, or a function that produces it (reading a checkpoint, drawing a
// seeded tensor) together with its shape, so shapes are checked at construction without loading.
// The device form (quantized to the ImplConfig's formats, split for the math fidelity) is built
// by a Prepared<T> the first time a forward needs it, exactly once even when several threads ask
// at the same time, and reused afterwards.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "validation/tensor/tensor.h"

namespace ttt {

class WeightSource {
 public:
  // An undefined source: defined() is false (an absent optional weight such as a bias).
  WeightSource() = default;
  // A weight already in memory. REQUIRES: tensor.defined() and a floating dtype.
  WeightSource(Tensor tensor);  // NOLINT(google-explicit-constructor): a tensor is a source.
  // A weight produced on first use by `load`, which must return a tensor of `shape`.
  WeightSource(Shape shape, std::function<Tensor()> load);

  bool defined() const { return static_cast<bool>(load_) || tensor_.defined(); }
  // The shape, known without loading. REQUIRES: defined().
  const Shape& shape() const;
  // The reference values as float32 (calls the loader each time for a lazy source; prepared
  // weights call it once). Throws std::invalid_argument when a loader returns another shape.
  Tensor load() const;

 private:
  Tensor tensor_;
  Shape shape_;
  std::function<Tensor()> load_;
};

// The loaded tensor of a defined source, or an undefined tensor (an absent optional weight).
Tensor load_optional(const WeightSource& source);

// Checks a weight every Spec of the block has, without loading it. Every block's
// validate(spec, weights) is a list of these checks. Throws std::invalid_argument
// "[rms_norm] weight is missing" or "[attention] wk has shape [4096, 1024], expected [4096, 512]".
void check_weight(const char* block, const char* name, const WeightSource& source,
                  const Shape& expected);
// Checks a weight the Spec asks for only when `wanted`: present exactly then, with `expected`
// shape. `condition` is the Spec's state that decides, as the message reads it (flag_condition):
// "[attention] bq is missing: spec.qkv_bias is set", "[attention] bq is given, but
// spec.qkv_bias is not set", "[embedding] position_weight is given, but spec.positions is none".
void check_optional_weight(const char* block, const char* name, const WeightSource& source,
                           const Shape& expected, bool wanted, const std::string& condition);
// "spec.<field> is set" or "spec.<field> is not set": the condition of a weight a flag asks for.
std::string flag_condition(const char* field, bool set);

// A value of type T built by `prepare` on first get(), once, thread-safe; copies share the value.
template <typename T>
class Prepared {
 public:
  Prepared() = default;
  explicit Prepared(std::function<T()> prepare)
      : state_(std::make_shared<State>(std::move(prepare))) {}

  // The prepared value, building it on the first call. An exception thrown by `prepare`
  // propagates and the next call tries again (std::call_once semantics).
  // REQUIRES: constructed with a prepare function.
  const T& get() const {
    if (!state_) throw std::logic_error("[Prepared] no prepare function");
    std::call_once(state_->once, [this] {
      state_->value.emplace(state_->prepare());
      state_->ready.store(true, std::memory_order_release);
    });
    return *state_->value;
  }

  // True once get() has built the value.
  bool ready() const { return state_ && state_->ready.load(std::memory_order_acquire); }

 private:
  struct State {
    explicit State(std::function<T()> function) : prepare(std::move(function)) {}
    std::function<T()> prepare;
    std::once_flag once;
    std::optional<T> value;
    std::atomic<bool> ready{false};
  };
  std::shared_ptr<State> state_;
};

}  // namespace ttt
