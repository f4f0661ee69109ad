"""The floor study's data sets, coding and per-rate comparison (``experiments/rd_floor.py``).

Data sets (each a list of GeoTIFFs the codecs read as ``sarcomp compress`` would):

- ``flat-white`` / ``flat-corr``: one-look speckle on a flat 0 dB reflectivity, white or with the
  generator's Sentinel-1-like correlation (:data:`~sarcomp.data.speckle.SPECKLE_CORRELATION`),
  coded in the synthetic data's fixed [−30, 10] dB range.
- ``synth-corr``: the recipe's synthetic test scenes as written (correlated speckle, 1 and 4
  looks); ``synth-white``: the same reflectivity and looks with white speckle (same generator),
  for which :class:`~sarcomp.analysis.floor.SpeckleFloor` is a bound.
- ``real`` / ``real-ml4``: real scenes none of the coded models trained or validated on (by path
  and SHA-256, as the zoo report drops them: with the default ``../shared/sar`` and the shipped
  ``baseline-ms-s8`` models, the six development files), as is and 2×2 boxcar-averaged in linear
  intensity (same pixel count), 1–99 % scaling.

Every codec's rate is the real encoded bytes (learned: the ``.sarc`` container; JPEG 2000: the
codestream); MSE on the [0, 1] image over valid pixels, pooled over a data set's scenes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from sarcomp.analysis.bootstrap import SceneRD, bootstrap
from sarcomp.analysis.stats import bd
from sarcomp.codec.classic import JPEG2000
from sarcomp.codec.container import ModelId
from sarcomp.codec.scene import code_scene
from sarcomp.data.loaders import load_split
from sarcomp.data.rasters import BandSpec, open_raster, read_window
from sarcomp.data.representation import Representation
from sarcomp.data.speckle import SPECKLE_CORRELATION, apply_speckle
from sarcomp.data.synthetic import generate_scene, scene_looks, scene_seed
from sarcomp.data.synthetic_tiff import write_scene
from sarcomp.data.tiles import Scene, stitch_scene
from sarcomp.errors import SarcompError
from sarcomp.evaluation.pretrained import unused_scenes
from sarcomp.models.zoo import entry

FIXED = Representation()  # the synthetic data's [-30, 10] dB range
PERCENTILES = Representation(units="intensity", db_range=None, percentiles=(1.0, 99.0))
J2K_GRID = (0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)  # nominal bpp
RATES = (0.25, 0.5, 1.0, 2.0)


@dataclass
class DataSet:
    """Scenes of one data set, with what the floor needs to know about them."""

    name: str
    scenes: list[Scene]
    levels_db: list[np.ndarray] = field(default_factory=list)  # reflectivity (white synthetic)
    looks: list[int] = field(default_factory=list)
    units: list[np.ndarray] = field(default_factory=list)  # [0, 1] images (flat: PSD)


def flat_sets(folder: Path, size: int, count: int, seed: int) -> list[DataSet]:
    """White and correlated one-look speckle on a flat 0 dB scene, ``count`` realisations each."""
    out = []
    for name, corr in (("flat-white", 0.0), ("flat-corr", SPECKLE_CORRELATION)):
        ds = DataSet(name, [])
        for i in range(count):
            rng = np.random.default_rng([seed, i, int(corr > 0)])
            intensity = apply_speckle(rng, np.ones((size, size), np.float32), 1, corr)
            path = folder / name / f"flat_{i}.tif"
            write_scene(path, intensity, {"looks": 1}, i)
            ds.scenes.append(Scene.load(path, BandSpec(), FIXED))
            ds.levels_db.append(np.zeros((size, size)))
            ds.looks.append(1)
            ds.units.append(FIXED.to_unit(intensity, ds.scenes[-1].scaling))
        out.append(ds)
    return out


def synthetic_sets(folder: Path, recipe: Path, count: int, size: int) -> list[DataSet]:
    """The recipe's synthetic test scenes (as written) and their white-speckle twins."""
    corr, white = DataSet("synth-corr", []), DataSet("synth-white", [])
    for i in range(count):
        seed = scene_seed(0, "test", i)
        looks = scene_looks((1, 4), "test", i, seed)
        record: dict = {}
        intensity, meta = generate_scene(size, looks, seed, speckle_correlation=0.0, record=record)
        path = folder / "synth-white" / f"scene_{i:04d}.tif"
        write_scene(path, intensity, meta, i)
        white.scenes.append(Scene.load(path, BandSpec(), FIXED))
        white.levels_db.append(10 * np.log10(np.maximum(record["reflectivity"], 1e-30)))
        white.looks.append(looks)
        corr.scenes.append(Scene.load(recipe / "test" / f"scene_{i:04d}.tif", BandSpec(), FIXED))
    return [white, corr]


