"""What the dB clip range costs on real SAR: the fraction of clipped pixels and the PSNR of a
clip-only round trip (no coding at all), per scene of a folder and per clip rule.

For a scene with level L (dB, or raw values for units=db) and clip range [lo, hi]:
  unit u = (L − lo) / (hi − lo)  (unclipped), û = clip(u, 0, 1)
  PSNR_clip = 10·log10(1 / mean((u − û)²))   over valid pixels: the ceiling that clipping alone puts
  on any codec's PSNR in the model's representation (peak = hi − lo, the same scale as PSNR on [0, 1]);
  RMSE_dB = (hi − lo)·sqrt(mean((u − û)²)).
8-bit display renderings (units=display8) have no dB scale and are skipped. Files matching
``--iq`` globs hold I and Q as two real bands (read as bands 1, 2 with iq=true, to intensity).

    python experiments/clip_cost.py ../shared/sar --iq '*slc_cargo*' [--out experiments/results/clip_cost.json]
"""

from __future__ import annotations

import argparse
import math
from fnmatch import fnmatch
from pathlib import Path

import numpy as np

from sarcomp.data.loaders import band_spec
from sarcomp.data.rasters import list_rasters, open_raster, read_window
from sarcomp.data.representation import Representation
from sarcomp.data.tiles import Scene
from sarcomp.fileio import write_json

RULES: dict[str, dict] = {
    "fixed [-30, 10] dB": {"db_range": (-30.0, 10.0)},
    "percentiles [1, 99]": {"percentiles": (1.0, 99.0)},
    "percentiles [0.5, 99.5]": {"percentiles": (0.5, 99.5)},
    "percentiles [0.1, 99.9]": {"percentiles": (0.1, 99.9)},
}
SPEC = {"bands": [1], "iq": False, "complex_to": "intensity"}
IQ_SPEC = {"bands": [1, 2], "iq": True, "complex_to": "intensity"}


def scene_cost(path: Path, rule: dict, iq: bool = False) -> dict | None:
    """Clip statistics of one scene under one rule (None for display8 scenes)."""
    rep = Representation(units="auto", **({"db_range": None} | rule))
    scene = Scene.load(path, band_spec(IQ_SPEC if iq else SPEC), rep)
    if scene.representation.units == "display8":
        return None
    with open_raster(path) as ds:
        values, valid = read_window(ds, scene.spec)
    level = scene.representation.to_level(values[valid])
    lo, hi = scene.scaling.lo, scene.scaling.hi
    u = (level - lo) / (hi - lo)
    err = u - np.clip(u, 0.0, 1.0)
    mse = float(np.mean(err**2))
    return {
        "scene": path.name,
        "units": scene.representation.units,
        "lo": lo,
        "hi": hi,
        "clipped_low": float(np.mean(u < 0)),
        "clipped_high": float(np.mean(u > 1)),
        "psnr_clip": math.inf if mse == 0 else 10 * math.log10(1 / mse),
        "rmse_db": (hi - lo) * math.sqrt(mse),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--out", type=Path, default=None, help="JSON with every row")
    p.add_argument(
        "--iq", nargs="*", default=[], help="file-name globs of I/Q files stored as two real bands"
    )
    a = p.parse_args()
    rows = []
    for rule, kw in RULES.items():
        for path in list_rasters(a.folder):
            row = scene_cost(path, kw, iq=any(fnmatch(path.name, g) for g in a.iq))
            if row is not None:
                rows.append({"rule": rule, **row})
    print(
        "| rule | scene | units | clip range | clipped low % | clipped high % | PSNR clip-only (dB) | RMSE (dB) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['rule']} | {r['scene']} | {r['units']} | [{r['lo']:.1f}, {r['hi']:.1f}] | "
            f"{100 * r['clipped_low']:.2f} | {100 * r['clipped_high']:.2f} | {r['psnr_clip']:.1f} | {r['rmse_db']:.2f} |"
        )
    print("\nmedian over scenes:")
    for rule in RULES:
        sel = [r for r in rows if r["rule"] == rule]
        clipped = np.median([r["clipped_low"] + r["clipped_high"] for r in sel])
        psnr = np.median([r["psnr_clip"] for r in sel])
        print(f"  {rule}: clipped {100 * clipped:.2f} %, PSNR clip-only {psnr:.1f} dB ({len(sel)} scenes)")
    if a.out:
        write_json(a.out, {"folder": str(a.folder), "rows": rows})


if __name__ == "__main__":
    main()
