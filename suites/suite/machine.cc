#include "suites/suite/machine.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "validation/input/json_reader.h"

#ifndef TTT_SUITES_BUILD_TYPE
#define TTT_SUITES_BUILD_TYPE "unknown"
#endif
#ifndef TTT_SUITES_COMMIT
#define TTT_SUITES_COMMIT "unknown"
#endif
#ifndef TTT_SUITES_VERSION
#define TTT_SUITES_VERSION "unknown"
#endif

namespace ttt {
namespace {

std::optional<std::string> read_text_file(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::optional<CpuTimes> cpu_times_from_proc_stat(const std::string& stat) {
  std::istringstream lines(stat);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("cpu ", 0) != 0) continue;
    std::istringstream fields(line.substr(4));
    // user nice system idle iowait irq softirq steal; guest time is already counted in user.
    std::uint64_t values[8] = {};
    for (std::uint64_t& value : values) {
      if (!(fields >> value)) return std::nullopt;
    }
    CpuTimes times;
    for (const std::uint64_t value : values) times.total += value;
    times.steal = values[7];
    return times;
  }
  return std::nullopt;
}

std::optional<MachineLoad> load_from_proc_loadavg(const std::string& loadavg) {
  std::istringstream fields(loadavg);
  MachineLoad load;
  if (!(fields >> load.load_1min >> load.load_5min >> load.load_15min)) return std::nullopt;
  for (const double value : {load.load_1min, load.load_5min, load.load_15min}) {
    if (!std::isfinite(value) || value < 0.0) return std::nullopt;
  }
  return load;
}

std::optional<CpuTimes> current_cpu_times() {
  const std::optional<std::string> stat = read_text_file("/proc/stat");
  return stat ? cpu_times_from_proc_stat(*stat) : std::nullopt;
}

std::optional<MachineLoad> machine_load_since(const std::optional<CpuTimes>& start) {
  const std::optional<std::string> loadavg = read_text_file("/proc/loadavg");
  const std::optional<CpuTimes> end = current_cpu_times();
  if (!loadavg || !start || !end) return std::nullopt;
  std::optional<MachineLoad> load = load_from_proc_loadavg(*loadavg);
  if (!load) return std::nullopt;
  if (end->total > start->total && end->steal >= start->steal) {
    load->cpu_steal = static_cast<double>(end->steal - start->steal) /
                      static_cast<double>(end->total - start->total);
  }
  return load;
}

std::string cpu_model_from_cpuinfo(const std::string& cpuinfo) {
  std::istringstream lines(cpuinfo);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::size_t start = line.find_first_not_of(" \t", colon + 1);
    if (start == std::string::npos) continue;
    const std::size_t end = line.find_last_not_of(" \t\r");
    return line.substr(start, end - start + 1);
  }
  return "unknown";
}

MachineInfo current_machine() {
  MachineInfo machine;
  std::ifstream cpuinfo("/proc/cpuinfo");
  if (cpuinfo) {
    std::ostringstream text;
    text << cpuinfo.rdbuf();
    machine.cpu_model = cpu_model_from_cpuinfo(text.str());
  }
  machine.cores = static_cast<std::int64_t>(std::thread::hardware_concurrency());
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0') machine.hostname = host;
  utsname system{};
  if (::uname(&system) == 0) {
    machine.os = std::string(system.sysname) + " " + system.release + " " + system.machine;
  }
  machine.build_type = TTT_SUITES_BUILD_TYPE;
  const char* commit = std::getenv("TTT_COMMIT");
  machine.commit = (commit != nullptr && commit[0] != '\0') ? commit : TTT_SUITES_COMMIT;
  if (machine.commit.empty()) machine.commit = "unknown";
  machine.producer = std::string("tttv2 ") + TTT_SUITES_VERSION;
  return machine;
}

nlohmann::json to_json(const MachineInfo& machine) {
  nlohmann::json load = nullptr;
  if (machine.load) {
    load = {{"load_average",
             {machine.load->load_1min, machine.load->load_5min, machine.load->load_15min}},
            {"cpu_steal", machine.load->cpu_steal}};
  }
  return {{"cpu_model", machine.cpu_model},   {"cores", machine.cores},
          {"hostname", machine.hostname},     {"os", machine.os},
          {"build_type", machine.build_type}, {"commit", machine.commit},
          {"producer", machine.producer},     {"load", load}};
}

MachineInfo machine_info_from_json(const JsonNode& node) {
  node.allow_only(
      {"cpu_model", "cores", "hostname", "os", "build_type", "commit", "producer", "load"});
  MachineInfo machine;
  const auto text = [&node](const char* key, std::string& out) {
    if (const auto value = node.find(key)) out = value->string();
  };
  text("cpu_model", machine.cpu_model);
  text("hostname", machine.hostname);
  text("os", machine.os);
  text("build_type", machine.build_type);
  text("commit", machine.commit);
  text("producer", machine.producer);
  if (const auto cores = node.find("cores")) machine.cores = cores->integer();
  if (const auto load = node.find("load"); load && !load->json().is_null()) {
    load->allow_only({"load_average", "cpu_steal"});
    const JsonNode averages = load->at("load_average");
    if (!averages.json().is_array() || averages.size() != 3) {
      averages.fail("expected 3 numbers (1, 5 and 15 minutes)");
    }
    double values[3] = {};
    for (std::size_t i = 0; i < 3; ++i) {
      const JsonNode value = averages.at(i);
      if (!value.json().is_number() || !std::isfinite(value.number()) || value.number() < 0) {
        value.fail("expected a finite number >= 0, got " + value.json().dump());
      }
      values[i] = value.number();
    }
    MachineLoad parsed{values[0], values[1], values[2], 0.0};
    const JsonNode steal = load->at("cpu_steal");
    if (!steal.json().is_number() || !(steal.number() >= 0.0 && steal.number() <= 1.0)) {
      steal.fail("expected a number in [0, 1], got " + steal.json().dump());
    }
    parsed.cpu_steal = steal.number();
    machine.load = parsed;
  }
  return machine;
}

}  // namespace ttt
