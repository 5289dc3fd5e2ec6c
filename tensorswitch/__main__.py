"""``python -m tensorswitch <command>``: ``info`` (this installation, for bug reports), ``warmup`` (compile every
kernel ahead of use), ``conformance`` (the conformance suite on a device), ``demo`` (the CNN on every device)."""

import sys

COMMANDS = {"info": "tensorswitch.diagnostics", "warmup": "tensorswitch.warmup", "conformance": "tensorswitch.testing.conformance",
            "demo": "tensorswitch.demo"}


def main(argv=None):
    import importlib

    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        print(f"usage: python -m tensorswitch {{{','.join(COMMANDS)}}} [options]",
              file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(COMMANDS[argv[0]])
    sys.argv = [f"python -m tensorswitch {argv[0]}"] + argv[1:]
    result = module.main(argv[1:]) if "argv" in module.main.__code__.co_varnames else module.main()
    return result or 0


if __name__ == "__main__":
    sys.exit(main())
