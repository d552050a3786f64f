// Threshold flags shared by the commands that judge comparisons (`ttt replay`; the same names and
// meanings as `ttt compare`, docs/cli.md): --pcc, --max-abs, --mean-abs, --rmse, --nmse,
// --max-rel, --cosine, --max-ulp, --ccc, --sqnr, --mismatched-fraction, --atol, --rtol, --allclose,
// --allow-nonfinite.
#pragma once

#include <CLI/CLI.hpp>
#include <cmath>
#include <optional>
#include <string>

#include "validation/metrics/metrics.h"

namespace ttt::cli {

// Holds the flags' values; keep it alive (e.g. in a shared_ptr) until the command has run.
class ThresholdFlags {
 public:
  // Adds the flags to `command`.
  void add_to(CLI::App* command) {
    const auto finite = CLI::Validator(
        [](const std::string& text) {
          try {
            std::size_t used = 0;
            const double value = std::stod(text, &used);
            if (used == text.size() && std::isfinite(value)) return std::string();
          } catch (const std::exception&) {
          }
          return "must be a finite number, got '" + text + "'";
        },
        "FINITE");
    const auto add = [&](Threshold& threshold, const char* name, const char* help) {
      threshold.option = command->add_option(name, threshold.value, help)->check(finite);
    };
    add(pcc_, "--pcc", "Fail when pcc < value");
    add(max_abs_, "--max-abs", "Fail when max_abs_error > value");
    add(mean_abs_, "--mean-abs", "Fail when mean_abs_error > value");
    add(rmse_, "--rmse", "Fail when rmse > value");
    add(nmse_, "--nmse", "Fail when nmse > value");
    add(max_rel_, "--max-rel", "Fail when max_rel_error > value");
    add(cosine_, "--cosine", "Fail when cosine_similarity < value");
    add(max_ulp_, "--max-ulp", "Fail when max_ulp_error > value");
    add(ccc_, "--ccc", "Fail when ccc (Lin's concordance correlation) < value");
    add(sqnr_, "--sqnr", "Fail when sqnr_db (signal-to-quantization-noise ratio, dB) < value");
    add(mismatched_fraction_, "--mismatched-fraction",
        "Fail when the fraction of allclose mismatches > value");
    add(atol_, "--atol",
        "allclose atol (implies --allclose unless --mismatched-fraction is given)");
    add(rtol_, "--rtol",
        "allclose rtol (implies --allclose unless --mismatched-fraction is given)");
    atol_.option->check(CLI::NonNegativeNumber);
    rtol_.option->check(CLI::NonNegativeNumber);
    command->add_flag("--allclose", allclose_,
                      "Fail unless |a - e| <= atol + rtol * |e| everywhere");
    command->add_flag("--allow-nonfinite", allow_nonfinite_,
                      "Do not fail on NaN/Inf the other side does not match");
  }

  // The thresholds given on the command line, and only those (unset fields stay unset, so that
  // Tolerances::merged() keeps the other fields of a default).
  Tolerances given_tolerances() const {
    Tolerances tolerances;
    tolerances.pcc = pcc_.get();
    tolerances.max_abs_error = max_abs_.get();
    tolerances.mean_abs_error = mean_abs_.get();
    tolerances.rmse = rmse_.get();
    tolerances.nmse = nmse_.get();
    tolerances.max_rel_error = max_rel_.get();
    tolerances.cosine_similarity = cosine_.get();
    tolerances.max_ulp_error = max_ulp_.get();
    tolerances.ccc = ccc_.get();
    tolerances.sqnr_db = sqnr_.get();
    tolerances.mismatched_fraction = mismatched_fraction_.get();
    tolerances.require_allclose =
        allclose_ || ((atol_.given() || rtol_.given()) && !mismatched_fraction_.given());
    tolerances.allow_nonfinite_mismatch = allow_nonfinite_;
    return tolerances;
  }

  // Sets allclose's rtol/atol in `options` where they were given.
  void apply_to(MetricsOptions& options) const {
    if (atol_.given()) options.atol = atol_.value;
    if (rtol_.given()) options.rtol = rtol_.value;
  }

 private:
  struct Threshold {
    double value = 0.0;
    CLI::Option* option = nullptr;
    bool given() const { return option != nullptr && option->count() > 0; }
    std::optional<double> get() const {
      return given() ? std::optional<double>(value) : std::nullopt;
    }
  };
  Threshold pcc_, max_abs_, mean_abs_, rmse_, nmse_, max_rel_, cosine_, max_ulp_, ccc_, sqnr_,
      mismatched_fraction_, atol_, rtol_;
  bool allclose_ = false;
  bool allow_nonfinite_ = false;
};

}  // namespace ttt::cli
