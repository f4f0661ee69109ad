"""The clip range a scene is coded in, chosen by one rule for ``sarcomp compress`` and evaluation,
and the share of pixels that range cuts off.

Rules (``sarcomp compress --range``, ``scripts/evaluate.py range=``), see :func:`parse_range`:

- ``scene`` (the default): percentiles :data:`SCENE_PERCENTILES` of the scene's own valid levels,
  from the decimated read :meth:`~sarcomp.data.tiles.Scene.load` makes. The shipped models saw real
  SAR scaled this way; uncalibrated products (digital numbers at 10–60 dB) stay inside the range.
  The percentiles were picked by measurement (``experiments/range_rule.py``).
- ``model``: the model's training representation: its fixed dB range (e.g. [-30, 10]) or its
  per-scene percentiles.
- ``LO,HI``: a fixed range in dB (raw values for ``units=db``).

8-bit display renderings (``display8``) are always coded on their raw 0..255 range. Whatever the
rule, the encoder counts the valid pixels whose level lies below ``lo`` and above ``hi``
(:class:`ClipTally`); above :data:`CLIP_WARN` at either end a warning names the file and the range.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from sarcomp.codec.container import float32
from sarcomp.data.loaders import representation
from sarcomp.data.rasters import BandSpec
from sarcomp.data.representation import Representation, Scaling
from sarcomp.data.tiles import Scene
from sarcomp.errors import SarcompError

log = logging.getLogger(__name__)

SCENE_PERCENTILES = (0.5, 99.5)  # experiments/results/range_rule.md
CLIP_WARN = 0.01  # share of valid pixels clipped at one end above which compress warns
RANGE_KINDS = ("scene", "model", "given")


@dataclass(frozen=True)
class RangeRule:
    """How a scene's clip range is chosen (see module docstring)."""

    kind: str = "scene"
    db_range: tuple[float, float] | None = None  # kind "given"
    percentiles: tuple[float, float] = SCENE_PERCENTILES  # kind "scene"

    def __post_init__(self) -> None:
        if self.kind not in RANGE_KINDS or (self.kind == "given") != (self.db_range is not None):
            raise ValueError(f"range rule {self.kind!r} with db_range {self.db_range}")

    def __str__(self) -> str:
        if self.kind == "given":
            return f"{self.db_range[0]:g},{self.db_range[1]:g}"
        return self.kind


def parse_range(value: str | Sequence[float] | None, what: str = "--range") -> RangeRule:
    """``scene`` (or None), ``model``, ``"LO,HI"`` or ``[LO, HI]`` in dB; anything else is a one-line
    error naming ``what``."""
    if value is None or value == "scene":
        return RangeRule()
    if value == "model":
        return RangeRule("model")
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        lo, hi = (float(v) for v in parts)
    except (TypeError, ValueError):
        lo = hi = math.nan
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        example = "--range=-25,15" if what.startswith("--") else f"{what}[-25,15]"
        raise SarcompError(
            f"{what} {value!r}: give scene, model, or LO,HI in dB with LO < HI (e.g. {example})"
        )
    return RangeRule("given", (lo, hi))


def training_representation(cfg: Mapping[str, Any]) -> Representation:
    """The representation a model was trained in (its config's ``data.representation``)."""
    data = cfg.get("data") or {}
    return representation(data) if "representation" in data else Representation()


def coding_representation(rep: Representation, rule: RangeRule, training: Representation) -> Representation:
    """``rep`` (its units) with the clip range ``rule`` chooses: the one function through which
    ``sarcomp compress`` and evaluation pick a scene's range."""
    if rule.kind == "scene":
        return replace(rep, db_range=None, percentiles=rule.percentiles)
    if rule.kind == "model":
        return replace(rep, db_range=training.db_range, percentiles=training.percentiles)
    return replace(rep, db_range=rule.db_range, percentiles=None)


def coding(rule: RangeRule, training: Representation) -> Callable[[Representation], Representation]:
    """:func:`coding_representation` with the rule fixed (for :func:`~sarcomp.data.loaders.load_split`)."""
    return lambda rep: coding_representation(rep, rule, training)


def stored_scaling(scene: Scene) -> Scene:
    """The scene with its clip range rounded to float32, as the header stores it, so the encoder
    normalises with exactly the numbers the decoder de-normalises with."""
    s = scene.scaling
    return replace(scene, scaling=Scaling(float32(s.lo), float32(s.hi)))


def load_for_coding(
    path: str | Path, spec: BandSpec, rep: Representation, rule: RangeRule, training: Representation
) -> Scene:
    """A raster as the encoder codes it: units resolved, clip range chosen by ``rule``, float32."""
    return stored_scaling(Scene.load(path, spec, coding_representation(rep, rule, training)))


def describe(rule: RangeRule, scene: Scene) -> str:
    """The range a scene was coded in and where it came from, e.g.
    ``[12.5, 41.25] dB (scene percentiles 1, 99)``."""
    rep, s = scene.representation, scene.scaling
    if rep.units == "display8":
        return "[0, 255] raw (8-bit display rendering: the range rule does not apply)"
    if rule.kind == "given":
        where = "given"
    else:
        pct = rep.percentiles
        how = f"percentiles {pct[0]:g}, {pct[1]:g}" if pct is not None else "fixed"
        where = f"scene {how}" if rule.kind == "scene" else f"model's training range, {how}"
    return f"[{s.lo:.6g}, {s.hi:.6g}] dB ({where})"


@dataclass
class ClipTally:
    """Valid pixels counted below ``lo`` and above ``hi`` while a scene is coded."""

    low: int = 0
    high: int = 0
    valid: int = 0

    def add(self, clipped: np.ndarray, valid: np.ndarray) -> None:
        """Rows of :meth:`~sarcomp.data.tiles.Scene.read_unit_counted` (each row counted once)."""
        self.low += int(clipped[:, 0].sum())
        self.high += int(clipped[:, 1].sum())
        self.valid += int(valid.sum())

    @property
    def shares(self) -> tuple[float, float]:
        """Fractions of the valid pixels clipped at the low and at the high end."""
        n = max(self.valid, 1)
        return self.low / n, self.high / n


def warn_if_clipped(name: str | Path, shares: tuple[float, float], rule: RangeRule, how: str) -> bool:
    """Log a warning naming the file and range when either end clips more than :data:`CLIP_WARN`
    of the valid pixels; True when it did."""
    low, high = shares
    if max(low, high) <= CLIP_WARN:
        return False
    advice = (
        "a wider --range=LO,HI clips less"
        if rule.kind == "scene"
        else "--range scene (the default) takes the scene's own range"
    )
    log.warning(
        "%s: the clip range %s cuts off %.1f%% of the valid pixels at the low end and %.1f%% at the "
        "high end (more than %g%%); %s",
        name,
        how,
        100 * low,
        100 * high,
        100 * CLIP_WARN,
        advice,
    )
    return True
