// Tests of the MPI mesh transport (validation/mesh/mpi): mesh_mpi_worker launched by mpirun with 2
// and 8 ranks, one per device. Gathered shards and the collective blocks' results are
// bit-identical to the in-process ones on every rank; a launch with the wrong rank count, a shard
// of another shape, a missing shard, a rank on another mesh, a rank that dies and a rank that
// never joins each end the whole job with a non-zero exit and a message, within seconds.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/common/scratch_dir.h"
#include "tests/tools/cli_run.h"
#include "validation/mesh/mpi/mpi_transport.h"

namespace ttt {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

// FindMPI's launcher and flags, and this machine's: more ranks than cores, and root allowed
// (CI containers run as root).
constexpr const char* kLauncher = TTT_MPIEXEC
    " " TTT_MPIEXEC_NUMPROC_FLAG " %d " TTT_MPIEXEC_PREFLAGS " --oversubscribe --allow-run-as-root";

struct Launch {
  cli_test::RunResult result;
  double seconds = 0;
};

// Runs `env mpirun -n ranks mesh_mpi_worker mode mesh` in a scratch directory of this test.
Launch launch(int ranks, const std::string& mode, const std::string& mesh,
              const std::string& env = "") {
  const test_support::ScratchDir directory;
  char launcher[512];
  std::snprintf(launcher, sizeof launcher, kLauncher, ranks);
  const std::string command = env + " " + launcher + " " + cli_test::shell_quote(TTT_MPI_WORKER) +
                              " " + cli_test::shell_quote(mode) + " " + cli_test::shell_quote(mesh);
  const auto start = std::chrono::steady_clock::now();
  Launch launch{cli_test::run_shell(directory.path(), command)};
  launch.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return launch;
}

// Occurrences of `needle` in `text`.
int count(const std::string& text, const std::string& needle) {
  int found = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++found;
  }
  return found;
}

void expect_every_rank_gathered(const Launch& run, int ranks) {
  ASSERT_EQ(run.result.exit_code, 0) << run.result.out << run.result.err;
  for (int rank = 0; rank < ranks; ++rank) {
    EXPECT_THAT(run.result.out, HasSubstr("rank " + std::to_string(rank) + " of " +
                                          std::to_string(ranks) + ": gather ok (25 layouts"));
  }
}

// Open MPI's launcher sets OMPI_COMM_WORLD_SIZE, MPICH's and Slurm's PMI_SIZE; the worker checks
// that mpirun's environment reads as launched.
TEST(MeshMpiTest, LaunchedUnderMpiReadsTheLaunchersVariables) {
  unsetenv("OMPI_COMM_WORLD_SIZE");
  unsetenv("PMI_SIZE");
  EXPECT_FALSE(launched_under_mpi());
  setenv("PMI_SIZE", "2", 1);
  EXPECT_TRUE(launched_under_mpi());
  unsetenv("PMI_SIZE");
  setenv("OMPI_COMM_WORLD_SIZE", "8", 1);
  EXPECT_TRUE(launched_under_mpi());
  unsetenv("OMPI_COMM_WORLD_SIZE");
}

TEST(MeshMpiTest, GathersEveryShardBitExactlyOnTwoRanks) {
  expect_every_rank_gathered(launch(2, "gather", "N300"), 2);
}

TEST(MeshMpiTest, GathersEveryShardBitExactlyOnEightRanks) {
  expect_every_rank_gathered(launch(8, "gather", "T3K"), 8);
}

TEST(MeshMpiTest, GathersEveryShardBitExactlyOnATwoByFourMesh) {
  expect_every_rank_gathered(launch(8, "gather", "2x4"), 8);
}

// The collective blocks: 16 per mesh axis (all_reduce and reduce_scatter in ring and line order
// with bfloat16, float32 and bfloat8_b partial sums; all_gather and broadcast in both orders).
void expect_every_rank_matched_in_process(const Launch& run, int ranks, int collectives) {
  ASSERT_EQ(run.result.exit_code, 0) << run.result.out << run.result.err;
  for (int rank = 0; rank < ranks; ++rank) {
    EXPECT_THAT(run.result.out,
                HasSubstr("rank " + std::to_string(rank) + " of " + std::to_string(ranks) +
                          ": ccl ok (" + std::to_string(collectives) + " collectives)"));
  }
}

TEST(MeshMpiTest, CollectivesAreBitIdenticalToInProcessOnTwoRanks) {
  expect_every_rank_matched_in_process(launch(2, "ccl", "N300"), 2, 16);
}

TEST(MeshMpiTest, CollectivesAreBitIdenticalToInProcessOnEightRanks) {
  expect_every_rank_matched_in_process(launch(8, "ccl", "T3K"), 8, 16);
}

TEST(MeshMpiTest, CollectivesAlongBothAxesAreBitIdenticalOnATwoByFourMesh) {
  expect_every_rank_matched_in_process(launch(8, "ccl", "2x4"), 8, 32);
}

// The expert-parallel MoE with its experts on the ranks (four per rank on 2, one per rank on 8,
// TTTv1's Mixtral layout): 8 forwards (prefill and decode, all-reduce and reduce-scatter,
// bfloat16 and float32 partial sums), each rank's and every rank's result as in-process.
void expect_ep_moe_matched_in_process(const Launch& run, int ranks) {
  ASSERT_EQ(run.result.exit_code, 0) << run.result.out << run.result.err;
  for (int rank = 0; rank < ranks; ++rank) {
    EXPECT_THAT(run.result.out, HasSubstr("rank " + std::to_string(rank) + " of " +
                                          std::to_string(ranks) + ": ep_moe ok (8 forwards)"));
  }
}

