"""Synthetic single-look complex (SLC) scenes and interferometric pairs (issue 29).

An SLC scene is the sensor's impulse response applied to the scatterers' field:

    s = h ⊛ (√R · w + targets),     w ~ CN(0, 1) (circular complex Gaussian, white)

with ``R`` the noise-free reflectivity of :func:`sarcomp.data.terrain.generate_layers` (the same
land cover, texture and trends as the intensity data set), ``h`` a band-limited impulse response
whose spectrum is a Hamming window covering ``bandwidth`` of the sampled band in each axis (a
product oversampled by 1/bandwidth: neighbouring samples correlate as in real SLCs, lag-1 complex
correlation about 0.5-0.6) and a few coherent point targets (a bright deterministic scatterer, so
its sinc response and sidelobes appear, with no speckle). The filtering is circular (FFT).

An interferometric pair shares ``R`` and the targets; acquisition 2's speckle is
``γ·w1 + √(1−γ²)·n`` (``n`` independent), so the two correlate with coherence ``γ`` (a map), and it
carries the interferometric phase ``φ`` after focusing:

    s1 = h ⊛ (√R·w1 + t),   s2 = [h ⊛ (√R·w2 + t)] · exp(−jφ),   arg E[s1·s2*] = φ

``φ`` is a deformation bowl (line-of-sight subsidence, C-band), topographic fringes (a smooth DEM
over a height of ambiguity) or both; the coherence follows the land cover (water low, urban high).
Ground truth (``φ`` unwrapped in radians, ``γ``) is written beside each pair. Everything is
deterministic per seed.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from sarcomp.data.synthetic_tiff import CRS, PIXEL_SIZE_M
from sarcomp.data.terrain import CLASS_NAMES, generate_layers
from sarcomp.errors import SarcompError
from sarcomp.fileio import atomic_write

PATTERNS: tuple[str, ...] = ("bowl", "topo", "bowl+topo")
WAVELENGTH_M = 0.0555  # C-band (Sentinel-1)
MIN_FRINGE_PX = 16.0  # topographic fringes are kept at least this many pixels apart
# coherence of each land-cover class (CLASS_NAMES order: field, forest, urban, water, road)
CLASS_COHERENCE = np.array([0.65, 0.35, 0.9, 0.08, 0.8], np.float32)
_SPLIT_BASE = {"train": 0, "val": 1_000, "test": 2_000, "pairs": 3_000}


@dataclass(frozen=True)
class SLCSettings:
    """The impulse response and point targets of the simulated sensor."""

    bandwidth: float = 0.8  # processed bandwidth / sampling rate (1 / oversampling), per axis
    hamming: float = 0.7  # Hamming weighting of the spectrum (1: none)
    targets_per_256: float = 6.0  # coherent point targets per 256² pixels
    target_gain_db: tuple[float, float] = (15.0, 35.0)  # target power above the local reflectivity


def psf_transfer(n: int, bandwidth: float, hamming: float) -> np.ndarray:
    """1-D transfer function on ``np.fft.fftfreq(n)``: Hamming-weighted band of width ``bandwidth``,
    scaled to unit mean power (white input keeps its variance)."""
    if not 0 < bandwidth <= 1:
        raise ValueError(f"bandwidth must be in (0, 1], got {bandwidth}")
    f = np.fft.fftfreq(n)
    w = np.where(np.abs(f) < bandwidth / 2, hamming + (1 - hamming) * np.cos(2 * np.pi * f / bandwidth), 0.0)
    return w / np.sqrt(np.mean(w**2))


def focus(field: np.ndarray, settings: SLCSettings) -> np.ndarray:
    """Apply the separable impulse response to a complex field (circular convolution)."""
    h, w = field.shape
    transfer = np.outer(
        psf_transfer(h, settings.bandwidth, settings.hamming),
        psf_transfer(w, settings.bandwidth, settings.hamming),
    )
    return np.fft.ifft2(np.fft.fft2(field) * transfer)


def circular_gaussian(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """White circular complex Gaussian samples, E|w|² = 1."""
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * np.sqrt(0.5)


def point_targets(rng: np.random.Generator, reflectivity: np.ndarray, settings: SLCSettings) -> np.ndarray:
    """A field of isolated coherent scatterers (random phase) on a zero background."""
    size = reflectivity.shape
    count = rng.poisson(settings.targets_per_256 * reflectivity.size / 256**2)
    rows, cols = rng.integers(0, size[0], count), rng.integers(0, size[1], count)
    gain = 10 ** (rng.uniform(*settings.target_gain_db, count) / 10)
    out = np.zeros(size, np.complex128)
    out[rows, cols] = np.sqrt(reflectivity[rows, cols] * gain) * np.exp(2j * np.pi * rng.random(count))
    return out


def slc_scene(size: int, seed: int, settings: SLCSettings = SLCSettings()) -> tuple[np.ndarray, dict]:
    """One SLC scene (complex64, (size, size)) and its metadata."""
    refl, cls, _ = generate_layers(np.random.default_rng(_stream(seed, 0)), int(size))
    rng = np.random.default_rng(_stream(seed, 1))
    field = np.sqrt(refl) * circular_gaussian(rng, refl.shape) + point_targets(rng, refl, settings)
    meta = {"seed": int(seed), "size": int(size), "kind": "slc", **_settings_meta(settings)}
    return focus(field, settings).astype(np.complex64), meta


def coherence_map(rng: np.random.Generator, classes: np.ndarray) -> np.ndarray:
    """Coherence per pixel from the land-cover classes, jittered per scene and in space, in [0, 0.98]."""
    per_class = np.clip(CLASS_COHERENCE + rng.uniform(-0.08, 0.08, len(CLASS_NAMES)), 0.02, 0.95)
    wobble = ndimage.gaussian_filter(rng.standard_normal(classes.shape), classes.shape[0] / 16, mode="wrap")
    wobble *= 0.08 / (wobble.std() + 1e-12)
    gamma = ndimage.gaussian_filter(per_class[classes] + wobble, 1.5, mode="nearest")
    return np.clip(gamma, 0.0, 0.98).astype(np.float32)


def bowl_phase(
    shape: tuple[int, int], depth_m: float, sigma_px: float, centre: tuple[float, float]
) -> np.ndarray:
    """Interferometric phase (radians) of a Gaussian subsidence bowl of ``depth_m`` in the line of
    sight (C-band, :data:`WAVELENGTH_M`)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    r2 = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2
    return 4 * np.pi / WAVELENGTH_M * -depth_m * np.exp(-r2 / (2 * sigma_px**2))


