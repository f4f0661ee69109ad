"""The metrics JSON schema, shared by learned and classic codecs.

A *payload* is ``{"name", "codec", ..., "images": [rows], "mean": {key: mean, key_n: count},
"hardware"}``; a row is one scene (:func:`scene_record` + its metrics). A learned run's
``metrics*.json`` is one payload; classic results are ``{"results": [payloads]}`` files (paths in
:mod:`sarcomp.runs`). ``tests/golden/metrics_schema.json`` pins the keys.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch

from sarcomp.data.tiles import SceneImage
from sarcomp.metrics.operator import OPERATOR_KEYS
from sarcomp.metrics.scene import SAR_KEYS
from sarcomp.models.complexity import count_parameters

METRIC_KEYS = ("bpp", "psnr", "rmse_db", "ssim", "ms_ssim", *SAR_KEYS, "encode_ms", "decode_ms")
LEARNED_KEYS = (*METRIC_KEYS, "encode_ms_tile", "decode_ms_tile", *OPERATOR_KEYS)

BYTES_COUNTED = (
    "the .sarc file sarcomp compress writes, less its metadata (georeferencing, notes): header (size, tile grid, "
    "scaling, model id, string lengths, nodata mask if any) + tile strings + CRC-32; tiles padded to "
    "the stride only"
)


def scene_record(image: SceneImage) -> dict[str, Any]:
    scene = image.scene
    return {
        "image": scene.path.name,
        "path": image.key,
        "sha256": scene.sha256,
        "height": scene.info.height,
        "width": scene.info.width,
        "valid_fraction": float(image.valid.mean()),
        "scaling": scene.scaling.as_dict(),
        "units": scene.representation.units,
    }


def mean_row(rows: Sequence[dict[str, Any]], keys: Sequence[str] = LEARNED_KEYS) -> dict[str, Any]:
    """Means over rows, skipping N/A (NaN, missing) values; ``<key>_n`` says how many were defined."""
    out: dict[str, Any] = {}
    for key in keys:
        values = [r[key] for r in rows if r.get(key) is not None and not math.isnan(r[key])]
        if not values and not any(key in r for r in rows):
            continue
        out[key] = float(np.mean(values)) if values else math.nan
        out[f"{key}_n"] = len(values)
    return out


def hardware() -> dict[str, Any]:
    import os
    import platform

    info = {
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def results_payload(name: str, rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """The metrics JSON schema shared by learned and classic codecs."""
    return {
        "name": name,
        **extra,
        "images": rows,
        "mean": mean_row(rows),
        "hardware": hardware(),
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def learned_payload(
    name: str,
    rows: list[dict[str, Any]],
    model: torch.nn.Module,
    cfg: Any,
    data: Any,
    codec: str = "learned",
    **extra: Any,
) -> dict[str, Any]:
    """A learned codec's payload: ``rows`` plus what ``model``, its config ``cfg`` and the data
    config ``data`` say about it (attention, entropy model, λ, size, tile size); ``extra`` adds keys."""
    return results_payload(
        name,
        rows,
        codec=codec,
        plan=cfg.get("plan_id"),
        attention=model.attention_type,
        placement=model.placement,
        entropy=getattr(model, "entropy", "factorized"),
        lmbda=model.lmbda,
        seed=int(cfg.get("seed", 0)),
        params=count_parameters(model),
        widths=[*cfg.model.channels, cfg.model.latent_channels],
        data_root=str(data["root"]),
        tile_size=int(data["tile_size"]),
        **extra,
    )
