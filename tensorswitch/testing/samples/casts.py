"""Samples of astype: every pair of supported dtypes, and the values where casts go wrong (NaN, infinities and
out-of-range floats to integers, single rounding to float16 and from large integers)."""

import numpy as np

from .. import reference
from . import core
from .core import _call, _cast, specials, values


def cast_edges(src):
    """Values of float dtype ``src`` where casts go wrong: NaN, infinities, huge values, the edges of every integer
    dtype (2**31, -2**31, 2**63, ...), values that round near them, and halfway cases of float16."""
    raw = [np.nan, np.inf, -np.inf, 1e10, -1e10, -1.38e16, 2.0 ** 31, -2.0 ** 31, 2.0 ** 31 - 1, -2.0 ** 31 - 1,
           2.0 ** 63, -2.0 ** 63, 2.0 ** 64, 2.0 ** 32, 300.7, -300.7, 127.9, -128.9, 128.0, 255.9, 256.0, -0.9, 0.9,
           -1.5, 65535.9, 65536.0, 32767.9, -32768.9, 32768.0, 2.5, -0.0,
           # the unsigned targets' edges (uint16, uint32, uint64): around 2**32, 2**63 and 2**64, below -2**63
           70000.3, 2.0 ** 32 - 1, 4294967296.5, 2.0 ** 32 + 5, 1.5 * 2.0 ** 63, 2.0 ** 64 - 2048, 2.0 ** 65,
           -2.0 ** 63 - 4096, -3e9]
    return _cast(np.array(raw), src)


def float16_rounding_edges(src):
    """Values of ``src`` (float32 or float64) whose rounding to float16 must be single, directly from ``src``:
    rounding through float32 first would get some wrong (65519.999 gives 65504, not inf)."""
    h = 2.0 ** -11  # half an ulp of float16 at 1
    raw = [65519.999, 65520.0, 65504.0, 65505.0, -65519.999, 1 + h + 2.0 ** -30, 1 + h, 1 + 3 * h, 1 + h - 2.0 ** -30,
           2.0 ** -25, 2.0 ** -25 + 2.0 ** -40, 2.0 ** -24, 3 * 2.0 ** -25, 6.1e-5, 1e-8, -1e-8, 2049.0, 2051.0,
           1e5, -1e5, 0.1, 1 / 3]
    return _cast(np.array(raw), src)


def int_to_float_edges(src):
    """Values of integer dtype ``src`` whose conversion to float32 or float16 must round once (2**53 + 2**29 + 1 to
    float32 through float64 rounds twice)."""
    info = np.iinfo(src)
    raw = [info.min, info.max, 0, 1, -1, 2049, 2051, 65504, 65519, 65520, -65520, 2 ** 24 + 1, 2 ** 24 + 3,
           2 ** 31 - 1, -2 ** 31, 2 ** 53 + 2 ** 29 + 1, -(2 ** 53 + 2 ** 29 + 1), 2 ** 62 + 2 ** 38 + 1, 2 ** 40,
           2 ** 32 - 1, 2 ** 63 + 2 ** 39 + 1, 2 ** 63 + 2 ** 10 + 1, 2 ** 64 - 1]
    return np.array([v for v in raw if info.min <= v <= info.max], dtype=src)


def astype_samples(op, dtype, device, rng):
    src = np.dtype(dtype)
    targets = sorted(device.supported_dtypes(), key=lambda d: d.code)

    def cast(dst):
        return lambda t: t.astype(dst)

    for dst in targets:
        dst_np = dst.numpy
        if src.kind == "c" and dst_np.kind in "iub":  # the real part converts; bool is "either part nonzero"
            x = values(src, (5, 6), rng, 0 if dst_np.kind == "u" else -100, 100)
            x = core.complex_parts(np.round(x.real, 1), np.where(np.arange(30).reshape(5, 6) % 3 == 0, 0, x.imag),
                                   src)
            x.flat[0], x.flat[1] = 0, 1j
        elif src.kind == "f" and dst_np.kind in "iub":
            x = np.round(values(src, (5, 6), rng, 0 if dst_np.kind == "u" else -100, 100), 1).astype(src)
            x.flat[0] = 0
        elif src.kind in "iu" and dst_np == np.float16:
            x = values(src, (5, 6), rng, 0 if src.kind == "u" else -100, 100)
        else:
            x = values(src, (5, 6), rng)
        for layout in ("contiguous", "transposed"):
            yield _call(f"astype({src} -> {dst.name}, {layout})", cast(dst), device, [(x, layout)],
                        reference.astype(x, dst_np))
        if dst_np == src and src.kind != "c":  # a copy of a transpose large enough for blocked kernels, edges partial
            t = values(src, (12, 17), rng)
            yield _call(f"astype({src} -> {dst.name}) of a transposed (12, 17)", cast(dst), device,
                        [(t, "transposed")], reference.astype(t, dst_np))
        if src.kind == "f" and dst_np.kind in "iub":
            # Note [Float to integer casts]: NumPy's answer on x86-64 for NaN, infinities and out-of-range values
            x = cast_edges(src)
            yield _call(f"astype({src} -> {dst.name}) of NaN, inf, huge and integer-edge values", cast(dst), device,
                        [(x, "contiguous")], reference.astype(x, dst_np))
        if src in (np.float32, np.float64) and dst_np == np.float16:
            x = float16_rounding_edges(src)
            yield _call(f"astype({src} -> float16) rounds once (65519.999 -> 65504, halfway cases)", cast(dst),
                        device, [(x, "contiguous")], reference.astype(x, dst_np))
        if src.kind in "iu" and dst_np.kind == "f":
            x = int_to_float_edges(src)
            yield _call(f"astype({src} -> {dst.name}) of large integers rounds once", cast(dst), device,
                        [(x, "contiguous")], reference.astype(x, dst_np))
    if src.kind == "c":
        # the real part's own cast edges, with imaginary parts that must not matter (but for bool)
        edges = cast_edges(np.finfo(src).dtype)
        x = core.complex_parts(edges, np.resize(np.array([0.0, -0.0, 1.0, np.nan, np.inf], edges.dtype), edges.size),
                               src)
        for dst in targets:
            yield _call(f"astype({src} -> {dst.name}) of NaN, inf, huge and integer-edge real parts", cast(dst),
                        device, [(x, "contiguous")], reference.astype(x, dst.numpy))
        x = specials(src)
        for dst in [d for d in targets if d.kind in ("float", "complex")]:
            yield _call(f"astype(complex specials -> {dst.name})", cast(dst), device, [(x, "contiguous")],
                        reference.astype(x, dst.numpy))
    if src.kind == "f":
        x = specials(src)
        for dst in [d for d in targets if d.kind in ("float", "complex")]:
            yield _call(f"astype(specials -> {dst.name})", cast(dst), device, [(x, "contiguous")],
                        reference.astype(x, dst.numpy))
