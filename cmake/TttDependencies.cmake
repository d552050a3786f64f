# Every dependency comes from a Debian package installed by tools/setup.sh; nothing is downloaded.
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 2.1 REQUIRED)
find_package(HDF5 1.10 REQUIRED COMPONENTS C)
set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)
if(TTT_BUILD_TESTS)
  find_package(GTest 1.12 REQUIRED)
  include(GoogleTest)
endif()
if(TTT_BUILD_BENCHMARKS)
  find_package(benchmark 1.7 REQUIRED)
endif()
# Open MPI for the distributed mesh transport (validation/mesh/mpi) and its `mpi` tests. Optional:
# without it (or with -DTTT_WITH_MPI=OFF) everything else builds and the mesh runs in-process.
if(NOT DEFINED TTT_WITH_MPI OR TTT_WITH_MPI)
  find_package(MPI COMPONENTS C)
endif()
option(TTT_WITH_MPI "Build the MPI mesh transport and its tests (default: ON when MPI is found)"
       ${MPI_C_FOUND})
if(TTT_WITH_MPI AND NOT MPI_C_FOUND)
  message(FATAL_ERROR "TTT_WITH_MPI is ON but no MPI was found: install openmpi-bin and "
                      "libopenmpi-dev (tools/setup.sh) or configure with -DTTT_WITH_MPI=OFF")
endif()
