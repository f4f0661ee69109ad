"""Which per-scene clip range should ``sarcomp compress`` use by default? Code each file through a
real ``.sarc`` file under each rule and compare the decoded scene with the source in the dB domain.

For each file and rule: ``compress_file`` (``--range``: scene percentiles [p, 100 − p], or the
model's training range), ``decompress_file``, then over the source's valid pixels
  RMSE_dB = sqrt(mean((L_src − L_dec)²)),  L = the level in dB (10·log10 I, 20·log10 A, or the dB value)
  PSNR_dB = 20·log10(span / RMSE_dB),       span = max − min of L_src (fixed per file, so every rule
                                             of one file is scored on the same scale)
with the shares of valid pixels clipped at each end and the file's bpp.

    python experiments/range_rule.py ../shared/sar/esar_lband_hv_intensity_urban.tif ... \
        --model baseline-ms-s8-l01 --band-specs configs/bands/shared_sar.yaml [--out results.json]
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import numpy as np

from sarcomp.codec.decompressor import decompress_file
from sarcomp.codec.scaling import RangeRule
from sarcomp.codec.scene import compress_file
from sarcomp.data.bandspecs import file_settings, load_band_specs
from sarcomp.data.rasters import BandSpec, open_raster, read_window
from sarcomp.data.representation import Representation
from sarcomp.data.tiles import Scene
from sarcomp.fileio import write_json

RULES = ("1,99", "0.5,99.5", "0.1,99.9", "0,100", "model")


def rule_of(text: str) -> RangeRule:
    """``model``, or ``p,q``: the scene's percentiles (p, q)."""
    if text == "model":
        return RangeRule("model")
    lo, hi = (float(v) for v in text.split(","))
    return RangeRule("scene", percentiles=(lo, hi))


def levels(path: Path, spec: BandSpec, rep: Representation) -> tuple[np.ndarray, np.ndarray]:
    """The level in dB of every pixel of ``path`` read with ``spec`` and its validity."""
    with open_raster(path) as ds:
        values, valid = read_window(ds, spec)
    return rep.to_level(np.where(valid, values, 1.0)), valid


def measure(path: Path, model: str, rule: str, specs, workdir: Path, tile: int) -> dict:
    name = f"{path.stem}_{rule.replace(',', '_')}"
    sarc, out = workdir / f"{name}.sarc", workdir / f"{name}.tif"
    enc = compress_file(
        path, sarc, model, tile=tile, device="cpu", progress=False, band_specs=specs,
        range_rule=rule_of(rule),
    )  # fmt: skip
    decompress_file(sarc, out, device="cpu", progress=False)
    spec, rep = file_settings(path, load_band_specs(specs), BandSpec(), Representation(units="auto"))
    scene = Scene.load(path, spec, rep)
    src, valid = levels(path, scene.spec, scene.representation)
    dec, _ = levels(out, BandSpec(), scene.representation)
    rmse = float(np.sqrt(np.mean((src[valid] - dec[valid]) ** 2)))
    span = float(src[valid].max() - src[valid].min())
    return {
        "file": path.name,
        "rule": rule,
        "range": enc["range"],
        "clipped_low": enc["clipped_low"],
        "clipped_high": enc["clipped_high"],
        "bpp": enc["bpp"],
        "rmse_db": rmse,
        "psnr_db": 20 * math.log10(span / rmse),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--model", required=True)
    p.add_argument("--band-specs", required=True)
    p.add_argument("--rules", nargs="+", default=list(RULES), help="p,q (scene percentiles) or model")
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--out", type=Path, default=None, help="JSON with every row")
    a = p.parse_args()
    rows = []
    print("| file | rule | range | clipped low % | clipped high % | bpp | RMSE (dB) | PSNR (dB) |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for path in a.files:
            for rule in a.rules:
                r = measure(path, a.model, rule, a.band_specs, Path(tmp), a.tile)
                rows.append(r)
                print(
                    f"| {r['file']} | {rule} | {r['range']} | {100 * r['clipped_low']:.2f} | "
                    f"{100 * r['clipped_high']:.2f} | {r['bpp']:.3f} | {r['rmse_db']:.3f} | {r['psnr_db']:.2f} |"
                )
    for rule in a.rules:
        mine = [r for r in rows if r["rule"] == rule]
        print(
            f"| mean | {rule} | | {100 * np.mean([r['clipped_low'] for r in mine]):.2f} | "
            f"{100 * np.mean([r['clipped_high'] for r in mine]):.2f} | {np.mean([r['bpp'] for r in mine]):.3f} | "
            f"{np.mean([r['rmse_db'] for r in mine]):.3f} | {np.mean([r['psnr_db'] for r in mine]):.2f} |"
        )
    if a.out:
        write_json(a.out, {"model": a.model, "rows": rows})


if __name__ == "__main__":
    main()
