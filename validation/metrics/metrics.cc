// Being written in this session.
#include "validation/metrics/metrics.h"
