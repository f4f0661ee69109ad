"""Where on its rate-distortion curve a scene is coded: ``--lmbda``, ``--quality N`` or ``--bpp T``.

A model's *curve* (:func:`curve_for`) is the list of operating points it can code at, lowest rate
first:

- a variable-rate model (trained with ``model.lmbdas``): any λ in its trained range; its points
  are the trained λ values;
- a shipped fixed-rate model on a shipped curve (manifest key ``curve``, e.g. ``baseline-ms-s8``
  = ``baseline-ms-s8-l001`` ... ``-l03``), or the curve's name itself: the curve's models;
- any other model (a run folder, a checkpoint, a shipped model alone): its one point.

``--lmbda`` needs a variable-rate model; ``--quality N`` is the curve's N-th point (1 = lowest
rate); ``--bpp T`` searches the highest-rate point whose ``.sarc`` file (metadata included) is at
most T bits per pixel for that scene (:func:`search_bpp`: bisection in log λ for a variable-rate
model, over the curve's models otherwise). Without any, a model codes at its own λ (a variable-rate
model's default λ, said by ``compress``), and a curve's name is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sarcomp.catalog import curve_members, find_shipped
from sarcomp.codec.container import float32
from sarcomp.errors import SarcompError

BPP_TOLERANCE = 0.01  # the bisection stops once a point lands within 1 % under the target
MAX_PROBES = 12  # scene encodings one --bpp search may spend on a variable-rate model


@dataclass(frozen=True)
class RateRequest:
    """At most one of ``lmbda``, ``quality`` (1-based), ``bpp`` (the target, bits per pixel)."""

    lmbda: float | None = None
    quality: int | None = None
    bpp: float | None = None

    def __post_init__(self) -> None:
        given = [f"--{k}" for k in ("lmbda", "quality", "bpp") if getattr(self, k) is not None]
        if len(given) > 1:
            raise SarcompError(f"{' and '.join(given)}: give one of --lmbda, --quality and --bpp")
        for key in ("lmbda", "bpp"):
            value = getattr(self, key)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise SarcompError(f"--{key} {value}: must be a positive number")
        if self.quality is not None and self.quality < 1:
            raise SarcompError(f"--quality {self.quality}: must be 1 or more (1 = lowest rate)")


@dataclass(frozen=True)
class Point:
    """An operating point: the model to load (what ``--model`` names) and, for a variable-rate
    model, λ (None: the model's own default). ``rank`` orders the points of one curve by rate."""

    model: str
    lmbda: float | None
    rank: float


@dataclass(frozen=True)
class Curve:
    """The operating points of what ``--model`` named (``model``), lowest rate first; ``name``
    labels them in messages (the shipped curve's name for one of its models)."""

    model: str
    name: str
    points: tuple[Point, ...]
    variable_rate: bool = False
    is_curve_name: bool = False  # --model named a shipped curve, not one model

    def quality_of(self, model: str, lmbda: float | None) -> int | None:
        """The ``--quality`` that names the point coded by ``model`` at ``lmbda`` (None between
        the trained λ values of a variable-rate model)."""
        for i, p in enumerate(self.points):
            if p.model == model and (p.lmbda is None or (lmbda is not None and p.lmbda == float32(lmbda))):
                return i + 1
        return None


def curve_for(model_ref: str | Path, variable_lmbdas: Callable[[], tuple[float, ...]]) -> Curve:
    """The curve of what ``--model`` names. ``variable_lmbdas()`` loads a run folder's or
    checkpoint's model and returns its trained λ (empty for a fixed-rate model); shipped models
    are looked up in the manifest without loading anything."""
    name = str(model_ref)
    if Path(name).expanduser().exists():
        return _curve(name, name, variable_lmbdas(), [])
    shipped = find_shipped(name)
    if shipped is not None:
        members = [] if shipped.variable_rate else [m.name for m in curve_members(shipped.curve)]
        return _curve(name, shipped.curve, shipped.lmbdas, members if len(members) > 1 else [])
    members = [m.name for m in curve_members(name)]
    if members:
        points = tuple(Point(m, None, i) for i, m in enumerate(members))
        return Curve(name, name, points, is_curve_name=True)
    return _curve(name, name, (), [])  # unknown: loading it gives the error that lists the shipped models


def _curve(model: str, name: str, lmbdas: tuple[float, ...], members: list[str]) -> Curve:
    if lmbdas:
        return Curve(model, name, tuple(Point(model, float32(v), v) for v in lmbdas), variable_rate=True)
    if members:
        return Curve(model, name, tuple(Point(m, None, i) for i, m in enumerate(members)))
    return Curve(model, name, (Point(model, None, 0),))


def choose(request: RateRequest, curve: Curve) -> Point | None:
    """The point ``--lmbda`` / ``--quality`` / the default names; None when ``--bpp`` must search."""
    if request.lmbda is not None:
        return _at_lmbda(request.lmbda, curve)
    if request.quality is not None:
        n = len(curve.points)
        if request.quality > n:
            raise SarcompError(f"--quality {request.quality}: {curve.model} has {_qualities(curve)}")
        return curve.points[request.quality - 1]
    if request.bpp is not None:
        return None
    if curve.is_curve_name:
        raise SarcompError(
            f"--model {curve.name} names a curve of {len(curve.points)} shipped models; choose one with "
            f"--quality 1..{len(curve.points)} or --bpp T, or name one model ({curve.points[-1].model})"
        )
    return Point(curve.model, None, math.inf)  # the model's own λ


def _at_lmbda(lmbda: float, curve: Curve) -> Point:
    if not curve.variable_rate:
        hint = f"; its curve has --quality 1..{len(curve.points)}" if len(curve.points) > 1 else ""
        what = (
            "names a curve of fixed-rate models" if curve.is_curve_name else "is a fixed-rate model (one λ)"
        )
        raise SarcompError(
            f"--lmbda {lmbda:g}: {curve.model} {what}; --lmbda needs a variable-rate model such as "
            f"baseline-ms-vr-s8{hint}"
        )
    lo, hi = curve.points[0].lmbda, curve.points[-1].lmbda
    if not lo * (1 - 1e-6) <= lmbda <= hi * (1 + 1e-6):
        raise SarcompError(f"--lmbda {lmbda:g}: outside the trained range [{lo:g}, {hi:g}] of {curve.model}")
    value = float32(lmbda)  # as the header stores it
    return Point(curve.model, value, value)


def _qualities(curve: Curve) -> str:
    names = [
        f"{i + 1} = {p.model if p.lmbda is None else f'λ {p.lmbda:g}'}" for i, p in enumerate(curve.points)
    ]
    return f"{len(curve.points)} operating point(s): " + ", ".join(names)


def search_bpp(target: float, curve: Curve, measure: Callable[[Point], float]) -> tuple[Point, float, int]:
    """(point, its bpp, encodings spent): the highest-rate point of ``curve`` whose measured bpp
    is at most ``target``. ``measure(point)`` codes the scene at ``point`` and returns the file's
    bpp. Bisection in log λ for a variable-rate model (until a point lands within
    :data:`BPP_TOLERANCE` under the target, or :data:`MAX_PROBES`), over the models otherwise.
    A target below the curve's lowest rate is a one-line error."""
    probes = 0

    def probe(point: Point) -> float:
        nonlocal probes
        probes += 1
        return measure(point)

    points = curve.points
    top = probe(points[-1])
    if top <= target:
        return points[-1], top, probes
    bottom = probe(points[0]) if len(points) > 1 else top
    if bottom > target:
        raise SarcompError(
            f"--bpp {target:g}: the lowest rate of {curve.name} on this scene is {bottom:.4f} bpp "
            f"({_label(points[0])}); give a larger target or another model"
        )
    best, best_bpp = points[0], bottom
    if curve.variable_rate:
        lo, hi = math.log(points[0].lmbda), math.log(points[-1].lmbda)
        while probes < MAX_PROBES and best_bpp < target * (1 - BPP_TOLERANCE) and hi - lo > 1e-3:
            lmbda = float32(math.exp((lo + hi) / 2))
            point = Point(curve.model, lmbda, lmbda)
            bpp = probe(point)
            if bpp <= target:
                lo, best, best_bpp = math.log(lmbda), point, bpp
            else:
                hi = math.log(lmbda)
        return best, best_bpp, probes
    lo, hi = 0, len(points) - 1  # points[lo] fits, points[hi] does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        bpp = probe(points[mid])
        if bpp <= target:
            lo, best, best_bpp = mid, points[mid], bpp
        else:
            hi = mid
    return best, best_bpp, probes


def describe_point(model: str | None, lmbda: float | None) -> str:
    """What ``sarcomp info`` says of a file's operating point: the model (a shipped name, or None
    for a model known by its weights' hash) and the λ its header records."""
    shipped = find_shipped(model) if model else None
    if shipped is None:
        if lmbda is None:
            return "the model's trained λ (not recorded in the file: a fixed-rate model)"
        return f"λ {lmbda:g} (variable-rate model)"
    curve = curve_for(model, tuple)
    n, quality = len(curve.points), curve.quality_of(model, lmbda)
    at = f"quality {quality} of {n}"
    if quality is None and lmbda is not None:
        below = sum(p.lmbda <= lmbda for p in curve.points)
        at = f"between quality {below} and {below + 1} of {n}"
    if curve.variable_rate:
        lo, hi = shipped.lmbdas[0], shipped.lmbdas[-1]
        return f"λ {lmbda:g} of {model}'s variable-rate range [{lo:g}, {hi:g}], {at}"
    if n > 1:
        return f"λ {shipped.lmbda:g} (trained), {at} of the shipped curve {curve.name}"
    return f"λ {shipped.lmbda:g} (trained; {model} is a fixed-rate model)"


def _label(point: Point) -> str:
    return point.model if point.lmbda is None else f"λ {point.lmbda:g}"
