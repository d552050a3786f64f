#include "validation/trace/inspect.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

namespace ttt {
namespace {

std::string human_bytes(std::int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return buffer;
}

std::int64_t own_bytes(const std::vector<TraceTensor>& tensors) {
  std::int64_t bytes = 0;
  for (const TraceTensor& tensor : tensors) {
    if (tensor.shared_key.empty()) bytes += tensor.stored_bytes;
  }
  return bytes;
}

// JSON numbers for finite values, null otherwise (as metrics JSON does).
nlohmann::json number(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

nlohmann::json tensor_json(const TraceTensor& tensor) {
  nlohmann::json json = {
      {"name", tensor.name},
      {"path", tensor.path},
      {"shape", tensor.shape},
      {"dtype", std::string(dtype_name(tensor.dtype))},
      {"source", tensor.source == TensorSource::dataset ? "dataset" : "generator"},
      {"stored_type", tensor.stored_type},
      {"stored_bytes", tensor.stored_bytes}};
  json["shared_key"] =
      tensor.shared_key.empty() ? nlohmann::json(nullptr) : nlohmann::json(tensor.shared_key);
  if (!tensor.mesh.empty()) {
    json["mesh"] = tensor.mesh;
    json["placements"] = tensor.placements;
  }
  return json;
}

// The values statistics are taken over: the tensor, or a mesh tensor composed. A mesh tensor
// whose replicas differ (a failed call's output) cannot be composed: its shards together.
std::vector<Tensor> values_of(const TraceReader& trace, const TraceTensor& tensor) {
  if (tensor.shards.empty()) return {trace.read(tensor)};
  const MeshTensor mesh = trace.read_mesh(tensor);
  try {
    return {compose(mesh)};
  } catch (const std::invalid_argument&) {
    return mesh.shards;
  }
}

TensorStatistics statistics(const TraceReader& trace, const TraceTensor& tensor) {
  TensorStatistics stats;
  stats.tensor = tensor;
  double sum = 0.0;
  std::int64_t finite = 0;
  stats.min = std::numeric_limits<double>::infinity();
  stats.max = -std::numeric_limits<double>::infinity();
  for (const Tensor& values : values_of(trace, tensor)) {
  for (std::int64_t i = 0; i < values.numel(); ++i) {
    const double value = values.at_flat(i);
    if (std::isnan(value)) {
      ++stats.nan;
    } else if (std::isinf(value)) {
      ++stats.inf;
    } else {
      stats.min = std::min(stats.min, value);
      stats.max = std::max(stats.max, value);
      sum += value;
      ++finite;
    }
  }
  }
  if (finite == 0) {
    stats.min = stats.max = stats.mean = std::numeric_limits<double>::quiet_NaN();
  } else {
    stats.mean = sum / static_cast<double>(finite);
  }
  return stats;
}

std::vector<TensorStatistics> statistics(const TraceReader& trace,
                                         const std::vector<TraceTensor>& tensors) {
  std::vector<TensorStatistics> all;
  for (const TraceTensor& tensor : tensors) all.push_back(statistics(trace, tensor));
  return all;
}

nlohmann::json statistics_json(const std::vector<TensorStatistics>& all) {
  nlohmann::json list = nlohmann::json::array();
  for (const TensorStatistics& stats : all) {
    nlohmann::json json = tensor_json(stats.tensor);
    json["min"] = number(stats.min);
    json["max"] = number(stats.max);
    json["mean"] = number(stats.mean);
    json["nan"] = stats.nan;
    json["inf"] = stats.inf;
    list.push_back(std::move(json));
  }
  return list;
}

void format_statistics(std::ostringstream& text, const char* title,
                       const std::vector<TensorStatistics>& all) {
  if (all.empty()) return;
  text << title << ":\n";
  for (const TensorStatistics& stats : all) {
    char line[256];
    std::snprintf(line, sizeof line, "  %-14s %-16s %-10s min %-11.5g max %-11.5g mean %.5g",
                  stats.tensor.name.c_str(), shape_to_string(stats.tensor.shape).c_str(),
                  std::string(dtype_name(stats.tensor.dtype)).c_str(), stats.min, stats.max,
                  stats.mean);
    text << line;
    if (stats.nan > 0) text << "  nan " << stats.nan;
    if (stats.inf > 0) text << "  inf " << stats.inf;
    if (!stats.tensor.shared_key.empty())
      text << "  (shared: /tensors/" << stats.tensor.shared_key << ")";
    if (stats.tensor.source == TensorSource::generator)
      text << "  (" << stats.tensor.stored_type << ")";
    if (!stats.tensor.mesh.empty()) {
      text << "  (mesh " << stats.tensor.mesh << ": " << stats.tensor.placements[0] << ", "
           << stats.tensor.placements[1] << ")";
    }
    text << "\n";
  }
}

}  // namespace

TraceSummary summarize_trace(const TraceReader& trace) {
  TraceSummary summary;
  summary.path = trace.path();
  summary.header = trace.header();
  struct stat status {};
  if (::stat(trace.path().c_str(), &status) == 0) summary.file_bytes = status.st_size;
  std::map<std::string, std::size_t> index_of_name;
  for (const std::int64_t seq : trace.sequence_numbers()) {
    const TraceCall call = trace.call(seq);
    ++summary.calls;
    auto [it, inserted] = index_of_name.emplace(call.name, summary.names.size());
    if (inserted) summary.names.push_back({call.name, call.block, 0, {}, 0});
    TraceNameSummary& name = summary.names[it->second];
    ++name.calls;
    ++name.verdicts[call.verdict];
    const std::int64_t bytes =
        own_bytes(call.inputs) + own_bytes(call.outputs) + own_bytes(call.reference_outputs);
    name.tensor_bytes += bytes;
    summary.call_bytes += bytes;
    ++summary.blocks[call.block];
    ++summary.verdicts[call.verdict];
  }
  summary.shared_tensors = trace.shared_tensors();
  for (const SharedTensor& shared : summary.shared_tensors) {
    summary.shared_bytes += shared.tensor.stored_bytes;
  }
  return summary;
}

nlohmann::json to_json(const TraceSummary& summary) {
  nlohmann::json names = nlohmann::json::array();
  for (const TraceNameSummary& name : summary.names) {
    names.push_back({{"name", name.name},
                     {"block", name.block},
                     {"calls", name.calls},
                     {"verdicts", name.verdicts},
                     {"tensor_bytes", name.tensor_bytes}});
  }
  nlohmann::json shared = nlohmann::json::array();
  for (const SharedTensor& tensor : summary.shared_tensors) {
    nlohmann::json json = tensor_json(tensor.tensor);
    json["links"] = tensor.links;
    shared.push_back(std::move(json));
  }
  return {{"trace", summary.path},
          {"format", summary.header.format},
          {"format_version", summary.header.format_version},
          {"producer", summary.header.producer},
          {"created_utc", summary.header.created_utc},
          {"meta", summary.header.meta_json},
          {"has_config", !summary.header.config_json.empty()},
          {"file_bytes", summary.file_bytes},
          {"calls", summary.calls},
          {"names", std::move(names)},
          {"blocks", summary.blocks},
          {"verdicts", summary.verdicts},
          {"shared_tensors", std::move(shared)},
          {"shared_bytes", summary.shared_bytes},
          {"call_bytes", summary.call_bytes}};
}

std::string format_trace_summary(const TraceSummary& summary) {
  std::ostringstream text;
  text << summary.path << ": " << summary.header.format << " v" << summary.header.format_version;
  if (!summary.header.producer.empty()) text << ", " << summary.header.producer;
  if (!summary.header.created_utc.empty()) text << ", " << summary.header.created_utc;
  text << "\n";
  if (summary.header.meta_json != "{}") text << "meta: " << summary.header.meta_json << "\n";
  if (!summary.header.config_json.empty()) {
    text << "config: the run's configuration dump (ttt config diff compares it)\n";
  }
  text << summary.calls << " calls, " << summary.names.size() << " names, "
       << summary.shared_tensors.size() << " shared tensors; " << human_bytes(summary.file_bytes)
       << " on disk (calls " << human_bytes(summary.call_bytes) << ", shared "
       << human_bytes(summary.shared_bytes) << ")\n";
  text << "verdicts:";
  for (const auto& [verdict, count] : summary.verdicts) text << " " << verdict << " " << count;
  text << "\nblocks:";
  for (const auto& [block, count] : summary.blocks) {
    text << " " << (block.empty() ? "(none)" : block) << " " << count;
  }
  text << "\n";
  if (!summary.names.empty()) {
    char line[256];
    std::snprintf(line, sizeof line, "\n  %-40s %-20s %7s  %s\n", "name", "block", "calls",
                  "verdicts");
    text << line;
    for (const TraceNameSummary& name : summary.names) {
      std::string verdicts;
      for (const auto& [verdict, count] : name.verdicts) {
        verdicts += (verdicts.empty() ? "" : ", ") + verdict + " " + std::to_string(count);
      }
      std::snprintf(line, sizeof line, "  %-40s %-20s %7lld  %s\n", name.name.c_str(),
                    name.block.empty() ? "(none)" : name.block.c_str(),
                    static_cast<long long>(name.calls), verdicts.c_str());
      text << line;
    }
  }
  if (!summary.shared_tensors.empty()) {
    text << "\nshared tensors:\n";
    for (const SharedTensor& shared : summary.shared_tensors) {
      text << "  /tensors/" << shared.tensor.name << " " << shape_to_string(shared.tensor.shape)
           << " " << dtype_name(shared.tensor.dtype) << ", "
           << human_bytes(shared.tensor.stored_bytes) << ", used by " << shared.links
           << (shared.links == 1 ? " call\n" : " calls\n");
    }
  }
  return text.str();
}

CallDetails describe_call(const TraceReader& trace, std::int64_t seq) {
  CallDetails details;
  details.call = trace.call(seq);
  details.inputs = statistics(trace, details.call.inputs);
  details.outputs = statistics(trace, details.call.outputs);
  details.reference_outputs = statistics(trace, details.call.reference_outputs);
  return details;
}

nlohmann::json to_json(const CallDetails& details) {
  const TraceCall& call = details.call;
  nlohmann::json json = {{"seq", call.seq},
                         {"path", call.path},
                         {"name", call.name},
                         {"block", call.block},
                         {"spec", call.spec_json},
                         {"impl_config", call.impl_config_json},
                         {"device", call.device},
                         {"scalars", call.scalars_json},
                         {"device_ns", call.device_ns},
                         {"reference_ns", call.reference_ns},
                         {"verdict", call.verdict},
                         {"metrics", call.metrics_json},
                         {"inputs", statistics_json(details.inputs)},
                         {"outputs", statistics_json(details.outputs)},
                         {"reference", statistics_json(details.reference_outputs)}};
  if (call.fingerprint) json["fingerprint"] = to_json(*call.fingerprint);
  return json;
}

std::string format_call_details(const CallDetails& details) {
  const TraceCall& call = details.call;
  std::ostringstream text;
  text << "call " << call.seq << " (" << call.path << "): " << call.name << "\n"
       << "  block        " << (call.block.empty() ? "(none)" : call.block) << "\n"
       << "  spec         " << call.spec_json << "\n"
       << "  impl_config  " << call.impl_config_json << "\n"
       << "  device       " << (call.device.empty() ? "(unknown)" : call.device) << "\n"
       << "  scalars      " << call.scalars_json << "\n"
       << "  device_ns    " << call.device_ns << "\n"
       << "  reference_ns " << call.reference_ns
       << (call.reference_ns < 0 ? " (the reference did not run)" : "") << "\n"
       << "  verdict      " << call.verdict << "\n"
       << "  metrics      " << call.metrics_json << "\n";
  if (call.fingerprint) {
    text << "  fingerprint  " << call.fingerprint->id << " (" << call.fingerprint->summary << ")\n";
  }
  format_statistics(text, "inputs", details.inputs);
  format_statistics(text, "outputs", details.outputs);
  format_statistics(text, "reference", details.reference_outputs);
  return text.str();
}

}  // namespace ttt
