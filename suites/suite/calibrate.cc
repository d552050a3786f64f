#include "suites/suite/calibrate.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

#include "suites/suite/suite.h"
#include "validation/markup/number.h"
#include "validation/metrics/metrics.h"

namespace ttt {
namespace {

// The device output as float32 values with its shape: faults act on values, whatever the
// output's format (a faulted bfloat16 output is compared as float32, like any device output).
Tensor with_values(const Tensor& device, const std::function<void(std::vector<float>&, std::int64_t)>& change) {
  const Tensor values = device.to(DType::float32);
  std::vector<float> data(values.floats().begin(), values.floats().end());
  const std::int64_t row = values.shape().empty() ? 1 : values.shape().back();
  change(data, row);
  return Tensor::from_floats(values.shape(), std::move(data), DType::float32);
}

double rms(const std::vector<float>& values) {
  double squares = 0.0;
  for (const float v : values) squares += double(v) * double(v);
  return values.empty() ? 0.0 : std::sqrt(squares / static_cast<double>(values.size()));
}

// The errors of one output, each 0 when exact and growing with the error: 1 - PCC, 1 - CCC and
// NMSE (kMetricNames). A threshold is an upper bound on each.
constexpr std::size_t kMetrics = 3;
using Errors = std::array<double, kMetrics>;

// What one seed of one case output measured: the clean errors and each fault's.
struct SeedErrors {
  Errors clean{};
  std::vector<Errors> faulted;  // Per fault of output_faults().
};

Errors errors_of(const Tensor& device, const Tensor& reference) {
  MetricsOptions options;
  options.quantiles = false;
  options.histogram = false;
  const Metrics m = compute_metrics(device, reference, options);
  return {1.0 - m.pcc, 1.0 - m.ccc, m.nmse};
}

bool passes(const Errors& errors, const Errors& limits) {
  for (std::size_t k = 0; k < kMetrics; ++k) {
    if (!(errors[k] <= limits[k])) return false;  // NaN fails.
  }
  return true;
}

// Mean and (sample) standard deviation.
std::pair<double, double> mean_sd(const std::vector<double>& values) {
  double sum = 0.0;
  for (const double v : values) sum += v;
  const double mean = sum / static_cast<double>(values.size());
  double squares = 0.0;
  for (const double v : values) squares += (v - mean) * (v - mean);
  const double sd =
      values.size() > 1 ? std::sqrt(squares / static_cast<double>(values.size() - 1)) : 0.0;
  return {mean, sd};
}

// Thresholds of one output from its seeds (see the header's step 2).
OutputCalibration fit(const std::string& name, const std::vector<SeedErrors>& seeds, double z) {
  // A floor for exact seeds among inexact ones: far below any float32 error.
  constexpr double kTiny = 1e-30;
  OutputCalibration o;
  o.name = name;
  o.exact = true;
  Errors limits{};
  for (std::size_t k = 0; k < kMetrics; ++k) {
    double worst = 0.0;
    std::vector<double> logs;
    for (const SeedErrors& s : seeds) {
      worst = std::max(worst, s.clean[k]);
      logs.push_back(std::log(std::max(s.clean[k], kTiny)));
    }
    MetricFit& f = o.fits[k];
    f.worst = worst;
    if (worst <= 0.0) {
      f.limit = 0.0;  // Exact on every seed: the threshold is exact too.
    } else {
      o.exact = false;
      std::tie(f.log_mean, f.log_sd) = mean_sd(logs);
      f.limit = std::max(worst, std::exp(f.log_mean + z * f.log_sd));
    }
    limits[k] = f.limit;
  }
  o.pcc_min = 1.0 - limits[0];
  o.ccc_min = 1.0 - limits[1];
  o.nmse_max = limits[2];
  for (std::size_t f = 0; f < output_faults().size(); ++f) {
    int missed = 0;
    for (const SeedErrors& s : seeds) missed += passes(s.faulted[f], limits) ? 1 : 0;
    o.misses.push_back({output_faults()[f].name,
                        static_cast<double>(missed) / static_cast<double>(seeds.size())});
  }
  return o;
}

// Six significant digits: thresholds and worst seeds in the table.
std::string significant(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.6g", value);
  return text;
}

std::string rate_text(double rate) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f", rate);
  return text;
}

}  // namespace

