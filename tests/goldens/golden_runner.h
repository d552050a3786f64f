// Running the PyTorch goldens (goldens/*.h5, written by tools/goldens/make_goldens.py) through
// the block registry: the reference and the device path of every call, at the stored precision
// and at the precision variants of the accuracy table (docs/blocks.md, "Accuracy expectations").
// Shared by goldens_test.cc (which asserts) and goldens_accuracy.cc (which measures).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "validation/metrics/metrics.h"
#include "validation/registry/block_registry.h"
#include "validation/tensor/tensor.h"

namespace ttt::goldens {

// The models every golden set must cover, as file stems of goldens/<stem>.h5.
const std::vector<std::string>& required_goldens();

// goldens/ in the source tree.
std::string goldens_directory();

// The .h5 files in goldens/, sorted by stem.
std::vector<std::string> golden_stems();

// One call of a golden with its inputs loaded.
struct GoldenCall {
  std::string file;  // "gpt-2.h5".
  std::int64_t seq = 0;
  std::string name;  // "gpt-2.attention.decode".
  BlockCall call;    // Kind, Spec, stored ImplConfig, device, scalars and inputs.
  Tensor pytorch;    // PyTorch's output, reference/y.
};

// Reads every call of goldens/<stem>.h5 with its inputs (a tensor shared under /tensors is read
// once). Throws TraceError for a malformed file and std::runtime_error for a call without a
// block kind or without reference/y.
std::vector<GoldenCall> load_golden(const std::string& stem);

// A precision to run the device path at: the stored ImplConfig ("default"), a weight dtype x
// fidelity point of the matrix ("bfloat8_b HiFi2"), or a TTTv1 preset ("accuracy",
// "performance").
struct Variant {
  std::string label;
  nlohmann::json impl_config;  // The call's ImplConfig for this variant.
  // The label of an earlier variant with the same complete ImplConfig (its results are this
  // one's: run it once), or "".
  std::string same_as;
};

// The variants of a call: "default" for every kind; for kinds with matmuls (attention, mlp,
// gated_mlp, moe, lm_head) also the nine points {bfloat16, bfloat8_b, bfloat4_b} x {LoFi, HiFi2,
// HiFi4}, set on every weight matmul of the block over the stored config, and for attention and
// the feed-forward kinds the presets "accuracy" and "performance" (default_impl_config with the
// preset). Variants whose complete ImplConfig repeats an earlier one's name it in `same_as`.
std::vector<Variant> variants(const GoldenCall& golden);

// The block's registered replayer. Throws std::runtime_error for an unregistered kind.
const BlockReplayer& replayer(const std::string& kind);

// Runs the block's reference and compares it with PyTorch's output.
Metrics reference_vs_pytorch(const GoldenCall& golden);

// Runs the device path at `variant` and compares it with PyTorch's output. Inputs the variant
// stores in another format (a bfloat8_b KV cache under a bfloat16 cache config) are converted
// first; every bfloat8_b value is exactly a bfloat16 value.
Metrics device_vs_pytorch(const GoldenCall& golden, const Variant& variant);

// max |PyTorch output|: the scale max abs errors are judged against.
double output_scale(const GoldenCall& golden);

// The margin rule of the accuracy table: a threshold allows twice the worst measured error,
// rounded up to two significant digits. For PCC the error is the deficit 1 - PCC (worst 0.999324:
// deficit 6.76e-4, threshold 1 - 1.4e-3 = 0.9986); for max abs error / max |output| it is the
// ratio itself (worst 0.04258: threshold 0.086).
double pcc_threshold(double worst_pcc);
double relative_error_threshold(double worst_relative_error);

}  // namespace ttt::goldens
