// Being written in this session.
#include "validation/tensor/dtype.h"
