#include "suites/suite/machine.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

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
  return {{"cpu_model", machine.cpu_model},   {"cores", machine.cores},
          {"hostname", machine.hostname},     {"os", machine.os},
          {"build_type", machine.build_type}, {"commit", machine.commit},
          {"producer", machine.producer}};
}

MachineInfo machine_info_from_json(const nlohmann::json& json) {
  if (!json.is_object()) throw std::invalid_argument("machine: expected an object");
  MachineInfo machine;
  const auto text = [&json](const char* key, std::string& out) {
    if (!json.contains(key)) return;
    if (!json.at(key).is_string()) {
      throw std::invalid_argument(std::string("machine.") + key + ": expected a string");
    }
    out = json.at(key).get<std::string>();
  };
  text("cpu_model", machine.cpu_model);
  text("hostname", machine.hostname);
  text("os", machine.os);
  text("build_type", machine.build_type);
  text("commit", machine.commit);
  text("producer", machine.producer);
  if (json.contains("cores")) {
    if (!json.at("cores").is_number_integer()) {
      throw std::invalid_argument("machine.cores: expected an integer");
    }
    machine.cores = json.at("cores").get<std::int64_t>();
  }
  return machine;
}

}  // namespace ttt
