// The wrapper's process-wide state as a test that counts records wants it: validation on for
// every call, no sampling, an empty registry. Tests call it in SetUp (and TearDown, so that a
// later test of the same process starts clean).
#pragma once

#include "validation/wrapper/registry.h"
#include "validation/wrapper/switches.h"

namespace ttt {

inline void reset_wrapper_state() {
  set_validation_enabled(true);
  set_validation_filter("*");
  set_validation_sampling({});
  validation_registry().reset();
}

}  // namespace ttt
