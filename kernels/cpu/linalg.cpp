// The cpu kernels of the linalg family.  Being written: issue 8.
#include "linalg.h"
