"""Write the golden bitstreams: python scripts/make_golden.py [--out tests/golden] [--add | --overwrite]

Small ``.sarc`` files (one per entropy model, one per shipped RD curve, one version-1 file), the
checksums of their decoded integers (``golden.json``) and their decoded pixels (``<name>.npz``);
see :mod:`sarcomp.codec.golden`. Existing golden files are never replaced without ``--overwrite``:
a golden file that changes means files written before decode differently (a new ``.sarc``
version), not a test to update. ``--add`` writes only the cases the record does not hold yet (a
new entropy model or shipped curve) and leaves the others as they are.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sarcomp.cli import run_cli
from sarcomp.codec.golden import make_golden

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=GOLDEN, help=f"folder (default {GOLDEN})")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--overwrite", action="store_true", help="replace existing golden files")
    which.add_argument("--add", action="store_true", help="write only the cases not recorded yet")
    a = p.parse_args(argv)
    for path in run_cli(make_golden, a.out, a.overwrite, a.add):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