const std::vector<OutputFault>& output_faults() {
  static const std::vector<OutputFault> faults = {
      {"scale_1pct", "every value times 1.01 (a wrong scale: a norm weight or 1/sqrt(d) off by 1%)",
       [](const Tensor& y) {
         return with_values(y, [](std::vector<float>& v, std::int64_t) {
           for (float& x : v) x *= 1.01f;
         });
       }},
      {"scale_5pct", "every value times 1.05 (a wrong scale of 5%)",
       [](const Tensor& y) {
         return with_values(y, [](std::vector<float>& v, std::int64_t) {
           for (float& x : v) x *= 1.05f;
         });
       }},
      {"offset_5pct_rms", "0.05 x the output's RMS added to every value (a bias added twice)",
       [](const Tensor& y) {
         return with_values(y, [](std::vector<float>& v, std::int64_t) {
           const float offset = static_cast<float>(0.05 * rms(v));
           for (float& x : v) x += offset;
         });
       }},
      {"sign_first_row", "the first row negated (a sign error on one token or user)",
       [](const Tensor& y) {
         return with_values(y, [](std::vector<float>& v, std::int64_t row) {
           for (std::int64_t i = 0; i < std::min<std::int64_t>(row, static_cast<std::int64_t>(v.size())); ++i) {
             v[static_cast<std::size_t>(i)] = -v[static_cast<std::size_t>(i)];
           }
         });
       }},
      {"swap_halves", "the two halves of every row swapped (a head or rotate-half mapping error)",
       [](const Tensor& y) {
         return with_values(y, [](std::vector<float>& v, std::int64_t row) {
           const std::int64_t half = row / 2;
           for (std::size_t start = 0; start + static_cast<std::size_t>(row) <= v.size();
                start += static_cast<std::size_t>(row)) {
             for (std::int64_t i = 0; i < half; ++i) {
               std::swap(v[start + static_cast<std::size_t>(i)],
                         v[start + static_cast<std::size_t>(half + i)]);
             }
           }
         });
       }},
      {"zero_last_row", "the last row zeroed (an off-by-one mask or position drops a token)",
       [](const Tensor& y) {
         return with_values(y, [](std::vector<float>& v, std::int64_t row) {
           const std::size_t n = static_cast<std::size_t>(std::min<std::int64_t>(row, static_cast<std::int64_t>(v.size())));
           std::fill(v.end() - static_cast<std::ptrdiff_t>(n), v.end(), 0.0f);
         });
       }},
  };
  return faults;
}

double normal_quantile(double p) {
  if (!(p > 0.0 && p < 1.0)) {
    throw std::invalid_argument("[normal_quantile] p must be in (0, 1), got " + format_number(p));
  }
  // Bisection on Phi(z) = erfc(-z / sqrt 2) / 2, monotone: 200 halvings of [-40, 40] reach the
  // double precision of z.
  double low = -40.0;
  double high = 40.0;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (low + high);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? low : high) = mid;
  }
  return 0.5 * (low + high);
}

Calibration calibrate_suite_file(const std::string& path, const CalibrationOptions& options) {
  if (options.seeds < 10) {
    throw std::invalid_argument("[calibrate] --seeds must be >= 10, got " +
                                std::to_string(options.seeds));
  }
  if (!(options.false_alarm > 0.0 && options.false_alarm < 0.5)) {
    throw std::invalid_argument("[calibrate] --false-alarm must be in (0, 0.5), got " +
                                format_number(options.false_alarm));
  }
  SuiteFile file = load_suite_file(path);
  Calibration calibration;
  calibration.file = path;
  calibration.suite = file.name;
  calibration.seeds = options.seeds;
  calibration.false_alarm = options.false_alarm;
  calibration.z = normal_quantile(1.0 - options.false_alarm);
  std::map<std::string, std::string> paths;  // case id -> JSON path
  for (const SuiteFileCase& c : file.cases) paths[c.id] = c.path;

  // case id -> output name -> the seeds' metrics; and each case's first error.
  std::map<std::string, std::map<std::string, std::vector<SeedErrors>>> measured;
  std::map<std::string, std::string> errors;
  std::vector<std::string> order;
  for (int s = 0; s < options.seeds; ++s) {
    file.seed = options.first_seed + static_cast<std::uint64_t>(s);
    Suite suite = make_suite(file, options.run);
    suite.options().timing = false;
    std::vector<std::pair<std::string, SeedErrors>> seen;  // Of the case running now.
    suite_detail::ScopedOutputObserver observer(
        [&seen](const NamedTensor& device, const Tensor& reference) {
          SeedErrors e;
          e.clean = errors_of(device.tensor, reference);
          for (const OutputFault& fault : output_faults()) {
            e.faulted.push_back(errors_of(fault.apply(device.tensor), reference));
          }
          seen.emplace_back(device.name, std::move(e));
        });
    suite.options().on_case_done = [&](std::size_t, std::size_t, const CaseResult& result) {
      if (s == 0) order.push_back(result.id);
      if (result.status == CaseStatus::error) {
        errors.emplace(result.id, "seed " + std::to_string(file.seed) + ": " + result.error);
      }
      for (auto& [name, metrics] : seen) measured[result.id][name].push_back(std::move(metrics));
      seen.clear();
    };
    suite.run();
  }
  if (order.empty()) {
    throw std::invalid_argument("[calibrate] " + path + ": no case selected (filter and tags)");
  }
  for (const std::string& id : order) {
    CaseCalibration c;
    c.case_id = id;
    c.json_path = paths.count(id) ? paths.at(id) : "";
    if (const auto error = errors.find(id); error != errors.end()) {
      c.error = error->second;
    } else {
      for (const auto& [name, seeds] : measured[id]) {
        c.outputs.push_back(fit(name, seeds, calibration.z));
      }
    }
    calibration.cases.push_back(std::move(c));
  }
  return calibration;
}