def phase_pattern(rng: np.random.Generator, size: int, pattern: str) -> tuple[np.ndarray, dict]:
    """Unwrapped interferometric phase (radians, float64) of a deformation bowl, topographic fringes
    or both, and the parameters drawn."""
    if pattern not in PATTERNS:
        raise ValueError(f"unknown phase pattern {pattern!r}; valid: {', '.join(PATTERNS)}")
    phase = np.zeros((size, size))
    meta: dict = {"pattern": pattern}
    if "bowl" in pattern:
        depth, sigma = rng.uniform(0.03, 0.12), size * rng.uniform(0.1, 0.2)
        phase += bowl_phase((size, size), depth, sigma, tuple(rng.uniform(0.3, 0.7, 2) * size))
        meta |= {"bowl_depth_m": round(depth, 4), "bowl_sigma_px": round(sigma, 2)}
    if "topo" in pattern:
        dem = ndimage.gaussian_filter(rng.standard_normal((size, size)), size / 8, mode="wrap")
        dem *= rng.uniform(50.0, 200.0) / (np.ptp(dem) + 1e-12)  # relief in metres
        ambiguity = rng.uniform(30.0, 120.0)  # height of ambiguity (m per fringe)
        steepest = float(np.hypot(*np.gradient(dem)).max())  # m / px
        ambiguity = max(ambiguity, steepest * MIN_FRINGE_PX)
        phase += 2 * np.pi * dem / ambiguity
        meta |= {"relief_m": round(float(np.ptp(dem)), 2), "height_of_ambiguity_m": round(ambiguity, 2)}
    return phase, meta


