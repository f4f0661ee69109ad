"""Generate the embedded synthetic SAR data set: python scripts/make_synthetic.py [--root data/synthetic]

Defaults (scene size, looks, seed, scenes per split) are those of
:class:`sarcomp.data.synthetic.SyntheticConfig`. Existing files are kept unless ``--overwrite``, but
only when they hold what the generator writes for these settings: a file that differs stops the
command with a message (regenerate it with ``--overwrite``). ``<root>/SHA256SUMS`` lists the SHA-256
of every scene (``sha256sum -c SHA256SUMS`` checks them; run folders and metrics record the same hashes).
Each scene gets its ground truth beside it (``scene_XXXX.targets.json``: the point targets), and with
``--reflectivity [SPLIT ...]`` (default ``test``) the noise-free reflectivity of those splits in
``<split>/reflectivity/``; ``<root>/TRUTH.SHA256SUMS`` lists them (:mod:`sarcomp.data.truth`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from sarcomp.cli import run_cli
from sarcomp.data.identity import file_sha256
from sarcomp.data.synthetic import SyntheticConfig, generate_dataset, scene_path
from sarcomp.data.truth import write_sums, write_truth
from sarcomp.fileio import atomic_write_text


def main(argv: Sequence[str] | None = None) -> int:
    d = SyntheticConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="data/synthetic", help="output directory")
    p.add_argument("--size", type=int, default=d.size, help="scene side in pixels")
    p.add_argument("--train", type=int, default=d.train)
    p.add_argument("--val", type=int, default=d.val)
    p.add_argument("--test", type=int, default=d.test)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--looks", type=int, nargs="+", default=list(d.looks), help="looks to draw from")
    p.add_argument("--overwrite", action="store_true", help="regenerate existing files")
    p.add_argument(
        "--reflectivity",
        nargs="*",
        metavar="SPLIT",
        default=None,
        help="also write the noise-free reflectivity of these splits (the flag alone: test)",
    )
    a = p.parse_args(argv)
    cfg = SyntheticConfig(a.size, tuple(a.looks), a.seed, a.train, a.val, a.test)

    def report(path: Path, meta: dict) -> None:
        print(f"wrote {path}  size={meta['size']} looks={meta['looks']} seed={meta['seed']}", flush=True)

    t0 = time.perf_counter()
    written = run_cli(
        generate_dataset, a.root, cfg.counts, cfg.size, cfg.looks, cfg.seed, a.overwrite, report
    )
    total = sum(cfg.counts.values())
    root = Path(a.root)
    files = [scene_path(root, split, i) for split, n in cfg.counts.items() for i in range(n)]
    sums = "".join(f"{file_sha256(f)}  {f.relative_to(root).as_posix()}\n" for f in files)
    if files:
        atomic_write_text(root / "SHA256SUMS", sums)
    splits = ["test"] if a.reflectivity == [] else (a.reflectivity or [])
    truth, truth_files = run_cli(
        write_truth, root, cfg.counts, cfg.size, cfg.looks, cfg.seed, splits, a.overwrite
    )
    if truth_files:
        write_sums(root, truth_files)
    print(
        f"synthetic data in {a.root}: {len(written)} written, {total - len(written)} kept "
        f"({total} scenes; {len(truth)} of {len(truth_files)} ground-truth files written; "
        f"{time.perf_counter() - t0:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
