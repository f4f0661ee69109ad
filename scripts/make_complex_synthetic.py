"""Generate synthetic SLC scenes and interferometric pairs: python scripts/make_complex_synthetic.py

Writes ``<root>/{train,val,test}/slc_XXXX.tif`` (complex64, the training data of
``data=complex_synthetic``) and ``<root>/pairs/pair_XXXX_{1,2}.tif`` with their ground truth in
``<root>/pairs/truth/pair_XXXX_{phase,coherence}.tif`` (float32: unwrapped interferometric phase in
radians, coherence), from :mod:`sarcomp.data.complex_synthetic`. Deterministic per ``--seed``;
existing files are kept only when they hold what the generator writes (else the command stops:
``--overwrite`` regenerates). ``<root>/SHA256SUMS`` lists every file's SHA-256.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from sarcomp.cli import run_cli
from sarcomp.config import project_root
from sarcomp.data.complex_synthetic import generate_complex_dataset
from sarcomp.data.identity import file_sha256
from sarcomp.fileio import atomic_write_text


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=project_root() / "data" / "complex_synthetic")
    p.add_argument("--size", type=int, default=512, help="scene side in pixels")
    p.add_argument("--train", type=int, default=16)
    p.add_argument("--val", type=int, default=4)
    p.add_argument("--test", type=int, default=4)
    p.add_argument("--pairs", type=int, default=3, help="interferometric pairs (patterns cycle)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="regenerate existing files")
    a = p.parse_args(argv)
    start = time.perf_counter()
    counts = {"train": a.train, "val": a.val, "test": a.test}
    written = run_cli(generate_complex_dataset, a.root, counts, a.pairs, a.size, a.seed, a.overwrite)
    files = sorted(f for f in a.root.rglob("*.tif") if not f.name.startswith("."))
    sums = "".join(f"{file_sha256(f)}  {f.relative_to(a.root).as_posix()}\n" for f in files)
    atomic_write_text(a.root / "SHA256SUMS", sums)
    print(
        f"complex synthetic data in {a.root}: {len(written)} file(s) written, {len(files) - len(written)} kept "
        f"({sum(counts.values())} SLC scenes, {a.pairs} pairs, {time.perf_counter() - start:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
