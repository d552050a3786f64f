// Writes the two sample tensors the README's first command compares: a float32 reference drawn
// from the seeded normal generator, and the same values as a device holds them in bfloat8_b.
//
// Usage: ttt_write_samples OUTPUT_DIRECTORY   (writes device.npy and reference.npy there)
#include <exception>
#include <filesystem>
#include <iostream>

#include "validation/tensor/npy.h"
#include "validation/tensor/random.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: ttt_write_samples OUTPUT_DIRECTORY\n";
    return 2;
  }
  try {
    const std::filesystem::path directory = argv[1];
    std::filesystem::create_directories(directory);
    // One decode-sized activation of a 4096-wide model: 32 tokens.
    constexpr std::uint64_t kSeed = 2024;
    const ttt::Tensor reference = ttt::random_normal({32, 4096}, kSeed, 0.0, 1.0);
    const ttt::Tensor device = reference.to(ttt::DType::bfloat8_b);
    ttt::write_npy((directory / "reference.npy").string(), reference);
    ttt::write_npy((directory / "device.npy").string(), device);
  } catch (const std::exception& error) {
    std::cerr << "ttt_write_samples: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
