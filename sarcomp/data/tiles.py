"""Scenes and tile datasets: random augmented crops for training, a fixed grid for val/test.

Tiles come from windowed reads, so a large scene is never read whole. Each item is a dict with
``x`` (float32 [1, T, T] in [0, 1]) and ``mask`` (bool [1, T, T], True = valid pixel); masked
pixels are filled with 0 and must be ignored by losses and metrics. A scene whose ``read_unit``
returns channels ``[C, h, w]`` (:class:`sarcomp.data.complex_tiles.ComplexScene`) gives
``[C, T, T]`` items.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from rasterio.windows import Window
from torch.utils.data import Dataset

from sarcomp.data.guess import resolve_units
from sarcomp.data.identity import file_sha256
from sarcomp.data.rasters import BandSpec, RasterInfo, open_raster, raster_info, read_window
from sarcomp.data.representation import Representation, Scaling, unit_from_level
from sarcomp.errors import RasterError

log = logging.getLogger(__name__)

STATS_SIZE = 512  # longest side of the decimated read used for per-scene statistics


def stats_shape(info: RasterInfo) -> tuple[int, int]:
    """The size of the decimated read a scene's statistics come from: at most :data:`STATS_SIZE`
    on the longest side, the aspect kept."""
    scale = min(1.0, STATS_SIZE / max(info.height, info.width))
    return max(1, round(info.height * scale)), max(1, round(info.width * scale))


@dataclass(frozen=True)
class Scene:
    """One raster with its resolved representation and recorded scaling."""

    path: Path
    info: RasterInfo
    spec: BandSpec
    representation: Representation
    scaling: Scaling
    invalid_fraction: float

    @classmethod
    def load(cls, path: str | Path, spec: BandSpec, representation: Representation) -> Scene:
        """Inspect a raster (from a decimated read) and fix its scaling; errors name the file."""
        info = raster_info(path)
        is_complex = info.is_complex or spec.iq
        if is_complex and spec.complex_to == "error":
            raise RasterError(
                f"{path}: complex data, but this representation needs real values (data.complex_to=error)"
            )
        if is_complex and representation.units in ("db", "display8"):
            raise RasterError(
                f"{path}: complex data, but representation.units={representation.units} "
                "needs real values (use intensity, amplitude or auto)"
            )
        with open_raster(path) as ds:
            values, valid = read_window(ds, spec, out_shape=stats_shape(info))
        if not valid.any():
            raise RasterError(f"{path}: all pixels are nodata, NaN or inf")
        invalid = 1.0 - float(valid.mean())
        if invalid > 0:
            log.warning(
                "%s: %d of %d pixels read for statistics (%.2f%%) are nodata/NaN/inf; they are masked",
                path,
                int((~valid).sum()),
                valid.size,
                100 * invalid,
            )
        resolved = resolve_units(Path(path), info, spec, representation, values[valid])
        return cls(Path(path), info, spec, resolved, resolved.scaling(values, valid), invalid)

    @cached_property
    def sha256(self) -> str:
        """SHA-256 of the file's bytes: the scene's identity (leakage guard, pooled comparisons)."""
        return file_sha256(self.path)

    def read_unit(self, ds, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """A window as ([0, 1] float32, valid mask); masked pixels set to 0."""
        unit, valid, _ = self.read_unit_counted(ds, row, col, height, width)
        return unit, valid

    def read_unit_counted(
        self, ds, row: int, col: int, height: int, width: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`read_unit`, plus per row the valid pixels whose level lies below ``lo`` and
        above ``hi`` (int64 [height, 2]): what the clip range cuts off."""
        values, valid = read_window(ds, self.spec, Window(col, row, width, height))
        level = self.representation.to_level(np.where(valid, values, 1.0))
        clipped = np.stack(
            [((level < self.scaling.lo) & valid).sum(1), ((level > self.scaling.hi) & valid).sum(1)], axis=1
        )
        unit = unit_from_level(level, self.scaling)
        unit[~valid] = 0.0
        return unit, valid, clipped

    def record(self) -> dict:
        """What a run folder and a metrics JSON store about this scene."""
        return {
            "path": str(self.path.resolve()),
            "sha256": self.sha256,
            "height": self.info.height,
            "width": self.info.width,
            "units": self.representation.units,
            "bands": list(self.spec.bands),
            "iq": self.spec.iq,
            "scaling": self.scaling.as_dict(),
            "invalid_fraction": self.invalid_fraction,
        }


