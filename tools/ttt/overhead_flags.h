// The cost model's named overheads as flags (docs/cost-model.md): `ttt compose --device-cost` and
// `ttt roofline` take the same two, in microseconds.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "blocks/common/device_model.h"

namespace ttt::cli {

struct OverheadFlags {
  double op_overhead_us = 0.0;
  double eth_hop_us = 0.0;

  CostOverheads overheads() const {
    return {.op_dispatch_ns = op_overhead_us * 1e3, .eth_hop_ns = eth_hop_us * 1e3};
  }
};

// Adds --op-overhead-us and --eth-hop-us; `prefix` starts their help ("--device-cost: " or "").
inline void add_overhead_flags(CLI::App* command, OverheadFlags& flags, const std::string& prefix) {
  command
      ->add_option("--op-overhead-us", flags.op_overhead_us,
                   prefix +
                       "dispatch overhead per device operation, microseconds (default 0: no "
                       "published figure)")
      ->check(CLI::NonNegativeNumber);
  command
      ->add_option("--eth-hop-us", flags.eth_hop_us,
                   prefix +
                       "latency per Ethernet hop of a collective, microseconds (default 0: no "
                       "published figure)")
      ->check(CLI::NonNegativeNumber);
}

}  // namespace ttt::cli
