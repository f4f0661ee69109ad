"""Where the floor is (issue 26, step 3): speckle coded by the shipped codecs and JPEG 2000 against
rate bounds from the generator's own speckle model.

    OMP_NUM_THREADS=1 python experiments/rd_floor.py [--out experiments/results/rd_floor]
    python experiments/rd_floor.py --report   # report.md and rd.png again from floor.json

Data sets: flat one-look speckle (white and Sentinel-1-like correlated), the recipe's synthetic
test scenes (as written, and with white speckle), the protocol's real test crops (as is and 2×2
multilooked). Bounds and derivation: sarcomp/analysis/floor.py; data and coding:
sarcomp/analysis/floor_study.py; report: sarcomp/analysis/floor_report.py.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch

from sarcomp.analysis.floor_report import Settings, default_models, run, write
from sarcomp.config import project_root


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=None, help="shipped models (default: baseline-ms-s8 per-λ)")
    p.add_argument("--size", type=int, default=512, help="side of the flat and synthetic scenes")
    p.add_argument("--flat", type=int, default=2, help="flat-speckle realisations per kind")
    p.add_argument("--synthetic", type=int, default=8, help="synthetic test scenes (0: none)")
    p.add_argument("--recipe", default="data/synthetic_recipe", help="the recipe's synthetic data")
    p.add_argument(
        "--real", default="../shared/sar", help="real rasters; those the models saw are dropped ('': none)"
    )
    p.add_argument("--band-specs", default="configs/bands/shared_sar.yaml")
    p.add_argument("--tile", type=int, default=128)
    p.add_argument("--replicates", type=int, default=500, help="bootstrap replicates")
    p.add_argument("--j2k", type=float, nargs="+", default=None, help="JPEG 2000 nominal bpp grid")
    p.add_argument("--out", default="experiments/results/rd_floor")
    p.add_argument("--report", action="store_true", help="only rebuild the report from <out>/floor.json")
    a = p.parse_args()
    if a.report:
        result = json.loads((Path(a.out) / "floor.json").read_text())
        for path in write(result, Path(a.out), result.get("command", "python experiments/rd_floor.py")):
            print(f"wrote {path}")
        return
    torch.set_num_threads(1)
    root = project_root()
    settings = Settings(
        models=tuple(a.models) if a.models else default_models(),
        size=a.size,
        flat_count=a.flat,
        synthetic=a.synthetic,
        recipe=root / a.recipe if a.synthetic else None,
        real_root=root / a.real if a.real else None,
        band_specs=root / a.band_specs,
        tile=a.tile,
        replicates=a.replicates,
        **({"j2k_grid": tuple(a.j2k)} if a.j2k else {}),
    )
    command = "python experiments/rd_floor.py " + shlex.join(sys.argv[1:])
    for path in write(run(settings), Path(a.out), command.strip()):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
