// The roofline data (suites/suite/roofline.h): the roofs of a device from docs/cost-model.md's
// constants and their ridge points, a small block's intensity and throughput counted by hand from
// the cost model's rules, the CPU's roofs (given and parsed), and the report's JSON.
#include "suites/suite/roofline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "models/model.h"
#include "tests/suites/suite/tiny_llama.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

ModelDefinition tiny_model() {
  return model_from_config(suites_test::tiny_llama_config(128), "tiny.json");
}

const RooflinePoint& find_point(const Roofline& roofline, const std::string& module, Mode mode) {
  for (const RooflinePoint& point : roofline.points) {
    if (point.module == module && point.mode == mode) return point;
  }
  throw std::runtime_error("no point " + module);
}

// docs/cost-model.md "Constants", N150: 72 Tensix cores at 1 GHz, 4096 matrix operations per core
// per cycle at LoFi (HiFi2, HiFi3, HiFi4 take 2, 3, 4 passes), 128 element-wise per core per
// cycle, 288 GB/s of DRAM. Peaks: LoFi 72 * 4096 * 1e9 = 294.912 TOP/s, HiFi2 147.456, HiFi3
// 98.304, HiFi4 73.728 (the docs' "73.7 TFLOPS at HiFi4"), element-wise 72 * 128 * 1e9 = 9.216
// TOP/s. Ridge points = peak / 288e9: 1024, 512, 341.33, 256 and 32 operations per byte.
TEST(Roofline, N150RoofsAndRidgePointsFromTheDocumentedConstants) {
  const RooflineCeilings roofs = device_ceilings(find_device_model("N150"));
  EXPECT_EQ(roofs.processor, "N150");
  EXPECT_DOUBLE_EQ(roofs.bytes_per_second, 288e9);
  ASSERT_EQ(roofs.compute.size(), 5u);
  EXPECT_EQ(roofs.compute[0].name, "matmul LoFi");
  EXPECT_EQ(roofs.compute[1].name, "matmul HiFi2");
  EXPECT_EQ(roofs.compute[3].name, "matmul HiFi4");
  EXPECT_EQ(roofs.compute[4].name, "element-wise");
  EXPECT_DOUBLE_EQ(roofs.compute[0].ops_per_second, 294.912e12);
  EXPECT_DOUBLE_EQ(roofs.compute[1].ops_per_second, 147.456e12);
  EXPECT_DOUBLE_EQ(roofs.compute[2].ops_per_second, 98.304e12);
  EXPECT_DOUBLE_EQ(roofs.compute[3].ops_per_second, 73.728e12);
  EXPECT_DOUBLE_EQ(roofs.compute[4].ops_per_second, 9.216e12);
  EXPECT_DOUBLE_EQ(roofs.ridge_point(0), 1024.0);
  EXPECT_DOUBLE_EQ(roofs.ridge_point(1), 512.0);
  EXPECT_DOUBLE_EQ(roofs.ridge_point(2), 1024.0 / 3.0);
  EXPECT_DOUBLE_EQ(roofs.ridge_point(3), 256.0);
  EXPECT_DOUBLE_EQ(roofs.ridge_point(4), 32.0);
  // The crossover: below the ridge the memory roof is the lower one, above it the compute roof.
  EXPECT_DOUBLE_EQ(roofs.attainable(256.0, 1), 288e9 * 256.0);
  EXPECT_DOUBLE_EQ(roofs.attainable(512.0, 1), 147.456e12);
  EXPECT_DOUBLE_EQ(roofs.attainable(2048.0, 1), 147.456e12);
}

// P150 (docs/cost-model.md): 140 cores at 1.35 GHz, 512 GB/s. LoFi peak 140 * 4096 * 1.35e9 =
// 774.144 TOP/s; ridge 774.144e12 / 512e9 = 1512 operations per byte.
TEST(Roofline, P150RidgePoint) {
  const RooflineCeilings roofs = device_ceilings(find_device_model("P150"));
  EXPECT_DOUBLE_EQ(roofs.compute[0].ops_per_second, 774.144e12);
  EXPECT_DOUBLE_EQ(roofs.ridge_point(0), 1512.0);
}

