"""Cut ../shared/sar into the attention study's spatially disjoint splits (experiments/PROTOCOL.md).

    python scripts/make_sar_splits.py                     # writes data/shared_sar_splits/{train,val,test}/
    python scripts/make_sar_splits.py --freeze            # (once, before any run) writes the manifest

Every run writes the crops and checks them against the frozen manifest
(``experiments/protocol/sar_splits.json``): a source file or rule that changed stops the command,
since results judged on the frozen test split would not carry over. The six development files
(evaluated after every earlier round, so they steered earlier choices) give no test band.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from sarcomp.cli import run_cli
from sarcomp.config import project_root
from sarcomp.data.splits import DEVELOPMENT_BANDS, HOLDOUT_BANDS, check_manifest, make_splits
from sarcomp.errors import SarcompError
from sarcomp.fileio import write_json

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "experiments" / "protocol" / "sar_splits.json"
# the held-back half of issue 10 (configs/data/shared_sar_mix.yaml), evaluated after every round
DEVELOPMENT = (
    "esar_lband_hv_intensity_urban.tif",
    "sentinel1_grd_cargo_chip_5258_y11247.tif",
    "sentinel1_grd_tanker_chip_15342_y11582.tif",
    "sentinel1_grd_vv_vh_db_spain.tif",
    "sentinel1_vh_intensity_city.tif",
    "terrasarx_display_8bit.png",
)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", type=Path, default=project_root().parent / "shared" / "sar")
    p.add_argument("--out", type=Path, default=project_root() / "data" / "shared_sar_splits")
    p.add_argument("--manifest", type=Path, default=MANIFEST)
    p.add_argument("--freeze", action="store_true", help="write the manifest (refused if it exists)")
    args = p.parse_args(argv)
    made = make_splits(args.source, args.out, DEVELOPMENT)
    payload = {
        "rule": {
            "holdout": HOLDOUT_BANDS,
            "development": DEVELOPMENT_BANDS,
            "development_files": DEVELOPMENT,
        },
        "crops": made,
    }
    if args.freeze:
        if args.manifest.exists():
            raise SarcompError(
                f"{args.manifest}: exists; the split is frozen (delete it only to start a new study)"
            )
        write_json(args.manifest, payload)
        print(f"froze {args.manifest}")
    else:
        if not args.manifest.exists():
            raise SarcompError(f"{args.manifest}: no frozen manifest; run with --freeze once, before any run")
        check_manifest(made, json.loads(args.manifest.read_text())["crops"])
    counts = {s: sum(s in v for v in made.values()) for s in ("train", "val", "test")}
    print(f"{args.out}: " + ", ".join(f"{n} {s} crops" for s, n in counts.items()) + " (match the manifest)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
