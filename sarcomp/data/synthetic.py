"""Synthetic SAR scene generator: the embedded default data set of sarcomp.

Each scene is a square, single-band float32 GeoTIFF of *linear intensity*
(σ0-like power, not dB), built in three stages:

1. A noise-free reflectivity ``R`` (:func:`sarcomp.data.terrain.generate_reflectivity`): a land-cover
   map (rectangular field parcels in two orientation zones, forest stands, an
   urban block grid, lakes and ponds, a meandering river, roads), per-class mean
   backscatter in dB, large-scale trends (terrain slope towards the sensor,
   incidence-angle ramp, soil moisture), hedgerows/ditches on field edges,
   spatially correlated Gamma texture (K-distributed clutter) and bright point
   targets (buildings, farmsteads, pylons, ships) blurred by a SAR impulse
   response with sidelobes.
2. Multiplicative Gamma speckle with ``L`` looks (:func:`sarcomp.data.speckle.apply_speckle`):
   ``I = R * n`` with ``n ~ Gamma(shape=L, scale=1/L)`` (mean 1, variance 1/L).
3. GeoTIFF writing (:func:`sarcomp.data.synthetic_tiff.write_scene`) with a UTM CRS, 10 m pixels and a
   distinct origin per scene; the number of looks is stored in the tag ``LOOKS``.

:func:`generate_dataset` writes ``<root>/{train,val,test}/scene_XXXX.tif`` and is
idempotent (existing files are kept unless ``overwrite``, and checked against a fresh
generation: a file that differs is an error, not silently kept).  Every scene has its
own seed derived from ``(seed, split, index)``, so splits never share scenes.

Command line: ``scripts/make_synthetic.py`` (``make data``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sarcomp.data.speckle import SPECKLE_CORRELATION, apply_speckle
from sarcomp.data.synthetic_tiff import write_scene
from sarcomp.data.terrain import CLASS_NAMES, generate_layers
from sarcomp.errors import SarcompError

__all__ = [
    "SyntheticConfig",
    "generate_dataset",
    "generate_scene",
    "scene_looks",
    "scene_path",
    "scene_seed",
]

_SPLIT_OFFSETS = {"train": 0, "val": 1_000, "test": 2_000}  # global scene index bases


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the synthetic data set (what the CLI exposes)."""

    size: int = 512  # square scene side in pixels
    looks: tuple[int, ...] = (1, 4)  # each scene draws one of these
    seed: int = 0
    train: int = 16
    val: int = 4
    test: int = 4

    @property
    def counts(self) -> dict[str, int]:
        """Scenes per split, as accepted by :func:`generate_dataset`."""
        return {"train": self.train, "val": self.val, "test": self.test}


def generate_scene(
    size: int,
    looks: int,
    seed: int,
    speckle_correlation: float = SPECKLE_CORRELATION,
    record: dict | None = None,
) -> tuple[np.ndarray, dict]:
    """Speckled intensity scene (float32, (size, size)) and its metadata.

    ``speckle_correlation`` (px, see :func:`apply_speckle`) defaults to a value
    matching the lag-1 intensity correlation (~0.5) of Sentinel-1 GRD data.
    The reflectivity and the speckle use independent streams spawned from
    ``seed``, so a given seed yields the same underlying scene for any ``looks``.
    ``record`` (ground truth, :mod:`sarcomp.data.truth`) receives the targets (see
    :func:`~sarcomp.data.terrain.generate_layers`), the ``reflectivity`` and the class map ``classes``.
    """
    ss_refl, ss_speckle = np.random.SeedSequence(int(seed)).spawn(2)
    refl, cls, ntarget = generate_layers(np.random.default_rng(ss_refl), int(size), record)
    if record is not None:
        record.update(reflectivity=refl, classes=cls)
    intensity = apply_speckle(np.random.default_rng(ss_speckle), refl, int(looks), speckle_correlation)
    counts = np.bincount(cls.ravel(), minlength=len(CLASS_NAMES)) / cls.size
    meta: dict = {
        "looks": int(looks),
        "seed": int(seed),
        "size": int(size),
        "speckle_correlation": float(speckle_correlation),
        "targets": ntarget,
    }
    meta.update({f"frac_{name}": round(float(f), 4) for name, f in zip(CLASS_NAMES, counts)})
    return intensity, meta


