"""``python -m tensorswitch warmup [--device D ...]``: compile every kernel program ahead of its first use.

The run-time-compiling backends (opencl, cuda) build each program on first use, which costs a cold process seconds
on its first steps; their drivers' caches (PyOpenCL's, CuPy's) keep the binaries on disk, so one warmup, for example
when a container image is built, makes every later process load instead of compile.  Devices without run-time
compilation (cpu, most plugins) have nothing to build and say so.
"""

import sys
import time

__all__ = ["warmup"]


def warmup(device=None):
    """Compile every kernel program ``device`` (a device or its name; None: every usable device) can need; returns
    {device name: (programs, seconds)}.

    >>> import tensorswitch as ts
    >>> from tensorswitch.warmup import warmup
    >>> warmup("cpu")["cpu"][0]
    0
    """
    import tensorswitch as ts

    devices = ts.devices() if device is None else [ts.device(device)]
    out = {}
    for dev in devices:
        start = time.perf_counter()
        count = dev.backend.warmup(dev.index)
        out[str(dev)] = (count, time.perf_counter() - start)
    return out


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tensorswitch warmup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", action="append", help="a device (repeatable); default: every usable device")
    args = parser.parse_args(argv)
    for spec in args.device or [None]:
        for name, (count, seconds) in warmup(spec).items():
            what = f"{count} programs ready in {seconds:.1f} s" if count else "nothing to compile"
            print(f"{name}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
