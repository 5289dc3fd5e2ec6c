"""Keep pytest from warning about scikit-build-core's editable finder (run by ``make`` after ``pip install -e``).

pytest marks every top-level module of a distribution that registers a ``pytest11`` plugin (tensorswitch does, for
``pytest --pyargs tensorswitch.testing``) for assertion rewriting.  An editable install's finder module,
``_editable_skbc_tensorswitch``, is imported by its ``.pth`` file at interpreter start, so pytest then warns
"Module already imported so cannot be rewritten" in every run.  pytest skips setuptools' ``__editable__*`` finders
but not scikit-build-core's (scikit-build/scikit-build-core#1327, pending a pytest change).  A regular install has no
finder and no warning.  Until pytest knows the name, drop the finder from the distribution's file list (RECORD):
pytest no longer sees it, and nothing else reads that line except ``pip uninstall``, which then leaves the small
finder module behind (its ``.pth`` is still removed, so it is never imported again).
"""

import sys
from importlib import metadata


def main():
    try:
        dist = metadata.distribution("tensorswitch")
    except metadata.PackageNotFoundError:
        return 0
    record = next((f for f in dist.files or () if f.name == "RECORD"), None)
    if record is None:
        return 0
    path = record.locate()
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith("_editable_skbc_tensorswitch.py,")]
    if len(kept) != len(lines):
        path.write_text("".join(kept))
    return 0


if __name__ == "__main__":
    sys.exit(main())
