"""How many latent values per pixel a codec needs on real SAR: a linear (Karhunen-Loève) bound.

Every B x B block of the training-side real scenes of a data config is projected on its K leading
principal components (fitted on those same blocks) and back, unquantised: the PSNR of that round trip
is what a *linear* transform keeping K / B² values per pixel reaches at infinite rate. Speckle is
close to white noise, so the curve rises slowly; a learned codec is non-linear and quantised, but a
latent of M channels at stride s keeps M / s² values per pixel and tops out near the same place.
Only scenes the models train on are read (``data=shared_sar_mix``: its real source, held-back
scenes excluded), so the figure cannot steer a design by the reported scenes.

    python experiments/latent_bound.py [--out experiments/results/latent_bound.json]
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from sarcomp.bench.settings import compose_experiment
from sarcomp.data.loaders import load_split
from sarcomp.data.mix import source_configs
from sarcomp.data.tiles import stitch_scene
from sarcomp.fileio import write_json

BLOCK = 16
VALUES_PER_PIXEL = (0.25, 0.375, 0.5, 0.625, 0.75, 0.875)  # 1.0 keeps every component: lossless


def blocks(image: np.ndarray, size: int) -> np.ndarray:
    """Non-overlapping ``size`` x ``size`` blocks of ``image`` as rows."""
    h, w = image.shape[0] // size * size, image.shape[1] // size * size
    return (
        image[:h, :w].reshape(h // size, size, w // size, size).transpose(0, 2, 1, 3).reshape(-1, size * size)
    )


def klt_psnr(rows: np.ndarray, keep: int) -> float:
    """PSNR ([0, 1] peak) of projecting ``rows`` on their ``keep`` leading principal components."""
    centred = rows - rows.mean(0)
    _, vectors = np.linalg.eigh(np.cov(centred.T))
    basis = vectors[:, ::-1][:, :keep]
    mse = float(np.mean((centred @ basis @ basis.T - centred) ** 2))
    return 10 * math.log10(1 / mse)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="shared_sar_mix", help="data config whose real source is read")
    p.add_argument("--out", default="experiments/results/latent_bound.json")
    a = p.parse_args()
    cfg = compose_experiment("recipe_cpu", (f"data={a.data}",))
    real = source_configs(cfg.data)[-1][0]
    scenes = [s for split in ("train", "val") for s in load_split(real, split)]
    rows = np.concatenate([blocks(stitch_scene(s, cfg.data.tile_size).ref, BLOCK) for s in scenes])
    bound = {str(v): round(klt_psnr(rows, int(v * BLOCK * BLOCK)), 2) for v in VALUES_PER_PIXEL}
    for v, psnr in bound.items():
        print(f"{v} values/pixel: {psnr:.2f} dB")
    write_json(
        a.out,
        {"block": BLOCK, "scenes": sorted(s.path.name for s in scenes), "psnr_by_values_per_pixel": bound},
    )


if __name__ == "__main__":
    main()
