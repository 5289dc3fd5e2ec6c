// The cpu kernels of the sort family.  Being written: issue 8.
#include "sort.h"
