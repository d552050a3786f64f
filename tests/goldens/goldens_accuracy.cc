// Measures the accuracy table of docs/blocks.md ("Accuracy expectations") over the PyTorch
// goldens: for every call of every goldens/*.h5 and every precision variant, PCC and max abs
// error of the device path against PyTorch, then the worst value per block kind and variant.
// The thresholds goldens_test.cc asserts are derived from this output (the margin rule is in
// docs/blocks.md).
//
//   goldens_accuracy               # summary table (Markdown) on stdout
//   goldens_accuracy --calls       # also one row per call and variant
//   goldens_accuracy --thresholds  # also the thresholds as goldens_test.cc's table entries
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tests/goldens/golden_runner.h"

namespace {

struct Worst {
  double pcc = 1.0;
  double relative_max_abs = 0.0;  // max_abs_error / max |PyTorch output|.
  double max_abs = 0.0;
  std::string pcc_call;  // The call with the worst PCC.
  int calls = 0;
};

}  // namespace

int main(int argc, char** argv) {
  bool per_call = false;
  bool thresholds = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--calls") == 0) {
      per_call = true;
    } else if (std::strcmp(argv[i], "--thresholds") == 0) {
      thresholds = true;
    } else {
      std::fprintf(stderr, "usage: goldens_accuracy [--calls] [--thresholds]\n");
      return 2;
    }
  }
  using Key = std::pair<std::string, std::string>;  // (kind, variant)
  std::map<Key, Worst> worst;
  std::vector<Key> order;
  double worst_reference_pcc = 1.0;
  double worst_reference_relative = 0.0;
  if (per_call) {
    std::printf("| call | kind | variant | PCC | max abs error | / max abs output |\n");
    std::printf("|---|---|---|---|---|---|\n");
  }
  for (const std::string& stem : ttt::goldens::golden_stems()) {
    for (const ttt::goldens::GoldenCall& golden : ttt::goldens::load_golden(stem)) {
      const double scale = ttt::goldens::output_scale(golden);
      const ttt::Metrics reference = ttt::goldens::reference_vs_pytorch(golden);
      worst_reference_pcc = std::min(worst_reference_pcc, reference.pcc);
      worst_reference_relative =
          std::max(worst_reference_relative, reference.max_abs_error / scale);
      std::map<std::string, ttt::Metrics> measured;  // By variant label.
      for (const ttt::goldens::Variant& variant : ttt::goldens::variants(golden)) {
        const ttt::Metrics device = variant.same_as.empty()
                                        ? ttt::goldens::device_vs_pytorch(golden, variant)
                                        : measured.at(variant.same_as);
        measured.emplace(variant.label, device);
        const Key key{golden.call.kind, variant.label};
        if (worst.find(key) == worst.end()) order.push_back(key);
        Worst& entry = worst[key];
        if (device.pcc < entry.pcc) {
          entry.pcc = device.pcc;
          entry.pcc_call = golden.name;
        }
        entry.relative_max_abs = std::max(entry.relative_max_abs, device.max_abs_error / scale);
        entry.max_abs = std::max(entry.max_abs, device.max_abs_error);
        ++entry.calls;
        if (per_call) {
          std::printf("| %s | %s | %s | %.6f | %.4g | %.4g |\n", golden.name.c_str(),
                      key.first.c_str(), key.second.c_str(), device.pcc, device.max_abs_error,
                      device.max_abs_error / scale);
        }
      }
    }
  }
  std::printf(
      "\nreference vs PyTorch over every call: worst PCC %.9f, worst max abs error / max "
      "abs output %.3g\n\n",
      worst_reference_pcc, worst_reference_relative);
  std::printf(
      "| kind | variant | calls | worst PCC (call) | worst max abs error | worst max abs "
      "error / max abs output | threshold: min PCC | threshold: max abs error / max abs "
      "output |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  std::stable_sort(order.begin(), order.end(),
                   [](const Key& a, const Key& b) { return a.first < b.first; });
  for (const Key& key : order) {
    const Worst& entry = worst.at(key);
    std::printf("| %s | %s | %d | %.6f (%s) | %.4g | %.4g | %.8g | %.2g |\n", key.first.c_str(),
                key.second.c_str(), entry.calls, entry.pcc, entry.pcc_call.c_str(), entry.max_abs,
                entry.relative_max_abs, ttt::goldens::pcc_threshold(entry.pcc),
                ttt::goldens::relative_error_threshold(entry.relative_max_abs));
  }
  if (thresholds) {
    std::printf("\n");
    for (const Key& key : order) {
      const Worst& entry = worst.at(key);
      std::printf("    {\"%s\", \"%s\", %.8g, %.2g},\n", key.first.c_str(), key.second.c_str(),
                  ttt::goldens::pcc_threshold(entry.pcc),
                  ttt::goldens::relative_error_threshold(entry.relative_max_abs));
    }
  }
  return 0;
}