nlohmann::json to_json(const Calibration& calibration) {
  nlohmann::json faults = nlohmann::json::array();
  for (const OutputFault& fault : output_faults()) {
    faults.push_back({{"name", fault.name}, {"what", fault.what}});
  }
  nlohmann::json cases = nlohmann::json::array();
  for (const CaseCalibration& c : calibration.cases) {
    nlohmann::json outputs = nlohmann::json::array();
    for (const OutputCalibration& o : c.outputs) {
      nlohmann::json misses = nlohmann::json::object();
      for (const FaultMiss& miss : o.misses) misses[miss.fault] = miss.miss_rate;
      nlohmann::json fits = nlohmann::json::object();
      for (std::size_t k = 0; k < kMetricNames.size(); ++k) {
        const MetricFit& f = o.fits[k];
        fits[kMetricNames[k]] = {{"worst_error", f.worst},
                                 {"log_mean", f.log_mean},
                                 {"log_sd", f.log_sd},
                                 {"error_limit", f.limit}};
      }
      outputs.push_back({{"name", o.name},
                         {"exact", o.exact},
                         {"pcc_min", o.pcc_min},
                         {"ccc_min", o.ccc_min},
                         {"nmse_max", o.nmse_max},
                         {"fits", fits},
                         {"miss_rates", misses}});
    }
    cases.push_back(
        {{"case", c.case_id}, {"json_path", c.json_path}, {"error", c.error}, {"outputs", outputs}});
  }
  return {{"format", "ttt-calibration"},
          {"version", 1},
          {"file", calibration.file},
          {"suite", calibration.suite},
          {"seeds", calibration.seeds},
          {"false_alarm", calibration.false_alarm},
          {"z", calibration.z},
          {"faults", faults},
          {"cases", cases}};
}

std::string format_calibration(const Calibration& calibration) {
  std::ostringstream out;
  out << calibration.suite << ": " << calibration.seeds << " seeds, false alarm "
      << format_number(calibration.false_alarm) << " per case output (z = "
      << significant(calibration.z) << ")\n";
  out << "case | output | pcc >= | ccc >= | nmse <= | worst pcc | worst nmse";
  for (const OutputFault& fault : output_faults()) out << " | miss " << fault.name;
  out << "\n";
  for (const CaseCalibration& c : calibration.cases) {
    if (!c.error.empty()) {
      out << c.case_id << " | error: " << c.error << "\n";
      continue;
    }
    for (const OutputCalibration& o : c.outputs) {
      out << c.case_id << " | " << o.name << " | " << significant(o.pcc_min) << " | "
          << significant(o.ccc_min) << " | " << significant(o.nmse_max) << " | "
          << significant(1.0 - o.fits[0].worst) << " | " << significant(o.fits[2].worst);
      for (const FaultMiss& miss : o.misses) out << " | " << rate_text(miss.miss_rate);
      out << (o.exact ? " (exact)" : "") << "\n";
    }
  }
  return out.str();
}

nlohmann::json calibrated_suite_json(const nlohmann::json& file_json,
                                     const Calibration& calibration) {
  nlohmann::json result = file_json;
  // Several cases of one node (split, occurrences): the loosest thresholds, highest misses.
  struct NodeThresholds {
    double pcc_min = 1.0;
    double ccc_min = 1.0;
    double nmse_max = 0.0;
    std::map<std::string, double> misses;
  };
  std::map<std::string, NodeThresholds> nodes;
  for (const CaseCalibration& c : calibration.cases) {
    if (!c.error.empty() || c.outputs.empty()) continue;
    if (c.json_path.empty()) {
      throw std::invalid_argument("[calibrate] case '" + c.case_id + "' has no JSON path");
    }
    NodeThresholds& node = nodes[c.json_path];
    for (const OutputCalibration& o : c.outputs) {
      node.pcc_min = std::min(node.pcc_min, o.pcc_min);
      node.ccc_min = std::min(node.ccc_min, o.ccc_min);
      node.nmse_max = std::max(node.nmse_max, o.nmse_max);
      for (const FaultMiss& miss : o.misses) {
        node.misses[miss.fault] = std::max(node.misses[miss.fault], miss.miss_rate);
      }
    }
  }
  for (const auto& [path, node] : nodes) {
    const nlohmann::json::json_pointer pointer(path);
    if (!result.contains(pointer)) {
      throw std::invalid_argument("[calibrate] " + calibration.file + ": no case at " + path);
    }
    nlohmann::json& target = result[pointer];
    nlohmann::json& expect = target["expect"];
    if (expect.is_null()) expect = nlohmann::json::object();
    expect["pcc"] = node.pcc_min;
    expect["ccc"] = node.ccc_min;
    expect["nmse"] = node.nmse_max;
    target["calibration"] = {{"seeds", calibration.seeds},
                             {"false_alarm", calibration.false_alarm},
                             {"miss_rates", node.misses}};
  }
  return result;
}

}  // namespace ttt
