// The machine, build and commit a suite ran on: results carry them, so a gate knows whether two
// runs can be compared at all.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "validation/input/json_reader.h"

namespace ttt {

// How busy the machine was while a suite ran: a gate cannot judge latency from a run that shared
// its cores with a build (docs/gate.md "Noisy machines").
struct MachineLoad {
  // /proc/loadavg when the run ended: runnable tasks averaged over 1, 5 and 15 minutes.
  double load_1min = 0.0;
  double load_5min = 0.0;
  double load_15min = 0.0;
  // The share of CPU time the hypervisor gave to other guests while the run lasted ("steal" of
  // the "cpu" line of /proc/stat, over the run), in [0, 1].
  double cpu_steal = 0.0;
};

// Aggregate CPU times of the "cpu" line of /proc/stat, in clock ticks.
struct CpuTimes {
  std::uint64_t total = 0;  // user + nice + system + idle + iowait + irq + softirq + steal.
  std::uint64_t steal = 0;
};

// The "cpu" line of /proc/stat text, or nullopt when there is none or it does not parse.
std::optional<CpuTimes> cpu_times_from_proc_stat(const std::string& stat);
// The three load averages of /proc/loadavg text ("0.52 0.58 0.59 1/467 12345"); steal stays 0.
// nullopt when the text does not start with three non-negative numbers.
std::optional<MachineLoad> load_from_proc_loadavg(const std::string& loadavg);
// /proc/stat now; nullopt where there is no /proc (the load is then not recorded).
std::optional<CpuTimes> current_cpu_times();
// The load now, with the steal share between `start` and now; nullopt when /proc/loadavg or
// /proc/stat cannot be read.
std::optional<MachineLoad> machine_load_since(const std::optional<CpuTimes>& start);

struct MachineInfo {
  std::string cpu_model = "unknown";  // /proc/cpuinfo "model name"; "unknown" when unreadable.
  std::int64_t cores = 0;             // Logical CPUs (std::thread::hardware_concurrency).
  std::string hostname = "unknown";
  std::string os = "unknown";          // uname: "Linux 6.1.0-18-amd64 x86_64".
  std::string build_type = "unknown";  // CMAKE_BUILD_TYPE the suites library was built with.
  // The commit: TTT_COMMIT from the environment when set, else `git rev-parse HEAD` when CMake
  // configured the build, else "unknown".
  std::string commit = "unknown";
  std::string producer;  // "tttv2 2.0.0".
  // How busy the machine was during the run; unset when not recorded (no /proc, or results
  // written before it was recorded).
  std::optional<MachineLoad> load = std::nullopt;
};

// The machine this process runs on.
MachineInfo current_machine();

// The "model name" of the first processor in /proc/cpuinfo text, or "unknown".
std::string cpu_model_from_cpuinfo(const std::string& cpuinfo);

// {"cpu_model", "cores", "hostname", "os", "build_type", "commit", "producer", "load"}, "load"
// being {"load_average": [1, 5, 15 minutes], "cpu_steal": fraction} or null.
nlohmann::json to_json(const MachineInfo& machine);
// Inverse; missing fields keep their defaults. Unknown fields, fields of the wrong type and load
// figures out of range (negative or non-finite load, steal outside [0, 1]) throw
// std::invalid_argument naming the file and JSON path
// ("results.json: /machine/load/cpu_steal: expected a number in [0, 1], got 1.5").
MachineInfo machine_info_from_json(const JsonNode& node);

}  // namespace ttt
