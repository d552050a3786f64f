// The device models' constants (each as its published source states it, docs/cost-model.md) and
// the roofline time of a call, computed by hand.
#include "blocks/common/device_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

TEST(DeviceModel, PublishedFigures) {
  const DeviceModel& n150 = find_device_model("N150");
  EXPECT_EQ(n150.mesh.size(), 1);
  EXPECT_EQ(n150.cores_per_chip, 72);
  EXPECT_DOUBLE_EQ(n150.dram_bytes_per_second, 288e9);
  EXPECT_DOUBLE_EQ(n150.clock_hz, 1e9);
  EXPECT_EQ(n150.sram_bytes, 72 * 1536 * 1024);  // 1.5 MB per core: 108 MB.
  // 72 cores x 4096 / 4 passes x 1 GHz = 73.7 TFLOPS at HiFi4: the card's "FP16 74".
  EXPECT_NEAR(72 * n150.matmul_ops_per_cycle / 4 * n150.clock_hz, 74e12, 0.5e12);
  const DeviceModel& n300 = find_device_model("N300");
  EXPECT_EQ(n300.mesh.size(), 2);
  EXPECT_EQ(n300.cores_per_chip, 64);
  EXPECT_DOUBLE_EQ(2 * n300.dram_bytes_per_second, 576e9);
  EXPECT_EQ(find_device_model("T3K").mesh.size(), 8);
  EXPECT_EQ(find_device_model("TG").mesh.size(), 32);
  const DeviceModel& p150 = find_device_model("P150");
  EXPECT_EQ(p150.cores_per_chip, 140);
  EXPECT_DOUBLE_EQ(p150.dram_bytes_per_second, 512e9);
  EXPECT_DOUBLE_EQ(p150.clock_hz, 1.35e9);
  EXPECT_EQ(find_device_model("P100").eth_links_per_chip, 0);
  EXPECT_DOUBLE_EQ(find_device_model("N300").eth_link_bytes_per_second, 12.5e9);  // 100 Gb/s.
}

TEST(DeviceModel, UnknownDeviceIsAnErrorListingTheKnownOnes) {
  EXPECT_THAT([] { find_device_model("n150"); },
              ThrowsMessage<std::invalid_argument>(
                  HasSubstr("unknown device 'n150' (known: N150, N300, T3K, TG, P100, P150)")));
}

TEST(DeviceModel, TimeIsTheLargestTermPlusOverheads) {
  const DeviceModel& n150 = find_device_model("N150");
  DeviceCost cost;
  cost.dram_weight_bytes = 288'000'000;  // 288 MB at 288 GB/s: 1 ms.
  // 72 cores x 4096 ops per cycle x 1000 cycles at HiFi2 (2 passes): 2000 cycles = 2 us.
  cost.matmul_ops[1] = std::int64_t{72} * 4096 * 1000;
  cost.ops = 3;
  CostTime time = predict_time(cost, n150, {.op_dispatch_ns = 500.0, .eth_hop_ns = 0.0});
  EXPECT_DOUBLE_EQ(time.dram_ns, 1e6);
  EXPECT_DOUBLE_EQ(time.math_ns, 2000.0);
  EXPECT_DOUBLE_EQ(time.overhead_ns, 1500.0);
  EXPECT_DOUBLE_EQ(time.total_ns, 1e6 + 1500.0);
  EXPECT_EQ(time.bound, CostBound::memory);

  // The same math at HiFi4 and a thousand times more: 4e6 ns, compute bound.
  cost.matmul_ops = {0, 0, 0, std::int64_t{72} * 4096 * 1'000'000};
  time = predict_time(cost, n150);
  EXPECT_DOUBLE_EQ(time.math_ns, 4e6);
  EXPECT_EQ(time.bound, CostBound::compute);

  // 25 MB over 2 links of 12.5 GB/s: 1 ms, plus 3 hops of 1 us.
  DeviceCost collective;
  collective.eth_bytes = 25'000'000;
  collective.eth_links = 2;
  collective.eth_steps = 3;
  collective.devices = 2;
  time = predict_time(collective, find_device_model("N300"), {.eth_hop_ns = 1000.0});
  EXPECT_DOUBLE_EQ(time.eth_ns, 1e6);
  EXPECT_DOUBLE_EQ(time.total_ns, 1e6 + 3000.0);
  EXPECT_EQ(time.bound, CostBound::link);
}

TEST(DeviceModel, ACallNeedingMoreDevicesOrLinksIsAnError) {
  DeviceCost cost;
  cost.devices = 8;
  EXPECT_THAT(
      [&] { predict_time(cost, find_device_model("N300")); },
      ThrowsMessage<std::invalid_argument>(HasSubstr("the call runs on 8 devices, N300 has 2")));
  DeviceCost linked;
  linked.eth_bytes = 1;
  linked.eth_links = 1;
  EXPECT_THAT([&] { predict_time(linked, find_device_model("P100")); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("P100 has 0 per chip")));
}

}  // namespace
}  // namespace ttt
