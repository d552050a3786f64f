#include "validation/mesh/mpi/mpi_transport.h"

#include <mpi.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace ttt {
namespace {

constexpr const char* kTimeoutVariable = "TTT_MESH_TIMEOUT_SECONDS";
constexpr double kDefaultTimeoutSeconds = 60;
// A week: longer is a typo, and a deadline that far away overflows nothing but helps no one.
constexpr double kMaxTimeoutSeconds = 7 * 24 * 3600;

// TTT_MESH_TIMEOUT_SECONDS, or the default when it is unset.
double timeout_seconds_from_environment() {
  const char* text = std::getenv(kTimeoutVariable);
  if (text == nullptr) return kDefaultTimeoutSeconds;
  const std::string_view value(text);
  double seconds = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (value.empty() || error != std::errc() || end != value.data() + value.size() ||
      !std::isfinite(seconds) || seconds <= 0 || seconds > kMaxTimeoutSeconds) {
    throw std::invalid_argument("[mpi_transport] " + std::string(kTimeoutVariable) + " is '" +
                                std::string(value) +
                                "': expected a positive number of seconds, at most 604800 "
                                "(unset: 60)");
  }
  return seconds;
}

// What every rank tells the others before any tensor data moves. Gathering these first turns a
// problem of one rank (no shard, another shape or mesh) into the same error on every rank,
// instead of one rank leaving the collective while the others wait for it.
struct ShardHeader {
  std::int32_t mesh_rows = 0;
  std::int32_t mesh_cols = 0;
  std::int32_t has_shard = 0;  // 0 when the rank's MeshTensor lacks the shard of its device.
  std::int32_t dtype = 0;
  std::int32_t tensor_rank = 0;
  std::int64_t dims[kMaxRank] = {};
};

ShardHeader header_of(const MeshTensor& tensor, int device) {
  ShardHeader header;
  header.mesh_rows = tensor.mesh.rows;
  header.mesh_cols = tensor.mesh.cols;
  if (static_cast<int>(tensor.shards.size()) != tensor.mesh.size() ||
      !tensor.shards[device].defined()) {
    return header;
  }
  const Tensor& shard = tensor.shards[device];
  header.has_shard = 1;
  header.dtype = static_cast<std::int32_t>(shard.dtype());
  header.tensor_rank = shard.rank();
  std::copy(shard.shape().begin(), shard.shape().end(), header.dims);
  return header;
}

Shape shape_of(const ShardHeader& header) {
  return Shape(header.dims, header.dims + header.tensor_rank);
}

std::string describe_shard(const ShardHeader& header) {
  return "shape " + shape_to_string(shape_of(header)) + " and dtype " +
         std::string(dtype_name(static_cast<DType>(header.dtype)));
}

class MpiTransport final : public MeshTransport {
 public:
  // A communicator of our own: its error handler and its messages never meet the program's.
  // Duplicating is a collective too, so it waits against the same deadline.
  explicit MpiTransport(double timeout_seconds) : timeout_(timeout_seconds) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    const char* what = "make_mpi_transport (duplicating MPI_COMM_WORLD)";
    MPI_Request request = MPI_REQUEST_NULL;
    check(MPI_Comm_idup(MPI_COMM_WORLD, &comm_, &request), "MPI_Comm_idup", what);
    wait(request, what);
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler", what);
  }

  std::string name() const override { return "mpi"; }

  bool holds(const Mesh& mesh, int device) const override {
    if (mesh.size() != size_) {
      throw std::invalid_argument(
          "[mpi_transport] mesh " + mesh_name(mesh) + " has " + std::to_string(mesh.size()) +
          " devices but the MPI launch has " + std::to_string(size_) +
          " ranks (one rank per device: mpirun -n " + std::to_string(mesh.size()) + ")");
    }
    return device == rank_;
  }

  std::vector<Tensor> all_gather_shards(const MeshTensor& tensor) const override {
    // MPI_THREAD_SERIALIZED: one collective at a time per process.
    const std::lock_guard<std::mutex> lock(mutex_);
    holds(tensor.mesh, rank_);
    const std::vector<ShardHeader> headers = exchange_headers(tensor);
    check_headers(headers);

    const ShardHeader& header = headers[0];
    const Tensor& own = tensor.shards[rank_];
    const std::size_t shard_bytes = own.nbytes();
    if (shard_bytes > static_cast<std::size_t>(INT_MAX)) {
      throw std::invalid_argument(
          "[all_gather_shards] the shards of this " + mesh_name(tensor.mesh) + " tensor have " +
          std::to_string(shard_bytes) + " bytes; the MPI transport moves at most 2 GiB per shard");
    }
    std::vector<unsigned char> received(shard_bytes * static_cast<std::size_t>(size_));
    MPI_Request request = MPI_REQUEST_NULL;
    const int count = static_cast<int>(shard_bytes);
    const std::string what = collective(tensor.mesh);
    check(MPI_Iallgather(own.bytes(), count, MPI_BYTE, received.data(), count, MPI_BYTE, comm_,
                         &request),
          "MPI_Iallgather", what);
    wait(request, what);

    std::vector<Tensor> shards;
    shards.reserve(static_cast<std::size_t>(size_));
    for (int rank = 0; rank < size_; ++rank) {
      Tensor shard(shape_of(header), static_cast<DType>(header.dtype));
      std::memcpy(shard.mutable_bytes(), received.data() + shard_bytes * rank, shard_bytes);
      shards.push_back(std::move(shard));
    }
    return shards;
  }

