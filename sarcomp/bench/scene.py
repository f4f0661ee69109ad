"""Whole-scene compression (8192² by default): MPixel/s and peak RSS of compress and decompress.

The measuring is ``sarcomp.codec.scene.measure_whole_scene`` (issue 12, the ``.sarc`` codec):
this section calls it when that module provides it, and otherwise records why it did not run.
Without ``--scene-model`` it codes with a freshly initialised baseline saved as a checkpoint in the
work folder: speed and memory do not depend on training, the bpp does (it is not a trained one).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from sarcomp.bench.settings import BASELINE, BenchSettings, compose_experiment
from sarcomp.runs import build_model, config_to_text, save_checkpoint


def untrained_checkpoint(settings: BenchSettings, workdir: Path) -> Path:
    """A checkpoint (config + weights) of a freshly initialised baseline."""
    cfg = compose_experiment(BASELINE, settings.overrides)
    path = Path(workdir) / "untrained_baseline.pt"
    config = config_to_text(OmegaConf.create({"model": cfg.model}))  # the model is all a decoder needs
    save_checkpoint(path, {"model": build_model(cfg.model).state_dict(), "config": config})
    return path


def measure_scene(settings: BenchSettings, tile: int, workdir: Path) -> dict[str, Any]:
    """The codec's measurement, or ``{"status": "not run: <why>"}``."""
    if settings.whole_scene_size is None:
        return {"status": "not run: --quick"}
    try:
        scene = importlib.import_module("sarcomp.codec.scene")
    except ImportError:
        return {"status": "not run: sarcomp.codec.scene absent"}
    measure = getattr(scene, "measure_whole_scene", None)
    if measure is None:
        return {"status": "not run: sarcomp.codec.scene has no measure_whole_scene"}
    model = settings.whole_scene_model
    note = "given model"
    if model is None:
        model, note = str(untrained_checkpoint(settings, workdir)), "untrained baseline (bpp not meaningful)"
    result = dict(measure(settings.whole_scene_size, model, tile, Path(workdir) / "whole_scene"))
    return {"status": "run", "model_note": note, **result}