TEST(MeshMpiTest, ExpertParallelMoeIsBitIdenticalToInProcessOnTwoRanks) {
  expect_ep_moe_matched_in_process(launch(2, "ep_moe", "N300"), 2);
}

TEST(MeshMpiTest, ExpertParallelMoeIsBitIdenticalToInProcessOnEightRanks) {
  expect_ep_moe_matched_in_process(launch(8, "ep_moe", "T3K"), 8);
}

// TG's 2-D MLP on a 2x2 mesh, one rank per device: hidden split along either axis, prefill and
// decode, TG's defaults and float32 ring partial sums, each rank's and every rank's result as
// in-process, bit for bit.
TEST(MeshMpiTest, TwoDimensionalMlpIsBitIdenticalToInProcessOnATwoByTwoMesh) {
  const Launch run = launch(4, "tp2d_gated_mlp", "2x2");
  ASSERT_EQ(run.result.exit_code, 0) << run.result.out << run.result.err;
  for (int rank = 0; rank < 4; ++rank) {
    EXPECT_THAT(run.result.out, HasSubstr("rank " + std::to_string(rank) +
                                          " of 4: tp2d_gated_mlp ok (8 forwards)"));
  }
}

TEST(MeshMpiTest, RankCountOtherThanTheMeshFailsOnEveryRank) {
  const Launch run = launch(2, "gather", "T3K");
  EXPECT_NE(run.result.exit_code, 0);
  EXPECT_EQ(count(run.result.err, "mesh T3K has 8 devices but the MPI launch has 2 ranks"), 2)
      << run.result.err;
  EXPECT_THAT(run.result.out, Not(HasSubstr("ok")));
}

TEST(MeshMpiTest, ShardOfAnotherShapeFailsOnEveryRankNamingTheRank) {
  const Launch run = launch(2, "shape", "N300");
  EXPECT_NE(run.result.exit_code, 0);
  EXPECT_EQ(count(run.result.err,
                  "[all_gather_shards] rank 1 holds a shard of shape [2, 5] and "
                  "dtype float32, rank 0 one of shape [2, 4] and dtype float32"),
            2)
      << run.result.err;
}

TEST(MeshMpiTest, RankWithoutItsShardFailsOnEveryRankNamingTheRank) {
  const Launch run = launch(2, "noshard", "N300");
  EXPECT_NE(run.result.exit_code, 0);
  EXPECT_EQ(count(run.result.err, "[all_gather_shards] rank 1 holds no shard for its device 1"), 2)
      << run.result.err;
}

TEST(MeshMpiTest, RankOnAnotherMeshFailsOnEveryRankNamingTheRank) {
  const Launch run = launch(8, "othermesh", "T3K");
  EXPECT_NE(run.result.exit_code, 0);
  EXPECT_EQ(
      count(run.result.err,
            "[all_gather_shards] rank 1 gathers a tensor on mesh 2x4, rank 0 one on mesh 1x8"),
      8)
      << run.result.err;
}

TEST(MeshMpiTest, RankThatDiesMidCollectiveEndsTheJob) {
  const Launch run = launch(8, "die", "T3K", "TTT_MESH_TIMEOUT_SECONDS=3");
  EXPECT_NE(run.result.exit_code, 0);
  EXPECT_THAT(run.result.out, Not(HasSubstr("die ok")));
  EXPECT_LT(run.seconds, 30) << run.result.err;
}

TEST(MeshMpiTest, RankThatNeverJoinsTimesOutAndAbortsEveryRank) {
  const Launch run = launch(8, "stall", "T3K", "TTT_MESH_TIMEOUT_SECONDS=3");
  EXPECT_NE(run.result.exit_code, 0);
  EXPECT_THAT(run.result.err,
              HasSubstr("all_gather_shards of a tensor on mesh T3K (exchanging shard shapes) "
                        "timed out after 3 s waiting for the other ranks "
                        "(TTT_MESH_TIMEOUT_SECONDS); aborting every rank"));
  // The first rank to time out aborts the others, which may die before they print: at least one
  // rank other than the sleeping one names itself.
  EXPECT_THAT(run.result.err, ContainsRegex("\\[mpi_transport\\] rank [02-7] of 8: "));
  EXPECT_THAT(run.result.out, Not(HasSubstr("stall ok")));
  // Rank 1 sleeps 60 s: ending well before means the abort ended it too.
  EXPECT_GE(run.seconds, 3);
  EXPECT_LT(run.seconds, 30) << run.result.err;
}

TEST(MeshMpiTest, BadTimeoutVariableIsAnErrorNamingIt) {
  const Launch run = launch(2, "gather", "N300", "TTT_MESH_TIMEOUT_SECONDS=soon");
  EXPECT_NE(run.result.exit_code, 0);
  EXPECT_EQ(count(run.result.err,
                  "[mpi_transport] TTT_MESH_TIMEOUT_SECONDS is 'soon': expected "
                  "a positive number of seconds"),
            2)
      << run.result.err;
}

}  // namespace
}  // namespace ttt
