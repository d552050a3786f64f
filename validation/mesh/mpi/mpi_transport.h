// The MPI mesh transport: one MPI rank per device, rank d holds device d.
//
//   mpirun -n 8 my_program          // then, in main():
//   ttt::ScopedMeshTransport use(ttt::launched_under_mpi() ? ttt::make_mpi_transport()
//                                                          : ttt::in_process_transport());
//
// Collectives move shards with non-blocking MPI all-gathers polled against a deadline: the
// environment variable TTT_MESH_TIMEOUT_SECONDS (default 60). When a peer does not answer in
// time or MPI reports an error, the rank prints which rank and which collective failed on stderr
// and calls MPI_Abort(MPI_COMM_WORLD, 2): every rank of the job exits non-zero, none hangs
// (docs/multi-device.md, "MPI"). Built only when CMake finds MPI (tttv2::mesh_mpi); mpi.h stays
// in the .cc files of this directory (tools/check_layering.sh).
#pragma once

#include <memory>

#include "validation/mesh/transport.h"

namespace ttt {

// The process's MPI transport. The first call initialises MPI (MPI_Init_thread) and arranges
// MPI_Finalize at exit; later calls return the same transport. Throws std::invalid_argument
// naming TTT_MESH_TIMEOUT_SECONDS when it is set to anything but a positive number of seconds,
// and std::runtime_error when MPI cannot be initialised.
std::shared_ptr<const MeshTransport> make_mpi_transport();

// True when this process was started by an MPI launcher (mpirun / mpiexec set OMPI_COMM_WORLD_SIZE
// or PMI_SIZE), so a program can choose the MPI transport without MPI initialised.
bool launched_under_mpi();

}  // namespace ttt
