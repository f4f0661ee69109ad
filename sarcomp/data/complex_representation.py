"""Complex samples as [0, 1] channels a learned codec can take, with the phase recoverable.

Two forms (``form``), both invertible and measured in ``experiments/complex_representation.py``:

- ``iq`` (2 channels): the amplitude is companded, ``a = min((|s| / c)^p, 1)``, the phase left as
  it is, and ``0.5 + 0.5·a·(cos φ, sin φ)`` are the channels (``p = exponent``: 1 is plain I/Q
  scaled, p < 1 lifts dark areas). ``c`` is the scene's ``percentile`` of |s|; the few brighter
  samples keep their phase exactly and saturate in amplitude (radial clip, never a per-axis clip,
  which would bend the phase). Inverse: ``r = |2u − 1|`` (complex), ``|s| = c·min(r, 1)^(1/p)``,
  ``φ = atan2``.
- ``logpolar`` (3 channels): the amplitude level ``20·log10|s|`` clipped to the scene's
  ``db_percentiles`` and scaled to [0, 1] (as :mod:`sarcomp.data.representation` does for real
  scenes), and the phase as ``(1 + cos φ)/2, (1 + sin φ)/2``. Inverse: ``φ = atan2``, whatever
  the amplitude: the phase survives even where the amplitude is clipped or the sample is dark.

The per-scene numbers (``c`` and the dB range) form a :class:`ComplexScaling`, computed once per
scene like :class:`sarcomp.data.representation.Scaling` and recorded with it.

Default ``iq`` with p = 0.5 and c the 99.9th percentile, from the measurement
(``experiments/results/complex/representation.md``, three 256 px synthetic pairs): with a uniform
quantiser and entropy coding, p = 0.5 reaches 10° interferometric phase error at 4.5-4.7 bits per
complex sample against 5.5-5.6 for p = 1; ``logpolar`` (whose (cos, sin) channels spend bits on
the phase of dark samples) already costs 6.2 bits at its coarsest step (9.0°, where p = 0.5 gives
about 6°) and loses at every rate measured. Saturating the top 0.5 % (c = p99.5) leaves a 1.7°
interferometric floor at high rate, the top 0.1 % about 0.6°; c = max has none but ties the
scene's scale to its single brightest sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

FORMS: tuple[str, ...] = ("iq", "logpolar")
FLOOR = 1e-30


@dataclass(frozen=True)
class ComplexScaling:
    """A scene's amplitude scale ``c`` (iq) and amplitude dB range ``[lo, hi]`` (logpolar)."""

    scale: float
    lo: float
    hi: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class ComplexRepresentation:
    """How complex samples become [0, 1] channels and back (module doc)."""

    form: str = "iq"
    percentile: float = 99.9
    exponent: float = 0.5
    db_percentiles: tuple[float, float] = (0.5, 99.5)

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise ValueError(f"complex.form must be one of {FORMS}, got {self.form!r}")
        if not 0 < self.exponent <= 1:
            raise ValueError(f"complex.exponent must be in (0, 1], got {self.exponent}")
        if not 0 < self.percentile <= 100:
            raise ValueError(f"complex.percentile must be in (0, 100], got {self.percentile}")
        object.__setattr__(self, "db_percentiles", tuple(float(v) for v in self.db_percentiles))

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ComplexRepresentation:
        """From a ``data.complex`` config node (keys as the fields)."""
        known = {k: cfg[k] for k in ("form", "percentile", "exponent", "db_percentiles") if k in cfg}
        unknown = sorted(set(cfg) - set(known))
        if unknown:
            raise ValueError(
                f"unknown key(s) {', '.join(unknown)}; valid: form, percentile, exponent, db_percentiles"
            )
        if "db_percentiles" in known:
            known["db_percentiles"] = tuple(known["db_percentiles"])
        return cls(**known)

    @property
    def channels(self) -> int:
        return 3 if self.form == "logpolar" else 2

    def scaling(self, s: np.ndarray, valid: np.ndarray | None = None) -> ComplexScaling:
        """The per-scene numbers from the valid samples."""
        amp = np.abs(s if valid is None else s[valid])
        if amp.size == 0:
            raise ValueError("no valid samples to compute the scaling from")
        c = float(np.percentile(amp, self.percentile))
        lo, hi = np.percentile(20 * np.log10(np.maximum(amp, FLOOR)), self.db_percentiles)
        return ComplexScaling(c if c > 0 else 1.0, float(lo), float(max(hi, lo + 1e-3)))

    def to_unit(self, s: np.ndarray, scaling: ComplexScaling) -> np.ndarray:
        """Complex [H, W] to float32 channels [C, H, W] in [0, 1]."""
        s = np.asarray(s, np.complex128)
        amp, phase = np.abs(s), np.angle(s)
        if self.form == "logpolar":
            level = 20 * np.log10(np.maximum(amp, FLOOR))
            unit = (np.clip(level, scaling.lo, scaling.hi) - scaling.lo) / (scaling.hi - scaling.lo)
            return np.stack([unit, 0.5 + 0.5 * np.cos(phase), 0.5 + 0.5 * np.sin(phase)]).astype(np.float32)
        a = np.minimum((amp / scaling.scale) ** self.exponent, 1.0)
        return np.stack([0.5 + 0.5 * a * np.cos(phase), 0.5 + 0.5 * a * np.sin(phase)]).astype(np.float32)

    def from_unit(self, unit: np.ndarray, scaling: ComplexScaling) -> np.ndarray:
        """Channels [C, H, W] back to complex128 [H, W] (values outside [0, 1] are clipped)."""
        u = np.clip(np.asarray(unit, np.float64), 0.0, 1.0)
        if u.shape[0] != self.channels:
            raise ValueError(f"{self.form} has {self.channels} channels, got {u.shape[0]}")
        if self.form == "logpolar":
            level = scaling.lo + u[0] * (scaling.hi - scaling.lo)
            return 10 ** (level / 20) * np.exp(1j * np.arctan2(2 * u[2] - 1, 2 * u[1] - 1))
        z = (2 * u[0] - 1) + 1j * (2 * u[1] - 1)
        a = np.minimum(np.abs(z), 1.0)
        return scaling.scale * a ** (1 / self.exponent) * np.exp(1j * np.angle(z))