class _SceneReaders:
    """Lazily opened rasterio handles, one set per DataLoader worker (handles are not pickled)."""

    def __init__(self, scenes: Sequence[Scene]):
        self.scenes = list(scenes)
        self._handles: dict[int, object] = {}

    def __getstate__(self) -> dict:
        return {"scenes": self.scenes, "_handles": {}}

    def handle(self, index: int):
        if index not in self._handles:
            self._handles[index] = open_raster(self.scenes[index].path)
        return self._handles[index]


class RandomTiles(Dataset):
    """Random crops with flips and 90° rotations; deterministic per (seed, epoch, index).

    Scenes smaller than one tile are skipped with a warning. A crop with less than
    ``min_valid`` valid pixels is redrawn (up to 10 times).
    """

    def __init__(
        self,
        scenes: Sequence[Scene],
        tile_size: int,
        samples: int,
        seed: int = 0,
        augment: bool = True,
        min_valid: float = 0.5,
    ):
        usable = [s for s in scenes if s.info.height >= tile_size and s.info.width >= tile_size]
        for s in scenes:
            if s not in usable:
                log.warning(
                    "%s: %dx%d is smaller than one %d tile, skipped for training",
                    s.path,
                    s.info.height,
                    s.info.width,
                    tile_size,
                )
        if not usable:
            sizes = ", ".join(f"{s.path} ({s.info.height}x{s.info.width})" for s in scenes[:3])
            more = f" and {len(scenes) - 3} more" if len(scenes) > 3 else ""
            raise RasterError(
                f"no training scene is at least {tile_size}x{tile_size} pixels: "
                f"{sizes}{more}; lower data.tile_size or add larger scenes"
            )
        self.readers = _SceneReaders(usable)
        areas = np.array([s.info.height * s.info.width for s in usable], dtype=np.float64)
        self.weights = areas / areas.sum()
        self.tile_size, self.samples, self.seed = tile_size, samples, seed
        self.augment, self.min_valid = augment, min_valid
        self.epoch = 0

    def __len__(self) -> int:
        return self.samples

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        t = self.tile_size
        for _ in range(10):
            k = int(rng.choice(len(self.weights), p=self.weights))
            scene = self.readers.scenes[k]
            row = int(rng.integers(0, scene.info.height - t + 1))
            col = int(rng.integers(0, scene.info.width - t + 1))
            unit, valid = scene.read_unit(self.readers.handle(k), row, col, t, t)
            if valid.mean() >= self.min_valid:
                break
        if self.augment:
            unit, valid = _augment(rng, unit, valid)
        return {"x": _channels(unit), "mask": _channels(valid)}


def _channels(a: np.ndarray) -> torch.Tensor:
    """A [h, w] or [C, h, w] array as a [C, h, w] tensor."""
    return torch.from_numpy(a if a.ndim == 3 else a[None])


