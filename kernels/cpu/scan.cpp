// The cpu kernels of the scan family.  Being written: issue 8.
#include "scan.h"
