// Raw HDF5 writes for the tests that break a trace file on purpose: they go around our trace
// writer, so the reader is checked against files it did not write. A test including this links
// hdf5::hdf5.
#pragma once

#include <hdf5.h>

namespace ttt::test_support {

// Sets the variable-length string attribute `name` of `object` to `value`, replacing an attribute
// of that name (whatever its type).
inline void set_string_attribute(hid_t object, const char* name, const char* value) {
  if (H5Aexists(object, name) > 0) H5Adelete(object, name);
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t attribute = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attribute, type, &value);
  H5Aclose(attribute);
  H5Sclose(space);
  H5Tclose(type);
}

}  // namespace ttt::test_support
