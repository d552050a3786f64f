// Local and accumulated error in one report (issue 16 item 4), as PyTorch's numeric suite splits
// its shadow logger (a module's own error) from its plain logger (what reaches it), and ONNX
// Runtime its qdq_err from its xmodel_err.
//
// The model runs twice through `run_model(teacher_forcing)`, making the same calls:
//   teacher forced  every module receives the reference's output of the module before (exact
//                   inputs): its device-vs-reference error is its LOCAL (isolated) error, and its
//                   reference output is the exact value at that point of the model;
//   free running    every module receives the device's output of the module before: its device
//                   output against the teacher-forced reference output is its ACCUMULATED error,
//                   what it received and passes on.
// Calls are joined by name and call index. A layer module (a name "layers.<N>.<module>") is
// flagged when its local nmse leaves its band: more than `band_factor` times the median local
// nmse of the same module over all layers, and above its output format's default nmse. So the
// report names the layer whose own error is out of line, not the first whose accumulated error
// crosses a flat threshold (which, downstream of a bad layer, every later layer does).
// docs/debugging.md "Local and accumulated error" shows a run.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "validation/metrics/metrics.h"

namespace ttt {

struct ErrorPropagationOptions {
  // Which calls: a TTT_VALIDATE_FILTER-style glob list on the call name. Both runs keep one output
  // tensor per matching call in memory until the end.
  std::string filter = "*";
  // A layer module's local nmse may reach this many times its module's median over the layers.
  double band_factor = 10.0;
};

// One call, both errors side by side (its first output).
struct PropagationCall {
  std::string name;                   // "layers.1.attention.prefill".
  std::int64_t call_index = 0;        // The call's index for its name.
  std::optional<std::int64_t> layer;  // 1 for "layers.1.…"; unset for calls outside the layers.
  std::string module;                 // The name without its layer: "layers.*.attention.prefill".
  Metrics local;                      // Teacher forced: device vs reference on exact inputs.
  Metrics accumulated;  // Free-running device output vs the teacher-forced reference output.
  double band = 0.0;    // The module's local nmse band (0 outside the layers).
  bool out_of_band = false;
};

// The per-layer curve: each layer's worst call in each column.
struct LayerError {
  std::int64_t layer = 0;
  double local_nmse = 0.0;  // The largest local nmse of the layer's calls.
  std::string local_call;   // The call it comes from ("layers.1.attention.prefill #0").
  double accumulated_nmse = 0.0;
  double accumulated_pcc = 1.0;  // The lowest accumulated PCC of the layer's calls.
  bool flagged = false;          // A call of the layer left its band.
};

struct ErrorPropagation {
  std::vector<PropagationCall> calls;  // In the order of the teacher-forced run.
  std::vector<LayerError> layers;      // By layer.
  // The first layer with a call out of its band, and that call.
  std::optional<std::int64_t> flagged_layer;
  std::string flagged_call;
};

// The layer of a call named "layers.<N>.<module>" (1 for "layers.1.attention.prefill"), with
// `module` set to the name without its layer ("layers.*.attention.prefill"); unset, with `module`
// the whole name, for calls outside the layers ("lm_head.decode").
std::optional<std::int64_t> call_layer(const std::string& name, std::string& module);

// Runs the model twice (teacher_forcing true, then false) with validation on, collects every
// validated call matching options.filter, joins them and flags. Throws std::runtime_error when the
// two runs do not make the same calls (naming the first missing one) or a call cannot be compared
// (its output shapes differ between the runs).
ErrorPropagation measure_error_propagation(
    const std::function<void(bool teacher_forcing)>& run_model,
    const ErrorPropagationOptions& options = {});

// The per-layer table (layer, local nmse and its call, accumulated nmse and PCC, the flag) and a
// last line naming the flagged layer and call, or saying none left its band.
std::string format_error_propagation(const ErrorPropagation& propagation);

// {"calls": [{name, call_index, layer|null, module, band, out_of_band, local: metrics,
// accumulated: metrics}], "layers": [{layer, local_nmse, local_call, accumulated_nmse,
// accumulated_pcc, flagged}], "flagged_layer": int|null, "flagged_call"}.
nlohmann::json to_json(const ErrorPropagation& propagation);

}  // namespace ttt
