// The cpu kernels of the scan family (kernels/cpu/scan.cpp).  Being written: issue 8.
#pragma once
