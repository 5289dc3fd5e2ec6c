// The cpu kernels of the sort family (kernels/cpu/sort.cpp).  Being written: issue 8.
#pragma once
