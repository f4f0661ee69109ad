"""Whole-scene compression (8192² by default): MPixel/s and peak RSS of compress and decompress.

The measuring is ``sarcomp.codec.scene.measure_whole_scene`` (issue 12, the ``.sarc`` codec);
this section calls it when that module provides it and otherwise records why it did not run.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any


def measure_scene(size: int | None, model_ref: str | None, tile: int, workdir: Path) -> dict[str, Any]:
    """The codec's measurement, or ``{"status": "not run: <why>"}``."""
    if size is None:
        return {"status": "not run: --quick"}
    try:
        scene = importlib.import_module("sarcomp.codec.scene")
    except ImportError:
        return {"status": "not run: sarcomp.codec.scene absent"}
    measure = getattr(scene, "measure_whole_scene", None)
    if measure is None:
        return {"status": "not run: sarcomp.codec.scene has no measure_whole_scene"}
    if model_ref is None:
        return {"status": "not run: no model given (--scene-model)"}
    result = dict(measure(size, model_ref, tile, workdir))
    return {"status": "run", "size": size, "tile": tile, "model": model_ref, **result}