// The tiny Llama's FFN (hidden 64, ffn 128) in decode on N150, one token, by the gated_mlp rule
// (docs/cost-model.md "Per-kind rules") with TTTv1's defaults (blocks/ffn/gated_mlp.h: weights
// bfloat8_b; x and y bfloat16; the hidden, FF2's input, bfloat8_b):
//   weights     W_gate, W_up [64, 128] and W_down [128, 64]: 8 tiles of 1088 bytes each,
//               3 * 8704 = 26112 bytes;
//   activations x [1, 64] (2 tiles of 2048, 4096), the [1, 128] hidden written and read
//               (2 * 4 tiles of 1088, 8704), y [1, 64] (4096): 16896 bytes; DRAM: 43008 bytes;
//   matmul      the token padded to 32 rows: 2 * (2 * 32 * 64 * 128) + 2 * 32 * 128 * 64 =
//               1572864 operations;
//   vector      activation and gate multiply, 2 passes over [32, 128]: 8192;
//   operations  1581056; intensity 1581056 / 43008 = 36.7619... operations per byte.
// Below every matmul ridge point (>= 256), it is memory bound (DRAM 149 ns, math: 1572864 * 2
// passes / 4096 + 8192 / 128 = 832 cycles over 72 cores, 11.6 ns) and attains the memory roof:
// 288e9 * 36.76 = 10.59 TOP/s.
TEST(Roofline, HandCountedIntensityOfATinyFfnInDecode) {
  const DeviceComposition composition =
      compose_device_cost(tiny_model(), find_device_model("N150"));
  const Roofline roofline = device_roofline(composition);
  const RooflinePoint& ffn = find_point(roofline, "layers.*.ffn", Mode::decode);
  EXPECT_EQ(ffn.kind, "gated_mlp");
  EXPECT_EQ(ffn.topology, "N150");
  EXPECT_EQ(ffn.instances, 2);
  EXPECT_DOUBLE_EQ(ffn.bytes, 43008.0);
  EXPECT_DOUBLE_EQ(ffn.ops, 1581056.0);
  EXPECT_DOUBLE_EQ(ffn.intensity, 1581056.0 / 43008.0);
  EXPECT_EQ(ffn.bound, "memory");
  EXPECT_NEAR(ffn.throughput, 288e9 * 1581056.0 / 43008.0, 1e-9 * ffn.throughput);
  // Every block of both modes, in model order; the embedding (a gather, no operations) is
  // listed but cannot be placed on a log-log chart.
  ASSERT_EQ(roofline.points.size(), 14u);
  EXPECT_EQ(roofline.points[0].module, "embedding");
  EXPECT_FALSE(roofline.points[0].on_chart());
  EXPECT_EQ(roofline.points[0].intensity, 0.0);
  EXPECT_EQ(roofline.points[7].mode, Mode::decode);
  for (const RooflinePoint& point : roofline.points) {
    if (!point.on_chart()) continue;
    // No block beats its roofs: memory roof and the highest compute roof.
    EXPECT_LE(point.throughput, roofline.ceilings.attainable(point.intensity, 0) * (1 + 1e-12))
        << point.module;
  }
}

