"""Spatially disjoint splits of a folder of real rasters: row bands of each file, written as crops.

The attention study's protocol (``experiments/PROTOCOL.md``) cuts every file of ``../shared/sar``
into horizontal bands: the top of a file trains, a band below it validates, and the bottom fifth
of the files that no earlier decision looked at is the test split. Files that steered earlier
choices (*development* files) give no test band. Each crop keeps its file's name, bands, dtype,
nodata and georeferencing (the transform moved to the crop's first row), so band-spec patterns
and everything downstream treat it like the original. The crops' SHA-256 are frozen in a
committed manifest: :func:`check_manifest` refuses a split that differs from it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from sarcomp.data.identity import file_sha256
from sarcomp.data.rasters import gdal_messages, list_rasters
from sarcomp.errors import SarcompError
from sarcomp.fileio import atomic_write

# (split, first row, end row) as fractions of the file's height
HOLDOUT_BANDS: tuple[tuple[str, float, float], ...] = (
    ("train", 0.0, 0.6),
    ("val", 0.6, 0.8),
    ("test", 0.8, 1.0),
)
DEVELOPMENT_BANDS: tuple[tuple[str, float, float], ...] = (("train", 0.0, 0.8), ("val", 0.8, 1.0))


@dataclass(frozen=True)
class Crop:
    """One row band of one file: ``rows`` is ``[start, end)`` in the source's pixel rows."""

    name: str
    split: str
    rows: tuple[int, int]


def plan_crops(height_of: Mapping[str, int], development: Iterable[str]) -> list[Crop]:
    """The crops of every file: :data:`DEVELOPMENT_BANDS` for development files, else
    :data:`HOLDOUT_BANDS`; band edges rounded to whole rows, never empty."""
    development = set(development)
    unknown = development - set(height_of)
    if unknown:
        raise SarcompError(f"development files not in the source folder: {', '.join(sorted(unknown))}")
    crops = []
    for name, height in sorted(height_of.items()):
        bands = DEVELOPMENT_BANDS if name in development else HOLDOUT_BANDS
        edges = [round(f * height) for _, f, _ in bands] + [height]
        if any(b <= a for a, b in zip(edges, edges[1:])):
            raise SarcompError(f"{name}: {height} rows are too few for the bands {bands}")
        crops += [Crop(name, split, (a, b)) for (split, _, _), a, b in zip(bands, edges, edges[1:])]
    return crops


def write_crop(source: Path, crop: Crop, out: Path) -> Path:
    """Write ``crop`` of ``source`` to ``out/<split>/<name>`` atomically; returns the path."""
    target = out / crop.split / crop.name
    start, end = crop.rows
    with gdal_messages(source), warnings.catch_warnings(), rasterio.open(source) as src:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        window = Window(0, start, src.width, end - start)
        data = src.read(window=window)
        profile = {
            "driver": src.driver,
            "width": src.width,
            "height": end - start,
            "count": src.count,
            "dtype": src.dtypes[0],
            "nodata": src.nodata,
        }
        if src.crs is not None:
            profile |= {"crs": src.crs, "transform": window_transform(window, src.transform)}
        if src.driver == "GTiff":
            profile |= {"compress": "deflate"}
        descriptions = src.descriptions

    def write(tmp: Path) -> None:
        with gdal_messages(tmp), rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data)
            for band, text in enumerate(descriptions, start=1):
                if text:
                    dst.set_band_description(band, text)

    with warnings.catch_warnings():  # a crop of an ungeoreferenced file (the PNG) stays so
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        atomic_write(target, write, suffix=f".tmp{target.suffix}")
    return target


def make_splits(source: Path, out: Path, development: Iterable[str]) -> dict[str, dict]:
    """Write every crop of every raster in ``source``; returns the manifest
    ``{name: {split: {"rows": [start, end], "sha256": ...}}}``."""
    files = {p.name: p for p in list_rasters(source)}
    heights = {}
    for name, path in files.items():
        with gdal_messages(path), warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                heights[name] = src.height
    manifest: dict[str, dict] = {}
    for crop in plan_crops(heights, development):
        path = write_crop(files[crop.name], crop, out)
        manifest.setdefault(crop.name, {})[crop.split] = {
            "rows": list(crop.rows),
            "sha256": file_sha256(path),
        }
    return manifest


def check_manifest(made: Mapping[str, dict], frozen: Mapping[str, dict]) -> None:
    """Raise ``SarcompError`` naming every crop whose rows or content differ from the frozen
    manifest (a changed test split would invalidate every result judged on it)."""
    keys = {(n, s) for n, splits in made.items() for s in splits} | {
        (n, s) for n, splits in frozen.items() for s in splits
    }
    differ = sorted(f"{n}/{s}" for n, s in keys if made.get(n, {}).get(s) != frozen.get(n, {}).get(s))
    if differ:
        raise SarcompError(
            f"the split differs from the frozen manifest at {', '.join(differ)}: the source files or the "
            "rule changed; results judged on the frozen split do not carry over"
        )


def saw_test_rows(used: Mapping[str, Iterable[Mapping]], frozen: Mapping[str, dict]) -> list[str]:
    """Files whose test band a model may have seen: its training or validation data (a zoo entry's
    ``data``) holds a file of that name that is not the protocol's own train or val crop (by
    SHA-256), e.g. the whole source raster. ``frozen``: ``experiments/protocol/sar_splits.json``'s
    ``crops``."""
    seen = set()
    for split in ("train", "val"):
        for item in used.get(split, []):
            name = Path(item["path"]).name
            bands = frozen.get(name)
            if bands and "test" in bands:
                own = {bands[s]["sha256"] for s in ("train", "val") if s in bands}
                if item.get("sha256") not in own:
                    seen.add(name)
    return sorted(seen)
