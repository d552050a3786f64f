#include "validation/metrics/logits_oracle.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>
#include <stdexcept>
#include <string>

#include "validation/markup/number.h"
#include "validation/metrics/metrics.h"

namespace ttt {
namespace {

// The k highest token ids of a row: by value, highest first, ties by the lower id; NaN last.
std::vector<std::int64_t> top_k_of(const double* row, std::int64_t vocab, std::int64_t k) {
  std::vector<std::int64_t> ids(static_cast<std::size_t>(vocab));
  std::iota(ids.begin(), ids.end(), 0);
  const auto before = [row](std::int64_t a, std::int64_t b) {
    const double x = row[a];
    const double y = row[b];
    if (std::isnan(x) || std::isnan(y)) return std::isnan(y) && (!std::isnan(x) || a < b);
    return x > y || (x == y && a < b);
  };
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), before);
  ids.resize(static_cast<std::size_t>(k));
  return ids;
}

bool contains(const std::vector<std::int64_t>& ids, std::int64_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

void check_logits(const Tensor& tensor, const char* side) {
  if (!tensor.defined() || tensor.rank() == 0 || !is_floating(tensor.dtype())) {
    throw std::invalid_argument(std::string("[compare_logits] ") + side +
                                " logits must be a floating tensor of rank >= 1 [..., vocab]");
  }
}

}  // namespace

LogitsOracleResult compare_logits(const Tensor& device, const Tensor& reference,
                                  const LogitsOracleOptions& options) {
  check_logits(device, "device");
  check_logits(reference, "reference");
  if (device.shape() != reference.shape()) {
    throw std::invalid_argument("[compare_logits] shapes differ: device " +
                                shape_to_string(device.shape()) + ", reference " +
                                shape_to_string(reference.shape()));
  }
  const std::int64_t vocab = device.dim(-1);
  if (options.top_k < 1 || options.top_k > vocab) {
    throw std::invalid_argument("[compare_logits] top_k " + std::to_string(options.top_k) +
                                " must be in [1, " + std::to_string(vocab) +
                                "] (the vocabulary size)");
  }
  const Tensor device_values = device.to(DType::float64);
  const Tensor reference_values = reference.to(DType::float64);
  LogitsOracleResult result;
  result.top_k = options.top_k;
  result.total_rows = vocab > 0 ? device.numel() / vocab : 0;
  const std::string k = std::to_string(options.top_k);
  MetricsOptions row_options;
  row_options.quantiles = false;
  row_options.histogram = false;
  for (std::int64_t r = 0; r < result.total_rows; ++r) {
    const double* d = device_values.data<double>() + r * vocab;
    const double* e = reference_values.data<double>() + r * vocab;
    LogitsRow row;
    row.row = r;
    const Metrics m = compute_metrics(Tensor::from_doubles({vocab}, {d, d + vocab}),
                                      Tensor::from_doubles({vocab}, {e, e + vocab}), row_options);
    row.pcc = m.pcc;
    row.max_abs_error = m.max_abs_error;
    const std::vector<std::int64_t> device_top = top_k_of(d, vocab, options.top_k);
    const std::vector<std::int64_t> reference_top = top_k_of(e, vocab, options.top_k);
    row.device_top1 = device_top.front();
    row.reference_top1 = reference_top.front();
    row.top1_match = row.device_top1 == row.reference_top1;
    row.device_top1_in_reference_top_k = contains(reference_top, row.device_top1);
    row.reference_top1_in_device_top_k = contains(device_top, row.reference_top1);
    std::int64_t common = 0;
    for (const std::int64_t id : device_top) common += contains(reference_top, id) ? 1 : 0;
    row.top_k_overlap = static_cast<double>(common) / static_cast<double>(options.top_k);
    result.rows.push_back(row);
    if (row.top1_match) continue;
    result.first_divergent_row = r;
    result.passed = row.device_top1_in_reference_top_k && row.reference_top1_in_device_top_k;
    result.text =
        "top-1 diverges at row " + std::to_string(r) + " of " + std::to_string(result.total_rows) +
        " (device " + std::to_string(row.device_top1) + ", reference " +
        std::to_string(row.reference_top1) + ", pcc " + format_significant(row.pcc, 6) + "): ";
    if (result.passed) {
      result.text += "a near tie, each in the other's top-" + k;
    } else {
      std::vector<std::string> misses;
      if (!row.device_top1_in_reference_top_k) {
        misses.push_back("device's " + std::to_string(row.device_top1) +
                         " not in the reference's top-" + k);
      }
      if (!row.reference_top1_in_device_top_k) {
        misses.push_back("reference's " + std::to_string(row.reference_top1) +
                         " not in the device's top-" + k);
      }
      result.text += misses.front() + (misses.size() > 1 ? "; " + misses.back() : "");
    }
    return result;
  }
  result.text = std::to_string(result.total_rows) + " rows, top-1 agrees on all";
  return result;
}

nlohmann::json to_json(const LogitsOracleResult& result) {
  const auto number = [](double value) {
    return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
  };
  nlohmann::json rows = nlohmann::json::array();
  for (const LogitsRow& row : result.rows) {
    rows.push_back({{"row", row.row},
                    {"pcc", number(row.pcc)},
                    {"max_abs_error", number(row.max_abs_error)},
                    {"device_top1", row.device_top1},
                    {"reference_top1", row.reference_top1},
                    {"top1_match", row.top1_match},
                    {"device_top1_in_reference_top_k", row.device_top1_in_reference_top_k},
                    {"reference_top1_in_device_top_k", row.reference_top1_in_device_top_k},
                    {"top_k_overlap", row.top_k_overlap}});
  }
  nlohmann::json first = nullptr;
  if (result.first_divergent_row) first = *result.first_divergent_row;
  return {{"top_k", result.top_k},
          {"total_rows", result.total_rows},
          {"passed", result.passed},
          {"text", result.text},
          {"first_divergent_row", std::move(first)},
          {"rows", std::move(rows)}};
}

}  // namespace ttt
