"""From the ``data`` config to scenes, datasets and DataLoaders.

Splits are by scene, never by tile: ``<root>/{train,val,test}/`` when those folders exist.
A flat folder is split by sorted file name (every 5th scene to val, the rest to train; with
fewer than 5 files the last one to val: a validation scene is never a training scene) for
training; for evaluation the whole folder is the test split, less every scene a run trained or
validated on (the scene lists of a run are recorded in its folder, ``scenes.json``, and evaluation
drops them by path and SHA-256), so a run trained on a flat folder finds nothing to test in it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from sarcomp.data.bandspecs import file_settings, load_band_specs, spec_file
from sarcomp.data.complex_representation import ComplexRepresentation
from sarcomp.data.complex_tiles import ComplexScene
from sarcomp.data.rasters import BandSpec, list_rasters
from sarcomp.data.representation import Representation
from sarcomp.data.tiles import GridTiles, Scene
from sarcomp.errors import SarcompError

SPLITS = ("train", "val", "test")
VAL_EVERY = 5  # in a flat folder, scenes 4, 9, 14, ... (sorted) are the validation split


def band_spec(cfg: Mapping[str, Any]) -> BandSpec:
    try:
        return BandSpec(
            bands=tuple(int(b) for b in cfg["bands"]), iq=bool(cfg["iq"]), complex_to=str(cfg["complex_to"])
        )
    except ValueError as exc:
        raise SarcompError(f"data.bands/iq/complex_to: {exc}") from None


def representation(cfg: Mapping[str, Any]) -> Representation:
    r = cfg["representation"]
    try:
        return Representation(
            units=r["units"],
            db_range=tuple(r["db_range"]) if r.get("db_range") is not None else None,
            percentiles=tuple(r["percentiles"]) if r.get("percentiles") is not None else None,
            floor_db=float(r["floor_db"]),
        )
    except ValueError as exc:
        raise SarcompError(f"data.representation: {exc}") from None


def scene_paths(root: str | Path, split: str, exclude: Sequence[str] = ()) -> list[Path]:
    """Raster files of one split (see module docstring); file names matching an ``exclude``
    glob are left out first (``data.exclude``: scenes held back from training)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = Path(root)
    if (root / split).is_dir():
        return _without(list_rasters(root / split), exclude)
    files = _without(list_rasters(root), exclude)
    if split == "test":
        return files
    if len(files) < 2:
        raise SarcompError(
            f"{root}: a flat data folder needs at least 2 scenes (one is held out for validation, "
            f"never trained on); it has {len(files)}"
        )
    in_val = [i % VAL_EVERY == VAL_EVERY - 1 for i in range(len(files))]
    if not any(in_val):  # fewer than VAL_EVERY files: the last one validates, the others train
        in_val[-1] = True
    return [f for f, v in zip(files, in_val) if v == (split == "val")]


def load_split(
    cfg: Mapping[str, Any], split: str, coding: Callable[[Representation], Representation] | None = None
) -> list[Scene]:
    """The scenes of one split, each with its band-spec entry applied (sarcomp.data.bandspecs);
    file names matching a ``data.exclude`` glob are held back from every split. ``coding`` replaces
    the config's clip range (evaluation codes scenes as ``sarcomp compress`` does:
    :func:`sarcomp.codec.scaling.coding`). With ``data.complex`` the scenes are complex and keep
    their phase (:class:`sarcomp.data.complex_tiles.ComplexScene`)."""
    source = spec_file(cfg)
    specs = load_band_specs(source) if source is not None else None
    spec, rep = band_spec(cfg), representation(cfg)
    if coding is not None:
        rep = coding(rep)
    exclude = list(cfg.get("exclude") or ())
    paths = scene_paths(cfg["root"], split, exclude)
    if not paths and exclude:
        raise SarcompError(f"{cfg['root']}: no {split} scenes left after data.exclude={exclude}")
    if cfg.get("complex"):
        form = complex_representation(cfg)
        return [ComplexScene.load(p, file_settings(p, specs, spec, rep)[0], form) for p in paths]
    return [Scene.load(p, *file_settings(p, specs, spec, rep)) for p in paths]


def complex_representation(cfg: Mapping[str, Any]) -> ComplexRepresentation:
    """The ``data.complex`` node as a :class:`ComplexRepresentation`."""
    try:
        return ComplexRepresentation.from_config(cfg["complex"])
    except (TypeError, ValueError) as exc:
        raise SarcompError(f"data.complex: {exc}") from None


def _without(files: list[Path], exclude: Sequence[str]) -> list[Path]:
    return [f for f in files if not any(fnmatch(f.name, pattern) for pattern in exclude)]


def train_loader(
    cfg: Mapping[str, Any], dataset: Dataset, sampler: Sampler[int], seed: int, device: torch.device
) -> DataLoader:
    """Batches of random training tiles in ``sampler``'s order (the trainer's sharded, resumable
    order), workers seeded from ``seed``."""
    return DataLoader(
        dataset,
        batch_size=cfg["batch_size"],
        sampler=sampler,
        drop_last=True,
        **_loader_options(cfg, seed, device),
    )


def grid_loader(
    cfg: Mapping[str, Any],
    scenes: list[Scene],
    max_tiles: int | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader:
    """Grid tiles in order; with ``world_size > 1``, this rank's share (every world_size-th tile,
    none dropped: shares differ by at most one tile, so sum and count, don't average)."""
    dataset = GridTiles(scenes, cfg["tile_size"], cfg["stride"], max_tiles=max_tiles)
    sampler = range(rank, len(dataset), world_size) if world_size > 1 else None
    return DataLoader(
        dataset, batch_size=cfg["batch_size"], shuffle=False, sampler=sampler, **_loader_options(cfg)
    )


def loader_generator(seed: int) -> torch.Generator:
    """A DataLoader ``generator``: without one, every new DataLoader iterator draws its workers'
    base seed from the global torch RNG, which would make training depend on when loaders are
    created (a resumed run creates one mid-epoch) and break exact resume."""
    return torch.Generator().manual_seed(int(seed))


def _loader_options(
    cfg: Mapping[str, Any], seed: int = 0, device: torch.device | None = None
) -> dict[str, Any]:
    on_cuda = device.type == "cuda" if device is not None else torch.cuda.is_available()
    return {
        "num_workers": int(cfg["num_workers"]),
        "pin_memory": bool(cfg["pin_memory"]) and on_cuda,
        "persistent_workers": False,
        "generator": loader_generator(seed),
    }
