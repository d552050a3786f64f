// The machine, build and commit a suite ran on: results carry them, so a gate knows whether two
// runs can be compared at all.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace ttt {

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
};

// The machine this process runs on.
MachineInfo current_machine();

// The "model name" of the first processor in /proc/cpuinfo text, or "unknown".
std::string cpu_model_from_cpuinfo(const std::string& cpuinfo);

// {"cpu_model", "cores", "hostname", "os", "build_type", "commit", "producer"}.
nlohmann::json to_json(const MachineInfo& machine);
// Inverse; missing fields keep their defaults, fields of the wrong type throw
// std::invalid_argument naming them.
MachineInfo machine_info_from_json(const nlohmann::json& json);

}  // namespace ttt
