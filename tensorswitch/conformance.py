"""``python -m tensorswitch.conformance --device DEVICE``: see tensorswitch/testing/conformance.py."""

from .testing.conformance import main

if __name__ == "__main__":
    raise SystemExit(main())
