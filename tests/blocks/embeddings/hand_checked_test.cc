// Hand-checked device cases of the embedding kinds (embedding, tp_embedding): tiny tables in
// float32, expected values by hand (learned positions) or from tools/hand_checked_values.py
// "embeddings" (sinusoids). Each case names the fault it catches.
#include "tests/blocks/common/hand_checked.h"

#include <gtest/gtest.h>

#include <vector>

#include "blocks/embeddings/embedding.h"
#include "blocks/embeddings/tp_embedding.h"
#include "validation/mesh/mesh.h"

namespace ttt {
namespace {

using testing_blocks::expect_values;
using testing_blocks::pattern;

EmbeddingImplConfig exact_config() {
  EmbeddingImplConfig config;
  config.weight_dtype = DType::float32;
  config.output_dtype = DType::float32;
  return config;
}

// vocab 3, hidden 2, scale 1.5 (exact in every format), learned positions [4, 2].
const EmbeddingSpec kLearned{3, 2, 1.5, PositionEmbedding::learned, 4};
const Tensor kTokens = Tensor::from_floats({3, 2}, {1.0f, 2.0f, -0.5f, 0.25f, 4.0f, -1.0f});
const Tensor kPositions =
    Tensor::from_floats({4, 2}, {0.5f, 0.0f, 0.0f, 0.5f, -1.0f, 1.0f, 2.0f, -2.0f});

TEST(EmbeddingsHandChecked, LearnedPositionsAndScaleInPrefill) {
  // ids [2, 0, 1] at positions 0, 1, 2: 1.5 [4, -1] + [0.5, 0] = [6.5, -1.5];
  // 1.5 [1, 2] + [0, 0.5] = [1.5, 3.5]; 1.5 [-0.5, 0.25] + [-1, 1] = [-1.75, 1.375].
  // Catches: the scale applied to the position row too (t0 [6.75, -1.5]), the scale dropped
  // (t0 [4.5, -1]), positions counted from 1 (t0 [6, -1]).
  const Embedding embedding(kLearned, exact_config(), {kTokens, kPositions});
  expect_values(embedding.prefill_forward(Tensor::from_int64({1, 3}, {2, 0, 1})),
                {6.5, -1.5, 1.5, 3.5, -1.75, 1.375}, 0.0,
                "embedding scale on the token row only, prefill position numbering");
}

TEST(EmbeddingsHandChecked, DecodeUsersAtDifferentPositions) {
  // ids [1, 2] at positions [3, 0]: 1.5 [-0.5, 0.25] + [2, -2] = [1.25, -1.625];
  // 1.5 [4, -1] + [0.5, 0] = [6.5, -1.5]. Catches: every user read at positions[0] (user 1
  // would be [8, -3.5]), ids and positions paired across users.
  const Embedding embedding(kLearned, exact_config(), {kTokens, kPositions});
  expect_values(
      embedding.decode_forward(Tensor::from_int64({2}, {1, 2}), Tensor::from_int64({2}, {3, 0})),
      {1.25, -1.625, 6.5, -1.5}, 0.0, "embedding decode positions per user");
}

TEST(EmbeddingsHandChecked, SinusoidsInterleavedWithTheirWavelengths) {
  // hidden 4, base 10000: w = 10000^(-2i/4) = [1, 0.01]; pe[p] = [sin p, cos p, sin 0.01p,
  // cos 0.01p] added to the token row (pattern(3, 1, 7, 4)); ids [2, 0] at positions [3, 5]
  // (tools/hand_checked_values.py embeddings). Catches: sin and cos in halves instead of
  // interleaved, the exponent i/hidden instead of 2i/hidden (w_1 = 0.1), sin and cos swapped,
  // the position of user 0 used for user 1.
  const EmbeddingSpec spec{3, 4, 1.0, PositionEmbedding::sinusoidal, 8};
  const Embedding embedding(spec, exact_config(), {pattern({3, 4}, 3, 1, 7, 4)});
  expect_values(
      embedding.decode_forward(Tensor::from_int64({2}, {2, 0}), Tensor::from_int64({2}, {3, 5})),
      {0.391120008, -1.7399925, 0.0299955002, 1.74955003, -1.45892427, 0.533662185, -0.700020831,
       0.99875026},
      1e-6, "sinusoid layout, wavelengths, decode positions");
}

TEST(EmbeddingsHandChecked, TpEmbeddingOnN300EqualsTheWholeEmbedding) {
  // hidden 2 split 1 + 1: the composed output is the single-device prefill case's. Catches: a
  // device holding the other device's columns of the token or position table, the scale or
  // the positions applied on one device only.
  const TpEmbeddingSpec spec{kLearned, parse_mesh("N300")};
  TpEmbeddingImplConfig config;
  config.device = exact_config();
  config.ccl.output_dtype = DType::float32;
  const TpEmbedding embedding(spec, config, {kTokens, kPositions});
  const MeshTensor ids = distribute(Tensor::from_int64({1, 3}, {2, 0, 1}), spec.mesh, {});
  expect_values(compose(embedding.prefill_forward(ids)), {6.5, -1.5, 1.5, 3.5, -1.75, 1.375}, 0.0,
                "tp_embedding column split of both tables");
}

}  // namespace
}  // namespace ttt