 private:
  std::vector<ShardHeader> exchange_headers(const MeshTensor& tensor) const {
    const ShardHeader own = header_of(tensor, rank_);
    std::vector<ShardHeader> headers(static_cast<std::size_t>(size_));
    MPI_Request request = MPI_REQUEST_NULL;
    const std::string what = collective(tensor.mesh) + " (exchanging shard shapes)";
    check(MPI_Iallgather(&own, sizeof(ShardHeader), MPI_BYTE, headers.data(), sizeof(ShardHeader),
                         MPI_BYTE, comm_, &request),
          "MPI_Iallgather", what);
    wait(request, what);
    return headers;
  }

  static std::string collective(const Mesh& mesh) {
    return "all_gather_shards of a tensor on mesh " + mesh_name(mesh);
  }

  // Every rank runs this on the same headers, so every rank throws the same error.
  void check_headers(const std::vector<ShardHeader>& headers) const {
    const ShardHeader& first = headers[0];
    for (int rank = 0; rank < size_; ++rank) {
      const ShardHeader& header = headers[rank];
      const std::string who = "[all_gather_shards] rank " + std::to_string(rank);
      if (header.mesh_rows != first.mesh_rows || header.mesh_cols != first.mesh_cols) {
        throw std::invalid_argument(
            who + " gathers a tensor on mesh " + std::to_string(header.mesh_rows) + "x" +
            std::to_string(header.mesh_cols) + ", rank 0 one on mesh " +
            std::to_string(first.mesh_rows) + "x" + std::to_string(first.mesh_cols));
      }
      if (header.has_shard == 0) {
        throw std::invalid_argument(who + " holds no shard for its device " + std::to_string(rank) +
                                    " (rank d holds device d)");
      }
      if (header.dtype != first.dtype ||
          !std::equal(header.dims, header.dims + kMaxRank, first.dims) ||
          header.tensor_rank != first.tensor_rank) {
        throw std::invalid_argument(who + " holds a shard of " + describe_shard(header) +
                                    ", rank 0 one of " + describe_shard(first) +
                                    ": every device's shard must have one shape and dtype");
      }
    }
  }

  // Polls `request` until it completes or the deadline passes. Sleeping between polls leaves
  // the cores to the other ranks (tests oversubscribe 8 ranks on 2 cores).
  void wait(MPI_Request& request, const std::string& what) const {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(timeout_));
    auto pause = std::chrono::microseconds(1);
    for (;;) {
      int done = 0;
      check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test", what);
      if (done != 0) return;
      if (std::chrono::steady_clock::now() >= deadline) {
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%g", timeout_);
        abort_job(what + " timed out after " + seconds + " s waiting for the other ranks (" +
                  kTimeoutVariable + ")");
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(1000));
    }
  }

  // MPI_ERRORS_RETURN is set on comm_, so a failing peer comes back here as a code.
  void check(int code, const char* call, const std::string& what) const {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    abort_job(what + " failed in " + call + ": " +
              std::string(text, static_cast<std::size_t>(length)));
  }

  // A collective that did not complete leaves this rank's peers inside it: the only way out that
  // never hangs is to end the whole job.
  [[noreturn]] void abort_job(const std::string& what) const {
    std::fprintf(stderr, "ttt: error: [mpi_transport] rank %d of %d: %s; aborting every rank\n",
                 rank_, size_, what.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 2);
    std::abort();  // MPI_Abort does not return; this keeps [[noreturn]] honest if it did.
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 0;
  double timeout_;
  mutable std::mutex mutex_;
};

void finalize_mpi() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized == 0) MPI_Finalize();
}

std::shared_ptr<const MeshTransport> create_mpi_transport() {
  const double timeout_seconds = timeout_seconds_from_environment();
  int initialized = 0;
  MPI_Initialized(&initialized);
  // A program that initialised MPI itself also finalises it.
  if (initialized == 0) {
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
      throw std::runtime_error("[mpi_transport] MPI_Init_thread failed");
    }
    std::atexit(finalize_mpi);
    if (provided < MPI_THREAD_SERIALIZED) {
      throw std::runtime_error(
          "[mpi_transport] this MPI library does not allow MPI calls from more than one thread "
          "(MPI_THREAD_SERIALIZED)");
    }
  }
  return std::make_shared<MpiTransport>(timeout_seconds);
}

}  // namespace

std::shared_ptr<const MeshTransport> make_mpi_transport() {
  static const std::shared_ptr<const MeshTransport> transport = create_mpi_transport();
  return transport;
}

bool launched_under_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr;
}

}  // namespace ttt
