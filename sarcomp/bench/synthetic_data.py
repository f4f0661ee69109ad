"""The benchmark's input: a few synthetic SAR GeoTIFFs (``sarcomp.data.synthetic``) in a work folder,
and the ``data`` config that reads them through the project's rasterio pipeline."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sarcomp.data.synthetic import generate_dataset

COUNTS = {"train": 2, "test": 1}


def write_scenes(workdir: Path, size: int) -> Path:
    """``<workdir>/synthetic/{train,test}/scene_XXXX.tif`` of ``size``² pixels; returns the root."""
    root = Path(workdir) / "synthetic"
    generate_dataset(root, counts=COUNTS, size=size, seed=14)
    return root


def data_config(cfg: DictConfig, root: Path, **changes) -> DictConfig:
    """``cfg.data`` reading ``root``, with ``changes`` (e.g. ``num_workers=2``)."""
    data = OmegaConf.to_container(cfg.data, resolve=True)
    data.update(root=str(root), **changes)
    return OmegaConf.create(data)