def _augment(rng: np.random.Generator, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    turns, flip = int(rng.integers(4)), bool(rng.integers(2))
    out = []
    for a in arrays:
        a = np.rot90(a, turns, axes=(-2, -1))
        out.append(np.ascontiguousarray(a[..., ::-1] if flip else a))
    return tuple(out)


def grid_windows(height: int, width: int, tile: int, stride: int) -> list[tuple[int, int, int, int]]:
    """(row, col, h, w) of tiles covering the image; edge tiles are cut short and padded later."""
    rows = range(0, max(height - tile, 0) + 1, stride) if height >= tile else [0]
    cols = range(0, max(width - tile, 0) + 1, stride) if width >= tile else [0]
    rows, cols = list(rows), list(cols)
    if height > tile and rows[-1] + tile < height:
        rows.append(rows[-1] + stride)
    if width > tile and cols[-1] + tile < width:
        cols.append(cols[-1] + stride)
    return [(r, c, min(tile, height - r), min(tile, width - c)) for r in rows for c in cols]


def spread_counts(sizes: Sequence[int], max_tiles: int | None) -> list[int]:
    """How many of each scene's ``sizes[k]`` grid tiles to keep so that at most ``max_tiles`` are
    kept in all: every scene gets an equal share (water-filling: a scene with fewer tiles than its
    share keeps all of them and leaves the rest to the others). ``None`` keeps everything.

    A validation cap must sample every scene (and so every source of a mix), never a prefix of
    the scene list: a prefix once put every validation tile in the first two synthetic scenes.
    """
    if max_tiles is None or max_tiles >= sum(sizes):
        return list(sizes)
    counts = [0] * len(sizes)
    left = max_tiles
    open_ = [k for k, n in enumerate(sizes) if n > 0]
    while left > 0 and open_:
        share = max(1, left // len(open_))
        for k in list(open_):
            take = min(share, sizes[k] - counts[k], left)
            counts[k] += take
            left -= take
            if counts[k] == sizes[k]:
                open_.remove(k)
            if left == 0:
                break
    return counts


def spread_indices(size: int, count: int) -> list[int]:
    """``count`` of ``range(size)`` spread evenly (the centres of ``count`` equal parts), sorted."""
    return sorted({min(size - 1, int((i + 0.5) * size / count)) for i in range(count)}) if count else []


class GridTiles(Dataset):
    """Deterministic tiles on a grid over every scene (val/test).

    With ``max_tiles``, each scene keeps an equal share of the cap (:func:`spread_counts`), its
    tiles spread over the scene (:func:`spread_indices`).

    Tiles past an edge, and images smaller than a tile, are padded by reflection to the full
    tile size; padded pixels are masked. Items carry ``scene``, ``row``, ``col``, ``h``, ``w``
    so reconstructions can be stitched back into scenes.
    """

    def __init__(
        self, scenes: Sequence[Scene], tile_size: int, stride: int | None = None, max_tiles: int | None = None
    ):
        self.readers = _SceneReaders(scenes)
        self.tile_size = tile_size
        stride = stride or tile_size
        grids = [grid_windows(s.info.height, s.info.width, tile_size, stride) for s in scenes]
        counts = spread_counts([len(g) for g in grids], max_tiles)
        self.items = [
            (k, *grid[i])
            for k, (grid, n) in enumerate(zip(grids, counts))
            for i in spread_indices(len(grid), n)
        ]

    @property
    def scenes(self) -> list[Scene]:
        return self.readers.scenes

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        k, row, col, h, w = self.items[index]
        unit, valid = self.scenes[k].read_unit(self.readers.handle(k), row, col, h, w)
        pad = ((0, 0),) * (unit.ndim - 2) + ((0, self.tile_size - h), (0, self.tile_size - w))
        unit = np.pad(unit, pad, mode="symmetric")
        valid = np.pad(valid, pad, constant_values=False)
        return {
            "x": _channels(unit),
            "mask": _channels(valid),
            "scene": k,
            "row": row,
            "col": col,
            "h": h,
            "w": w,
        }


def spread_sample(dataset: Dataset, count: int) -> torch.Tensor:
    """``count`` tiles (``x``) spread evenly over a dataset, stacked: a small batch that sees every
    part of it (e.g. every source of a validation set)."""
    return torch.stack([dataset[i]["x"] for i in spread_indices(len(dataset), min(count, len(dataset)))])


def place_tile(canvas: np.ndarray, item: dict, tile: np.ndarray) -> None:
    """Write a [T, T] tile of a :class:`GridTiles` item into its scene-sized ``canvas``, cutting off
    the padding past the scene's edge."""
    r, c, h, w = item["row"], item["col"], item["h"], item["w"]
    canvas[r : r + h, c : c + w] = tile[:h, :w]


@dataclass
class SceneImage:
    """A scene as one stitched [0, 1] image (masked pixels 0) and its validity mask."""

    scene: Scene
    ref: np.ndarray
    valid: np.ndarray

    @property
    def key(self) -> str:
        return str(self.scene.path.resolve())


def stitch_scene(scene: Scene, tile_size: int) -> SceneImage:
    """Read a scene through the tile grid a tiled codec sees, and stitch it back."""
    h, w = scene.info.height, scene.info.width
    ref, valid = np.zeros((h, w), np.float32), np.zeros((h, w), bool)
    for item in GridTiles([scene], tile_size):
        place_tile(ref, item, item["x"][0].numpy())
        place_tile(valid, item, item["mask"][0].numpy())
    return SceneImage(scene, ref, valid)
