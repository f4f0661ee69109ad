"""Code scenes through the learned codec and measure them; which scenes a model may be tested on.

Shared by a run's evaluation (:mod:`sarcomp.evaluation.evaluate`) and a shipped model's
(:mod:`sarcomp.evaluation.pretrained`); the rate and timing rules are described in the former.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from sarcomp.codec.container import ModelId
from sarcomp.codec.modelref import model_hash
from sarcomp.codec.scene import code_scene, scene_grid
from sarcomp.data.tiles import Scene, SceneImage
from sarcomp.errors import SarcompError
from sarcomp.evaluation.results import scene_record
from sarcomp.metrics.scene import scene_metrics

log = logging.getLogger(__name__)


@torch.no_grad()
def evaluate_scenes(
    model: torch.nn.Module,
    scenes: Sequence[Scene],
    tile_size: int,
    device: torch.device,
    identity: ModelId | None = None,
    on_scene: Callable[[SceneImage, np.ndarray], Any] | None = None,
) -> tuple[list[dict[str, Any]], list[SceneImage]]:
    """One row per scene (bytes, bpp, every metric, encode/decode ms; see module docstring),
    and the stitched reference images, so classic codecs can code them without a second read.

    Each scene goes through :func:`sarcomp.codec.scene.code_scene`: the ``.sarc`` container that
    ``sarcomp compress`` writes (less its metadata) is what ``bytes`` counts, and the
    reconstruction is decoded from that container. ``identity`` is the model's (a hash of its
    weights when not given); only its size matters for the rate. ``on_scene(image,
    reconstruction)`` sees each decoded scene (e.g. to save it).
    """
    model = model.to(device).eval()
    identity = identity or ModelId.hashed(model_hash(None, model))
    rows, images = [], []
    scene_grid(tile_size, tile_size, tile_size, 0, model)  # a bad tile size is a one-line error
    x = torch.zeros(1, 1, tile_size, tile_size, device=device)
    model.decompress(**model.compress(x))  # first-call costs must not land in the timings
    for scene in scenes:
        coded = code_scene(model, scene, identity, tile_size, device=device)
        h, w = scene.info.height, scene.info.width
        image = SceneImage(coded.scene, coded.ref, coded.valid)
        n_bytes = len(coded.container)
        if on_scene is not None:
            on_scene(image, coded.rec)
        row = {
            **scene_record(image),
            "tiles": coded.tiles,
            "coded_pixels": coded.coded_pixels,
            "bytes": n_bytes,
            "bpp": 8 * n_bytes / (h * w),
            "clipped_low": coded.clipped[0],
            "clipped_high": coded.clipped[1],
            **scene_metrics(image, coded.rec),
            "encode_ms": float(sum(coded.encode_ms)),
            "decode_ms": float(sum(coded.decode_ms)),
            "encode_ms_tile": statistics.median(coded.encode_ms),
            "decode_ms_tile": statistics.median(coded.decode_ms),
        }
        log.info("%s: bpp=%.4f psnr=%.2f", row["image"], row["bpp"], row["psnr"])
        rows.append(row)
        images.append(image)
    return rows, images


def exclude_training_scenes(
    scenes: Sequence[Scene], used: set[str], used_hashes: set[str] | frozenset[str] = frozenset()
) -> list[Scene]:
    """Drop scenes a run trained or validated on (``used``: resolved paths; ``used_hashes``: their
    SHA-256, so a copied or linked data set does not slip past), with a warning."""
    kept = [s for s in scenes if str(s.path.resolve()) not in used and s.sha256 not in used_hashes]
    for s in scenes:
        if s not in kept:
            log.warning("%s: the run trained or validated on this scene; excluded from evaluation", s.path)
    if not kept:
        raise SarcompError(
            "every evaluation scene was used in training (for a flat data folder the whole folder is the "
            "test split, less every scene a run trained or validated on: put held-out scenes in <data "
            "folder>/test/ and the training ones in train/ and val/, or evaluate on other scenes with "
            "data=geotiff data.root=<folder>)"
        )
    return kept


def set_operating_point(model: Any, lmbda: float) -> None:
    """``model.set_lmbda`` with its refusal as a one-line :class:`SarcompError`."""
    try:
        model.set_lmbda(float(lmbda))
    except ValueError as exc:
        raise SarcompError(f"lmbda={lmbda}: {exc}") from None
