// A causal LM that computes its modules' references instead of their device paths: TTTv2's
// float64 reference of a whole model (the source of token goldens, docs/debugging.md).
//
// Each module's reference computes in float64 inside the block and hands float32 to the next
// module; the residual sums are float32 (no bfloat16 rounding). Only prefill exists: a block's
// decode reference reads the keys and values a device prefill wrote, which a reference run does
// not keep, so a reference generation re-runs the prefill on the longer sequence instead.
#pragma once

#include "patterns/causal_lm.h"

namespace ttt {

// Modules whose device computation is `modules`' reference computation (same ModuleInfo and
// weights, one device). Their decode throws std::logic_error naming the module kind.
CausalLmModules reference_modules(const CausalLmModules& modules);

// The reference model of `model`: its modules' references, calls not validated. The modules are
// shared with `model` (either may outlive the other).
CausalLm reference_model(const CausalLm& model);

}  // namespace ttt