def real_sets(folder: Path, root: Path, band_specs: Path, models: Sequence[str]) -> list[DataSet]:
    """The real scenes of ``root`` that no shipped model of ``models`` trained or validated on
    (1–99 % per-scene scaling) and their 2×2 boxcar multilook (of those with a linear intensity)."""
    cfg = {
        "root": str(root),
        "bands": [1],
        "iq": False,
        "complex_to": "intensity",
        "band_specs": str(band_specs),
        "exclude": [],
        "representation": {"units": "auto", "db_range": None, "percentiles": [1.0, 99.0], "floor_db": -60.0},
    }
    scenes = load_split(cfg, "test")
    for name in models:
        scenes = unused_scenes(entry(name), scenes)
    if not scenes:
        raise SarcompError(
            f"{root}: every real scene was used in training or validation by {', '.join(models)}"
        )
    real, ml = DataSet("real", scenes), DataSet("real-ml4", [])
    for i, scene in enumerate(real.scenes):
        with open_raster(scene.path) as src:
            values, valid = read_window(src, scene.spec)
        intensity = scene.representation.to_intensity(np.where(valid, values, np.nan))
        if intensity is None:  # 8-bit display renderings have no linear intensity to average
            continue
        averaged = ndimage.uniform_filter(np.nan_to_num(intensity), 2, mode="nearest")
        path = folder / "real-ml4" / f"{scene.path.stem}.tif"
        write_scene(path, averaged.astype(np.float32), {"source": scene.path.name}, i)
        ml.scenes.append(Scene.load(path, BandSpec(), PERCENTILES))
    return [real, ml]


@dataclass
class Coded:
    """RD points of one codec on one data set: ``bits``, ``sq_err`` [scenes, points]; ``pixels``."""

    bits: np.ndarray
    sq_err: np.ndarray
    pixels: np.ndarray
    valid: np.ndarray

    def pooled(self) -> tuple[np.ndarray, np.ndarray]:
        """(bpp, MSE) per point, pooled over scenes (total bits / pixels, total error / valid)."""
        return self.bits.sum(0) / self.pixels.sum(), self.sq_err.sum(0) / self.valid.sum()

    def scene_rd(self) -> SceneRD:
        return SceneRD(
            self.bits / self.pixels[:, None], self.sq_err / self.valid[:, None], self.pixels, self.valid
        )


def code_learned(models: Sequence[tuple[str, torch.nn.Module]], scenes: Sequence[Scene], tile: int) -> Coded:
    """Each model codes each scene through the real container."""
    bits, err, pixels, valid = [], [], [], []
    for scene in scenes:
        row_b, row_e = [], []
        for name, model in models:
            c = code_scene(model, scene, ModelId.named(name), tile)
            row_b.append(8.0 * len(c.container))
            row_e.append(float(((c.ref - np.clip(c.rec, 0.0, 1.0))[c.valid].astype(np.float64) ** 2).sum()))
        bits.append(row_b), err.append(row_e)
        pixels.append(c.ref.size), valid.append(int(c.valid.sum()))
    return Coded(np.array(bits), np.array(err), np.array(pixels, float), np.array(valid, float))


def code_j2k(scenes: Sequence[Scene], tile: int, grid: Sequence[float] = J2K_GRID) -> Coded:
    """JPEG 2000 (16-bit) codes each whole scene at each nominal rate of ``grid``."""
    codec = JPEG2000(bits=16)
    bits, err, pixels, valid = [], [], [], []
    for scene in scenes:
        image = stitch_scene(scene, tile)
        ref = image.ref.astype(np.float64)
        row_b, row_e = [], []
        for nominal in grid:
            r = codec.run(ref, min(max(16.0 / nominal, 1.0), 2000.0))
            row_b.append(8.0 * r.num_bytes)
            row_e.append(float(((ref - r.recon)[image.valid] ** 2).sum()))
        bits.append(row_b), err.append(row_e)
        pixels.append(ref.size), valid.append(int(image.valid.sum()))
    return Coded(np.array(bits), np.array(err), np.array(pixels, float), np.array(valid, float))


