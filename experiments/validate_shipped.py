"""Validation RD of models as shipped (float16 weights), per λ, on one run's validation set.

    python experiments/validate_shipped.py <run folder or shipped name> [...] [--data-from <run>]
        [--out results.json]

Each model is a run folder (its best checkpoint, its weights rounded to float16 as
``ship_zoo.py export`` stores them) or a shipped name (``sarcomp.models.zoo``). Every model is
validated by the trainer's own routine (:func:`sarcomp.training.validation.validation_sums`: the
forward pass's bpp estimate and PSNR over the same tiles) at each λ of its ladder, on the
validation set of ``--data-from`` (default: the first run folder given), so a new run and the
shipped models it would replace are measured alike, whatever their runs' logs held. Prints each
model's points and, for the first model, the fit-free ΔPSNR at equal rate per λ against each other
model (the decision rule of ``experiment=linearpath_cpu``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from sarcomp.analysis.bootstrap import delta_psnr_at_equal_rate
from sarcomp.codec.modelref import resolve_model
from sarcomp.data.loaders import grid_loader
from sarcomp.data.mix import training_data
from sarcomp.fileio import write_json
from sarcomp.runs import run_config
from sarcomp.training.step import TrainStep
from sarcomp.training.validation import validation_sums

Point = tuple[float, float, float]  # λ, bpp, PSNR


def as_shipped(source: str, half: bool = True) -> tuple[DictConfig, torch.nn.Module]:
    """``(config, model)`` of a shipped name or a run folder (:func:`resolve_model`); a run folder's
    best weights go through float16 as ``export_run`` stores them (every floating tensor of the
    updated state; ``half=False``: as trained)."""
    loaded = resolve_model(source)
    model = loaded.model
    if half and Path(source).is_dir():
        model.load_state_dict(
            {k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
        )
        model.update(force=True)
    return loaded.cfg, model


def validation_loader(data_cfg: DictConfig) -> DataLoader:
    """The trainer's validation tiles of a run's config (its data, seed and ``val_max_tiles``)."""
    _, _, val_scenes = training_data(data_cfg.data, int(data_cfg.seed))
    return grid_loader(data_cfg.data, val_scenes, max_tiles=data_cfg.trainer.val_max_tiles)


def validate(
    cfg: DictConfig, model: torch.nn.Module, data_cfg: DictConfig, loader: DataLoader
) -> list[Point]:
    """(λ, bpp, PSNR) at each λ of the model's ladder on ``loader``'s tiles, with ``data_cfg``'s
    trainer settings."""
    step = TrainStep(cfg.model, data_cfg.trainer, torch.device("cpu"))
    step.model = model
    points = []
    for lmbda in model.lmbdas or [model.lmbda]:
        sums, counts, _ = validation_sums(model, loader, step, lmbda)
        points.append((float(lmbda), sums["bpp"] / counts["bpp"], sums["psnr"] / counts["psnr"]))
    return points


def deltas(test: list[Point], anchor: list[Point]) -> np.ndarray:
    """Fit-free ΔPSNR of each of ``test``'s points against ``anchor``'s curve (NaN outside it)."""
    return delta_psnr_at_equal_rate(_rate_psnr(anchor), _rate_psnr(test))


def _rate_psnr(points: list[Point]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([p[1] for p in points]), np.array([p[2] for p in points])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", help="run folders or shipped names; the first is compared")
    p.add_argument("--data-from", default=None, help="run folder whose validation set is used")
    p.add_argument("--out", type=Path, default=None, help="JSON of every model's points")
    a = p.parse_args()
    data_run = a.data_from or next((m for m in a.models if Path(m).is_dir()), None)
    if data_run is None:
        raise SystemExit("validate_shipped.py: give a run folder, or --data-from <run folder>")
    data_cfg = run_config(data_run)
    loader = validation_loader(data_cfg)  # read once, for every model
    curves = {m: validate(*as_shipped(m), data_cfg, loader) for m in a.models}
    print(f"validation set of {data_run}; weights as shipped (float16)\n")
    print("| model | λ | bpp | PSNR dB |" + "".join(f" ΔPSNR vs {m} |" for m in a.models[1:]))
    print("|---|---|---|---|" + "---|" * (len(a.models) - 1))
    first = a.models[0]
    against = [deltas(curves[first], curves[m]) for m in a.models[1:]]
    for model, points in curves.items():
        for i, (lmbda, bpp, psnr) in enumerate(points):
            cells = [("N/A" if np.isnan(d[i]) else f"{d[i]:+.2f}") if model == first else "" for d in against]
            print(f"| {model} | {lmbda:g} | {bpp:.3f} | {psnr:.2f} |" + "".join(f" {c} |" for c in cells))
    if a.out:
        compared = {m: [float(v) for v in d] for m, d in zip(a.models[1:], against)}  # NaN: N/A
        write_json(a.out, {"data_from": data_run, "curves": curves, "delta_psnr_of_first": compared})


if __name__ == "__main__":
    main()