def interferometric_pair(
    rng: np.random.Generator,
    reflectivity: np.ndarray,
    coherence: np.ndarray | float,
    phase: np.ndarray | float,
    settings: SLCSettings = SLCSettings(),
    targets: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Two acquisitions (complex128) with the given coherence and interferometric phase (module doc)."""
    refl = np.asarray(reflectivity, np.float64)
    gamma = np.asarray(coherence, np.float64)
    if np.any(gamma < 0) or np.any(gamma > 1):
        raise ValueError("coherence must lie in [0, 1]")
    t = np.zeros(refl.shape, np.complex128) if targets is None else targets
    w1 = circular_gaussian(rng, refl.shape)
    w2 = gamma * w1 + np.sqrt(1 - gamma**2) * circular_gaussian(rng, refl.shape)
    s1 = focus(np.sqrt(refl) * w1 + t, settings)
    s2 = focus(np.sqrt(refl) * w2 + t, settings) * np.exp(-1j * np.asarray(phase))
    return s1, s2


def pair_scene(
    size: int, seed: int, pattern: str, settings: SLCSettings = SLCSettings()
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], dict]:
    """An interferometric pair (complex64 each), its ground truth (``phase`` unwrapped radians,
    ``coherence``; float32) and metadata."""
    refl, cls, _ = generate_layers(np.random.default_rng(_stream(seed, 0)), int(size))
    rng = np.random.default_rng(_stream(seed, 2))
    gamma = coherence_map(rng, cls)
    phase, pmeta = phase_pattern(rng, int(size), pattern)
    targets = point_targets(rng, refl, settings)
    s1, s2 = interferometric_pair(rng, refl, gamma, phase, settings, targets)
    meta = {"seed": int(seed), "size": int(size), "kind": "pair", **pmeta, **_settings_meta(settings)}
    truth = {"phase": phase.astype(np.float32), "coherence": gamma}
    return s1.astype(np.complex64), s2.astype(np.complex64), truth, meta


def _stream(seed: int, which: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed), which])


def _settings_meta(settings: SLCSettings) -> dict:
    return {"bandwidth": settings.bandwidth, "hamming": settings.hamming}


# --------------------------------------------------------------------------- #
# Files
# --------------------------------------------------------------------------- #
def write_raster(path: Path, data: np.ndarray, meta: dict, index: int, description: str) -> None:
    """One-band GeoTIFF (complex64 or float32) written atomically, on its own tile of the UTM grid
    (EPSG:32633, 10 m pixels); ``meta`` items become upper-case tags."""
    import rasterio
    from rasterio.transform import Affine

    h, w = data.shape
    x0 = 300_000.0 + (index % 100) * (w * PIXEL_SIZE_M + 1000.0)
    y0 = 5_500_000.0 - (index // 100) * (h * PIXEL_SIZE_M + 1000.0)
    profile = {
        "driver": "GTiff",
        "height": h,
        "width": w,
        "count": 1,
        "dtype": data.dtype.name,
        "crs": CRS,
        "transform": Affine(PIXEL_SIZE_M, 0.0, x0, 0.0, -PIXEL_SIZE_M, y0),
        "compress": "deflate",
    }
    tags = {str(k).upper(): str(v) for k, v in meta.items()} | {"GENERATOR": __name__}

    def write(tmp: Path) -> None:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data, 1)
            dst.update_tags(**tags)
            dst.set_band_description(1, description)

    atomic_write(path, write, suffix=".tmp.tif")


def dataset_seed(seed: int, split: str, index: int) -> int:
    """Deterministic per-item seed from ``(seed, split, index)``."""
    ss = np.random.SeedSequence([int(seed), zlib.crc32(b"complex/" + split.encode()), int(index)])
    return int(ss.generate_state(1, np.uint32)[0])


def generate_complex_dataset(
    root: str | Path,
    counts: dict[str, int],
    pairs: int,
    size: int,
    seed: int = 0,
    overwrite: bool = False,
) -> list[Path]:
    """Write SLC scenes ``<root>/<split>/slc_XXXX.tif`` and interferometric pairs
    ``<root>/pairs/pair_XXXX_{1,2}.tif`` with ``<root>/pairs/truth/pair_XXXX_{phase,coherence}.tif``
    (the pairs' patterns cycle through :data:`PATTERNS`). Truth lives in a subfolder so a split
    folder lists only SLC rasters. An existing file is kept only if it holds what this call would
    write (else SarcompError; ``overwrite`` rewrites). Returns the paths written."""
    root = Path(root)
    jobs: list[tuple[Path, np.ndarray, dict, int, str]] = []
    for split, n in counts.items():
        for i in range(int(n)):
            s, meta = slc_scene(size, dataset_seed(seed, split, i))
            index = _SPLIT_BASE.get(split, 4_000) + i
            jobs.append(
                (root / split / f"slc_{i:04d}.tif", s, meta | {"split": split}, index, "SLC (I + jQ)")
            )
    for i in range(int(pairs)):
        s1, s2, truth, meta = pair_scene(size, dataset_seed(seed, "pairs", i), PATTERNS[i % len(PATTERNS)])
        base, index = root / "pairs", _SPLIT_BASE["pairs"] + i
        jobs += [
            (base / f"pair_{i:04d}_1.tif", s1, meta | {"acquisition": 1}, index, "SLC (I + jQ)"),
            (base / f"pair_{i:04d}_2.tif", s2, meta | {"acquisition": 2}, index, "SLC (I + jQ)"),
            (
                base / "truth" / f"pair_{i:04d}_phase.tif",
                truth["phase"],
                meta,
                index,
                "phase (rad, unwrapped)",
            ),
            (base / "truth" / f"pair_{i:04d}_coherence.tif", truth["coherence"], meta, index, "coherence"),
        ]
    written, differing = [], []
    for path, data, meta, index, description in jobs:
        if path.exists() and not overwrite:
            if not _same_pixels(path, data):
                differing.append(str(path))
            continue
        write_raster(path, data, meta, index, description)
        written.append(path)
    if differing:
        raise SarcompError(
            f"{root}: {len(differing)} existing file(s) differ from what the generator writes for "
            f"seed={seed}, size={size} (first: {differing[0]}); regenerate with --overwrite"
        )
    return written


def _same_pixels(path: Path, data: np.ndarray) -> bool:
    import rasterio

    with rasterio.open(path) as ds:
        return ds.count == 1 and ds.dtypes[0] == data.dtype.name and np.array_equal(ds.read(1), data)