def psnr(mse: np.ndarray | float) -> np.ndarray:
    return -10.0 * np.log10(mse)


def psnr_at(curve: tuple[np.ndarray, np.ndarray], rate: float) -> float:
    """PSNR at ``rate``: measured points joined in (log rate, PSNR); NaN outside them."""
    bpp, mse = curve
    order = np.argsort(bpp)
    x, y = np.log(bpp[order]), psnr(mse[order])
    return float(np.interp(math.log(rate), x, y)) if x[0] <= math.log(rate) <= x[-1] else math.nan


def rate_at(curve: tuple[np.ndarray, np.ndarray], quality: float) -> float:
    """Rate at PSNR ``quality`` (log rate joined linearly over PSNR); NaN outside the points."""
    bpp, mse = curve
    q = psnr(mse)
    order = np.argsort(q)
    q, x = q[order], np.log(bpp[order])
    return float(np.exp(np.interp(quality, q, x))) if q[0] <= quality <= q[-1] else math.nan


def floor_psnr(lower: Callable[[float], float], rate: float) -> float:
    """The highest PSNR the lower bound allows at ``rate`` (bisection on log MSE)."""
    lo, hi = -14.0, 0.0  # log10 MSE
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if lower(10**mid) > rate:
            lo = mid
        else:
            hi = mid
    return float(-10 * hi)


def per_rate(
    anchor: tuple[np.ndarray, np.ndarray],
    learned: tuple[np.ndarray, np.ndarray],
    lower: Callable[[float], float],
    upper: Callable[[float], float] | None = None,
    rates: Sequence[float] = RATES,
) -> list[dict[str, float]]:
    """At each rate: each codec's distance from the floor, and the saving against JPEG 2000 the
    floor leaves possible at JPEG 2000's quality (no code saves more); with ``upper`` (an
    achievable rate: the Gaussian bound of a stationary source), a saving some code reaches."""
    rows = []
    for r in rates:
        pj, pm = psnr_at(anchor, r), psnr_at(learned, r)
        row = {"bpp": r, "psnr_j2k": pj, "psnr_learned": pm, "psnr_floor": floor_psnr(lower, r)}
        for key, p in (("j2k", pj), ("learned", pm)):
            floor_rate = lower(10 ** (-p / 10)) if math.isfinite(p) else math.nan
            row[f"excess_{key}_pct"] = 100 * (r / floor_rate - 1) if floor_rate > 0 else math.nan
        if math.isfinite(pj):
            row["best_saving_pct"] = 100 * (lower(10 ** (-pj / 10)) / r - 1)
            row["learned_saving_pct"] = 100 * (rate_at(learned, pj) / r - 1)
            if upper is not None:
                row["achievable_saving_pct"] = 100 * (upper(10 ** (-pj / 10)) / r - 1)
        rows.append(row)
    return rows


def bd_table(anchor: Coded, test: Coded, window: tuple[float, float], replicates: int) -> dict:
    """BD-rate of ``test`` against ``anchor`` (cubic and pchip, pooled curves) and, with several
    scenes, the bootstrap interval over scenes (pixel-weighted)."""
    out = {}
    for method in ("cubic", "pchip"):
        a, t = anchor.pooled(), test.pooled()
        fit = bd((list(a[0]), list(psnr(a[1]))), (list(t[0]), list(psnr(t[1]))), method, window)
        entry = {"bd_rate": fit.get("bd_rate"), "na": fit.get("na") or fit.get("bd_rate_na")}
        if len(anchor.pixels) > 2 and replicates:
            boot = bootstrap(
                [anchor.scene_rd()], [test.scene_rd()], "bd_rate", method, "pixel", window, replicates
            )
            entry.update(low=boot["low"], high=boot["high"], replicates=replicates, na_draws=boot["na"])
        out[method] = entry
    return out
