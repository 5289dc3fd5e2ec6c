// The cpu kernels of the linalg family (kernels/cpu/linalg.cpp).  Being written: issue 8.
#pragma once