// The CPU's roofs given as 20 GB/s and 100 GFLOP/s: ridge 5 operations per byte. The FFN above
// (36.76 operations per byte) is compute bound there at 100 GFLOP/s; the RMSNorm of decode
// (4 passes over [32, 64] = 8192 operations; x, y and the scale as [1, 64] bfloat16 tile rows,
// 3 * 4096 bytes: 0.667 per byte) is memory bound at 20e9 * 8192 / 12288 = 13.33 GFLOP/s.
TEST(Roofline, CpuRoofsGivenByTheCaller) {
  const CpuCeilings cpu = parse_cpu_ceilings("20,100");
  EXPECT_DOUBLE_EQ(cpu.read_bytes_per_second, 20e9);
  EXPECT_DOUBLE_EQ(cpu.gemm_ops_per_second, 100e9);
  EXPECT_FALSE(cpu.measured);
  const Roofline roofline =
      cpu_roofline(compose_device_cost(tiny_model(), find_device_model("N150")), cpu);
  EXPECT_EQ(roofline.ceilings.processor, "CPU");
  ASSERT_EQ(roofline.ceilings.compute.size(), 1u);
  EXPECT_DOUBLE_EQ(roofline.ceilings.ridge_point(0), 5.0);
  const RooflinePoint& ffn = find_point(roofline, "layers.*.ffn", Mode::decode);
  EXPECT_EQ(ffn.topology, "CPU");
  EXPECT_EQ(ffn.bound, "compute");
  EXPECT_DOUBLE_EQ(ffn.throughput, 100e9);
  const RooflinePoint& norm = find_point(roofline, "norm", Mode::decode);
  EXPECT_DOUBLE_EQ(norm.ops, 8192.0);
  EXPECT_DOUBLE_EQ(norm.bytes, 12288.0);
  EXPECT_EQ(norm.bound, "memory");
  EXPECT_DOUBLE_EQ(norm.throughput, 20e9 * 8192.0 / 12288.0);
  EXPECT_DOUBLE_EQ(parse_cpu_ceilings("1.5,2e3").gemm_ops_per_second, 2e12);
}

TEST(Roofline, BadCpuCeilingsAreNamed) {
  for (const char* text : {"", "20", "20,", ",100", "a,b", "0,100", "20,-1", "20,100,3", "inf,1",
                           "nan,1", "20 ,100x"}) {
    EXPECT_THAT([&] { parse_cpu_ceilings(text); },
                ThrowsMessage<std::invalid_argument>(
                    HasSubstr("--cpu-ceilings '" + std::string(text) + "': expected GBPS,GFLOPS")))
        << text;
  }
}

// The JSON: every topology's points, then the CPU's, each naming block, mode, topology,
// intensity, throughput and bound; the roofs with their ridge points.
TEST(Roofline, ReportJson) {
  const ModelDefinition model = tiny_model();
  const RooflineReport report =
      build_roofline_report({compose_device_cost(model, find_device_model("N150")),
                             compose_device_cost(model, find_device_model("N300"))},
                            parse_cpu_ceilings("20,100"));
  const nlohmann::json json = to_json(report);
  EXPECT_EQ(json["format"], "ttt-roofline");
  EXPECT_EQ(json["model"], "tiny.json");
  ASSERT_EQ(json["ceilings"].size(), 3u);
  EXPECT_EQ(json["ceilings"][0]["processor"], "N150");
  EXPECT_EQ(json["ceilings"][1]["processor"], "N300");
  EXPECT_EQ(json["ceilings"][2]["processor"], "CPU");
  EXPECT_DOUBLE_EQ(json["ceilings"][0]["compute"][1]["ridge_point"].get<double>(), 512.0);
  EXPECT_EQ(json["points"].size(), 3u * 14u);
  const nlohmann::json& ffn = json["points"][11];
  EXPECT_EQ(ffn["block"], "layers.*.ffn");
  EXPECT_EQ(ffn["mode"], "decode");
  EXPECT_EQ(ffn["topology"], "N150");
  EXPECT_DOUBLE_EQ(ffn["intensity"].get<double>(), 1581056.0 / 43008.0);
  EXPECT_EQ(ffn["bound"], "memory");
  EXPECT_EQ(json["points"][14]["topology"], "N300");
  EXPECT_EQ(json["points"][14 + 4]["kind"], "tp_gated_mlp");
  EXPECT_EQ(json["points"][28]["topology"], "CPU");
  EXPECT_FALSE(json["cpu"]["measured"].get<bool>());
  EXPECT_THROW(build_roofline_report({}, parse_cpu_ceilings("20,100")), std::invalid_argument);
}

}  // namespace
}  // namespace ttt
