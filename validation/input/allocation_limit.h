// One limit on how many bytes a size declared by input (a tensor shape in an HDF5 or .npy file, a
// generator node, a suite case's shapes and Spec) may make the process allocate at once. Without
// it, a 1 KB file declaring a shape of 2^31 elements commits gigabytes before any value is read,
// and the failure says only std::bad_alloc. Readers check a declared size with check_allocation
// before allocating, naming the file and field; the Tensor constructor checks every tensor as a
// last line of defence.
#pragma once

#include <cstdint>
#include <string>

namespace ttt {

// The limit in bytes. Default: the smaller of 16 GiB and half the machine's physical memory.
// The environment variable TTT_MAX_ALLOC_BYTES overrides the default (a byte count, optionally
// with a K, M, G or T suffix meaning KiB, MiB, GiB, TiB: "64G"); set_allocation_limit overrides
// both. Throws std::invalid_argument when TTT_MAX_ALLOC_BYTES is not a positive byte count.
std::uint64_t allocation_limit();

// Sets the limit for this process (tests, embedding applications). 0 restores the default.
void set_allocation_limit(std::uint64_t bytes);

// Throws std::invalid_argument "<what> needs 8.0 GiB (8589934592 bytes), more than the allocation
// limit of 4.0 GiB (TTT_MAX_ALLOC_BYTES)" when `bytes` exceeds allocation_limit(). `what` names
// the file and the field: "weights.h5: /calls/000001/inputs/x: shape [2147483648] of float32".
void check_allocation(std::uint64_t bytes, const std::string& what);

// Bytes of `elements` values of `element_size` bytes each, saturating at UINT64_MAX instead of
// wrapping (a declared shape may be large enough to overflow the product).
std::uint64_t bytes_of(std::uint64_t elements, std::uint64_t element_size);

// "8.0 GiB", "512 bytes": a byte count for messages.
std::string format_bytes(std::uint64_t bytes);

}  // namespace ttt
