"""Philox4x32-10 in vectorised NumPy, and the conversions of Note [Random numbers] (tensorswitch/dispatch/registry.py).

Every tensorswitch device draws the same numbers for the same seed, so this follows the Note bit for bit.  The 32-bit
words live in uint64 arrays: the product of two 32-bit values fits in 64 bits exactly, so ``mulhilo`` is one
multiply, a shift and a mask, with no overflow anywhere.
"""

import numpy as np

__all__ = ["philox4x32_10", "uniform", "normal", "integers"]

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)   # Random123's multipliers
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)   # Random123's key increments (Weyl sequence)
_LOW32 = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)
_MASK64 = 0xFFFFFFFFFFFFFFFF


def philox4x32_10(seed, offset, n):
    """The four output words (x0, x1, x2, x3), each a uint64 array of 32-bit values, for elements 0..n-1.

    Element ``i`` has key (seed low, seed high) and counter (i low, i high, offset low, offset high).
    """
    i = np.arange(n, dtype=np.uint64)
    c0, c1 = i & _LOW32, i >> _32
    c2 = np.full(n, offset & 0xFFFFFFFF, dtype=np.uint64)
    c3 = np.full(n, (offset >> 32) & 0xFFFFFFFF, dtype=np.uint64)
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64((seed >> 32) & 0xFFFFFFFF)
    for round_ in range(10):
        if round_:  # the key is bumped between rounds, not before the first
            k0 = (k0 + _W0) & _LOW32
            k1 = (k1 + _W1) & _LOW32
        p0 = c0 * _M0   # hi:lo of M0 * c0
        p1 = c2 * _M1   # hi:lo of M1 * c2
        c0, c1, c2, c3 = (p1 >> _32) ^ c1 ^ k0, p1 & _LOW32, (p0 >> _32) ^ c3 ^ k1, p0 & _LOW32
    return c0, c1, c2, c3


def uniform(dtype, n, seed, offset):
    """``rand``: values in [0, 1) built from the top bits of x0 (and x1 for float64), exact in ``dtype``."""
    x0, x1, _, _ = philox4x32_10(seed, offset, n)
    if dtype == np.float64:
        bits53 = ((x0 >> np.uint64(5)) << np.uint64(26)) | (x1 >> np.uint64(6))
        return bits53.astype(np.float64) * 2.0 ** -53
    if dtype == np.float16:  # 11 bits: the largest value, 1 - 2**-11, is still below 1 in float16
        return ((x0 >> np.uint64(21)).astype(np.float64) * 2.0 ** -11).astype(np.float16)
    return ((x0 >> np.uint64(8)).astype(np.float64) * 2.0 ** -24).astype(dtype)


def normal(dtype, n, seed, offset):
    """``randn``: Box-Muller on (x0, x1) in float64, then cast to ``dtype``."""
    x0, x1, _, _ = philox4x32_10(seed, offset, n)
    u1 = (x0.astype(np.float64) + 1.0) * 2.0 ** -32   # in (0, 1]: log(u1) is finite
    u2 = x1.astype(np.float64) * 2.0 ** -32
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(dtype)


def integers(dtype, n, seed, offset, low, high):
    """``randint``: low + (((x1 << 32) | x0) % (high - low)) in unsigned 64-bit arithmetic, then cast to ``dtype``."""
    x0, x1, _, _ = philox4x32_10(seed, offset, n)
    bits = (x1 << _32) | x0
    span = (high - low) & _MASK64
    # span is 0 only for the full 64-bit range [-2**63, 2**63), where every 64-bit pattern is already in range
    drawn = bits % np.uint64(span) if span else bits
    values = np.uint64(low & _MASK64) + drawn   # wraps modulo 2**64, as in C
    return values.view(np.int64).astype(dtype)
