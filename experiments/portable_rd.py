"""What portable coding (.sarc version 2: integer h_s, deterministic tables) costs in rate-distortion:
each shipped model of a curve codes the same scenes through the real container twice, by the float
path (version 1) and by the portable one (version 2); bpp and PSNR per path, BD-rate between the
two curves (sarcomp.analysis.stats.bd, the float path as anchor).

    python experiments/portable_rd.py [--root ../shared/sar] [--tile 128] [--curves baseline-ms-s8 ...]
        [--out experiments/results/portable_rd.md]

Scenes as scripts/zoo_report.py takes them (data=geotiff, band specs, 1-99 % per-scene scaling;
scenes a model trained or validated on are dropped): on ../shared/sar these are the six held-back
files, development data (experiments/PROTOCOL.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir

from sarcomp.analysis.stats import bd
from sarcomp.codec.container import ModelId
from sarcomp.codec.scene import code_scene
from sarcomp.config import CONFIG_DIR, project_root, register_resolvers
from sarcomp.data.loaders import load_split
from sarcomp.evaluation.pretrained import unused_scenes
from sarcomp.fileio import atomic_write_text
from sarcomp.metrics.scene import image_metrics
from sarcomp.models.portable import FloatPath
from sarcomp.models.zoo import curve_of, entry, load_pretrained, shipped_names


def data_config(root: str, tile: int):
    register_resolvers()
    overrides = [
        "data=geotiff",
        f"data.root={root}",
        "data.band_specs=configs/bands/shared_sar.yaml",
        f"data.tile_size={tile}",
        f"data.stride={tile}",
    ]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="eval", overrides=overrides).data


def point(model, scenes, identity: ModelId, tile: int, lmbda: float | None) -> dict[str, float]:
    """Mean bpp and PSNR over the scenes (as scripts/evaluate.py averages them)."""
    bpp, psnr = [], []
    for scene in scenes:
        coded = code_scene(model, scene, identity, tile, lmbda=lmbda)
        h, w = scene.info.height, scene.info.width
        bpp.append(8 * len(coded.container) / (h * w))
        psnr.append(image_metrics(coded.ref, coded.rec, coded.valid)["psnr"])
    return {"bpp": float(np.mean(bpp)), "psnr": float(np.mean(psnr))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="../shared/sar", help="folder of rasters (relative: to the checkout)")
    p.add_argument("--tile", type=int, default=128)
    p.add_argument("--curves", nargs="+", default=["baseline-ms-s8", "baseline-ms-vr-s8"])
    p.add_argument("--out", default="experiments/results/portable_rd.md")
    a = p.parse_args()
    torch.set_num_threads(1)
    all_scenes = load_split(data_config(str(project_root() / a.root), a.tile), "test")
    rows, curves = [], {}
    for name in shipped_names(complex=False):
        item = entry(name)
        if curve_of(item) not in a.curves:
            continue
        scenes = unused_scenes(item, all_scenes)
        _, model = load_pretrained(name)
        for lmbda in item["config"]["model"].get("lmbdas") or [None]:
            if lmbda is not None:
                model.set_lmbda(lmbda)
            at = None if lmbda is None else float(lmbda)
            identity = ModelId.named(name)
            old = point(FloatPath(model), scenes, identity, a.tile, at)
            new = point(model, scenes, identity, a.tile, at)
            row = {"curve": curve_of(item), "name": name, "lmbda": lmbda or item["config"]["model"]["lmbda"]}
            rows.append({**row, "scenes": len(scenes), "float": old, "portable": new})
            print(json.dumps(rows[-1]), flush=True)
            curves.setdefault(row["curve"], []).append((old, new))
    lines = [
        "# Portable coding (.sarc version 2) against the float path (version 1)",
        "",
        f"`python experiments/portable_rd.py --root {a.root} --tile {a.tile} --curves {' '.join(a.curves)}`",
        "",
        "Each point: mean over the scenes of bpp (the `.sarc` container without georeferencing) and",
        "PSNR of the [0, 1] image; the same scenes, model and tiles for both paths.",
        "",
        "| curve | model | λ | scenes | bpp float | bpp portable | Δ bpp | PSNR float | PSNR portable | Δ PSNR |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        f, q = r["float"], r["portable"]
        lines.append(
            f"| {r['curve']} | {r['name']} | {r['lmbda']:g} | {r['scenes']} | {f['bpp']:.4f} | {q['bpp']:.4f} | "
            f"{100 * (q['bpp'] / f['bpp'] - 1):+.3f} % | {f['psnr']:.3f} | {q['psnr']:.3f} | "
            f"{q['psnr'] - f['psnr']:+.4f} dB |"
        )
    lines += ["", "| curve | BD-rate (cubic) | BD-PSNR (cubic) | BD-rate (pchip) |", "|---|---|---|---|"]
    results = {}
    for curve, points in curves.items():
        anchor = ([o["bpp"] for o, _ in points], [o["psnr"] for o, _ in points])
        test = ([n["bpp"] for _, n in points], [n["psnr"] for _, n in points])
        cubic, pchip = bd(anchor, test), bd(anchor, test, method="pchip")
        results[curve] = {"cubic": cubic, "pchip": pchip}
        rate = lambda r: f"{r['bd_rate']:+.3f} %" if "bd_rate" in r else r.get("bd_rate_na", r.get("na"))  # noqa: E731
        psnr = (
            f"{cubic['bd_psnr']:+.4f} dB" if "bd_psnr" in cubic else cubic.get("bd_psnr_na", cubic.get("na"))
        )
        lines.append(f"| {curve} | {rate(cubic)} | {psnr} | {rate(pchip)} |")
    out = Path(a.out)
    atomic_write_text(out, "\n".join(lines) + "\n")
    atomic_write_text(out.with_suffix(".json"), json.dumps({"rows": rows, "bd": results}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