def scene_seed(seed: int, split: str, index: int) -> int:
    """Deterministic per-scene seed from ``(seed, split, index)``."""
    ss = np.random.SeedSequence([int(seed), zlib.crc32(split.encode()), int(index)])
    return int(ss.generate_state(1, np.uint32)[0])


def generate_dataset(
    root: str | Path,
    counts: Mapping[str, int] | None = None,
    size: int = SyntheticConfig.size,
    looks: Sequence[int] = SyntheticConfig.looks,
    seed: int = SyntheticConfig.seed,
    overwrite: bool = False,
    progress: Callable[[Path, dict], None] | None = None,
) -> list[Path]:
    """Write ``<root>/<split>/scene_XXXX.tif`` for each split in ``counts``.

    ``counts`` and the other defaults are :class:`SyntheticConfig`'s.
    Existing files are kept unless ``overwrite``, but only if they hold what
    the generator writes for this seed (pixels and LOOKS/SEED tags, compared
    with a fresh generation): otherwise SarcompError lists them (regenerate
    with ``overwrite``).  Returns the paths written by this call (empty when
    everything was already there).  A training scene draws its number of
    looks from ``looks`` with its own seed; val/test scenes cycle through
    ``looks`` by index, so those splits hold every number of looks.
    ``progress`` is called with ``(path, meta)`` after each write.
    """
    root = Path(root)
    counts = SyntheticConfig().counts if counts is None else counts
    looks = tuple(int(v) for v in looks)
    if not looks:
        raise ValueError("looks must not be empty")
    written: list[Path] = []
    differing: list[str] = []
    for split, n in counts.items():
        offset = _SPLIT_OFFSETS.get(split, 3_000 + zlib.crc32(split.encode()) % 97 * 1_000)
        for i in range(int(n)):
            path = scene_path(root, split, i)
            s = scene_seed(seed, split, i)
            intensity, meta = generate_scene(size, scene_looks(looks, split, i, s), s)
            meta["split"] = split
            if path.exists() and not overwrite:
                reason = _differs(path, intensity, meta)
                if reason:
                    differing.append(f"{path} ({reason})")
                continue
            write_scene(path, intensity, meta, offset + i)
            written.append(path)
            if progress is not None:
                progress(path, meta)
    if differing:
        more = f" and {len(differing) - 3} more" if len(differing) > 3 else ""
        raise SarcompError(
            f"{root}: {len(differing)} existing file(s) differ from what the generator writes for "
            f"seed={seed}, size={size}, looks={list(looks)}: {'; '.join(differing[:3])}{more}; "
            "regenerate them with --overwrite (generate_dataset(..., overwrite=True)) or use another root"
        )
    return written


def scene_path(root: str | Path, split: str, index: int) -> Path:
    """Where :func:`generate_dataset` writes scene ``index`` of ``split``."""
    return Path(root) / split / f"scene_{index:04d}.tif"


def scene_looks(looks: Sequence[int], split: str, index: int, seed: int) -> int:
    """Looks of one scene: val/test cycle through ``looks`` by index (both 1- and 4-look scenes
    are evaluated); training scenes draw one with the scene's own seed."""
    if split in ("val", "test"):
        return int(looks[index % len(looks)])
    return int(looks[int(np.random.default_rng([seed, 1]).integers(len(looks)))])


def _differs(path: Path, intensity: np.ndarray, meta: dict) -> str | None:
    """Why the file at ``path`` is not the scene just generated (None when it is)."""
    import rasterio

    try:
        with rasterio.open(path) as ds:
            tags = ds.tags()
            if ds.count != 1 or (ds.height, ds.width) != intensity.shape:
                return f"{ds.count}x{ds.height}x{ds.width} instead of 1x{intensity.shape[0]}x{intensity.shape[1]}"
            data = ds.read(1)
    except rasterio.errors.RasterioError as exc:
        return f"unreadable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    for key in ("seed", "looks"):
        if tags.get(key.upper()) != str(meta[key]):
            return f"{key.upper()} tag {tags.get(key.upper())} instead of {meta[key]}"
    if not np.array_equal(data, intensity):
        return "pixel values differ"
    return None
