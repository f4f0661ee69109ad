"""Helpers shared by the test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import rasterio
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict
from rasterio.transform import from_origin

from sarcomp.config import CONFIG_DIR

REPO = Path(__file__).resolve().parent.parent
SHARED_SAR = REPO.parent / "shared" / "sar"


def load_script(path: str) -> ModuleType:
    """A script of the repository (``scripts/...``, ``experiments/...``) imported as a module."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compose_train(overrides: list[str], run_dir: Path | None = None) -> DictConfig:
    """Compose configs/train.yaml as Hydra would, with paths pointing into a temp folder."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    if run_dir is not None:
        with open_dict(cfg):
            cfg.paths.output_dir = str(run_dir)
    return cfg


def smoke_overrides(data_root: Path, *extra: str) -> list[str]:
    return ["debug=smoke", f"data.root={data_root}", *extra]


def write_tif(path: Path, data: np.ndarray, nodata: float | None = None) -> Path:
    data = data if data.ndim == 3 else data[None]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=data.shape[1],
        width=data.shape[2],
        count=data.shape[0],
        dtype=data.dtype,
        nodata=nodata,
        crs="EPSG:32633",
        transform=from_origin(500000, 5000000, 10, 10),
    ) as ds:
        ds.write(data)
    return path


def encoder_reconstruction(model, x: torch.Tensor, lmbda: float | None = None) -> torch.Tensor:
    """What a portable (version-2) encoder reconstructs (:func:`encoder_y_hat` through g_s).
    ``decompress`` must return this."""
    with torch.no_grad():
        y = model._gain(model.g_a(x).float(), lmbda)
        return model.g_s(model._inverse_gain(encoder_y_hat(model, y), lmbda)).clamp(0, 1)


def encoder_y_hat(model, y: torch.Tensor) -> torch.Tensor:
    """ŷ as the portable encoder quantises y: around the integer h_s's means (or the factorised
    prior's medians); a context model's anchors around those, the rest around its integer context
    network's means (each channel group of ``elic`` given the groups before it)."""
    codec = model.latent_codec
    with torch.no_grad():
        if model.entropy == "factorized":
            return codec.entropy_bottleneck(y)[0]
        if model.entropy in ("checkerboard", "elic"):
            _, params, _ = codec.hyper.compress(y)
            groups = [codec.y] if model.entropy == "checkerboard" else list(codec.y.spatial)
            decoded: list[torch.Tensor] = []
            parts = []
            for k, (group, (lo, hi)) in enumerate(zip(groups, _channel_bounds(codec.y, y))):
                group_params = (
                    params
                    if model.entropy == "checkerboard"
                    else codec.y.group_parameters(k, params, decoded, True)
                )
                _, symbols, means = group.encode(y[:, lo:hi], group_params, True)
                decoded.append(symbols.double() + means.double())
                parts.append(group.gaussian_conditional.dequantize(symbols, means))
            return torch.cat(parts, dim=1)
        eb = codec.hyper.z.entropy_bottleneck
        medians = eb.quantiles[:, 0, 1]
        symbols = eb.quantize(codec.hyper.analysis(y), "symbols", medians.reshape(-1, 1, 1))
        _, means = codec.hyper.network()(symbols, medians, y.shape[-2:])
        return codec.y.gaussian_conditional.quantize(y, "dequantize", means)


def _channel_bounds(y_codec, y: torch.Tensor) -> list[tuple[int, int]]:
    """A context codec's channel ranges: one (all of y) for the checkerboard, each group for elic."""
    return y_codec._bounds() if hasattr(y_codec, "_bounds") else [(0, y.shape[1])]
