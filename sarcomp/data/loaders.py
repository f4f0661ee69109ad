"""From the ``data`` config to scenes, datasets and DataLoaders.

Splits are by scene, never by tile: ``<root>/{train,val,test}/`` when those folders exist.
A flat folder is split by sorted file name (every 5th scene to val, the rest to train) for
training, and is used whole as the test split for evaluation. The scene lists of a run are
recorded in its folder (``scenes.json``) so evaluation can refuse training scenes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch.utils.data import DataLoader

from sarcomp.data.rasters import BandSpec, list_rasters
from sarcomp.data.representation import Representation
from sarcomp.data.tiles import GridTiles, RandomTiles, Scene, load_scenes

SPLITS = ("train", "val", "test")
VAL_EVERY = 5  # in a flat folder, scenes 4, 9, 14, ... (sorted) are the validation split


def band_spec(cfg: Mapping[str, Any]) -> BandSpec:
    return BandSpec(bands=tuple(cfg["bands"]), iq=bool(cfg["iq"]), complex_to=str(cfg["complex_to"]))


def representation(cfg: Mapping[str, Any]) -> Representation:
    r = cfg["representation"]
    return Representation(
        units=r["units"],
        db_range=tuple(r["db_range"]) if r.get("db_range") is not None else None,
        percentiles=tuple(r["percentiles"]) if r.get("percentiles") is not None else None,
        floor_db=float(r["floor_db"]),
    )


def scene_paths(root: str | Path, split: str) -> list[Path]:
    """Raster files of one split (see module docstring)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = Path(root)
    if (root / split).is_dir():
        return list_rasters(root / split)
    files = list_rasters(root)
    if split == "test":
        return files
    in_val = [i % VAL_EVERY == VAL_EVERY - 1 for i in range(len(files))]
    return [f for f, v in zip(files, in_val) if v == (split == "val")] or files[:1]


def load_split(cfg: Mapping[str, Any], split: str) -> list[Scene]:
    return load_scenes(scene_paths(cfg["root"], split), band_spec(cfg), representation(cfg))


def train_loader(cfg: Mapping[str, Any], scenes: list[Scene], seed: int, **loader_kw) -> DataLoader:
    dataset = RandomTiles(scenes, cfg["tile_size"], cfg["train_samples"], seed=seed)
    return DataLoader(dataset, batch_size=cfg["batch_size"], shuffle=False, drop_last=True,
                      **_loader_options(cfg), **loader_kw)


def grid_loader(cfg: Mapping[str, Any], scenes: list[Scene], max_tiles: int | None = None) -> DataLoader:
    dataset = GridTiles(scenes, cfg["tile_size"], cfg["stride"], max_tiles=max_tiles)
    return DataLoader(dataset, batch_size=cfg["batch_size"], shuffle=False, **_loader_options(cfg))


def _loader_options(cfg: Mapping[str, Any]) -> dict[str, Any]:
    workers = int(cfg["num_workers"])
    return {
        "num_workers": workers,
        "pin_memory": bool(cfg["pin_memory"]) and torch.cuda.is_available(),
        "persistent_workers": False,
    }
