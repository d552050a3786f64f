// Identity strings in the style of ggml's test-backend-ops vars(): "RMS_NORM(dim=4096,eps=1e-05)".
//
// A block builds its identity from its Spec only (the mathematics, not the device knobs), so the
// same string names the block in traces, coverage keys, suite cases and GoogleTest parameters.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ttt {

class Identity {
 public:
  // `op` is the upper-case operation name, e.g. "RMS_NORM".
  explicit Identity(std::string_view op);

  // Appends "name=value". Integers print in decimal, doubles with printf's %g (1e-05, 0.5,
  // 500000), booleans as 0/1, strings as given.
  Identity& add(std::string_view name, std::int64_t value);
  Identity& add(std::string_view name, int value) { return add(name, std::int64_t{value}); }
  Identity& add(std::string_view name, double value);
  Identity& add(std::string_view name, bool value);
  Identity& add(std::string_view name, std::string_view value);
  Identity& add(std::string_view name, const char* value) {
    return add(name, std::string_view(value));
  }

  // "OP(name=value,...)"; "OP()" without fields.
  std::string str() const;

 private:
  Identity& append(std::string_view name, const std::string& value);
  std::string op_;
  std::string fields_;
};

}  // namespace ttt
