"""The invertible map between physical SAR units and the [0, 1] tiles the codec sees.

Forward, for ``units`` in {intensity, amplitude}:

    level = 10·log10(max(I, 10^(floor_db/10)))         (I = A² for amplitude)
    unit  = (clip(level, lo, hi) − lo) / (hi − lo)

For ``units=db`` the raster already holds the level; for ``units=display8`` (an 8-bit display
rendering, already log-scaled) the level is the raw value and [lo, hi] = [0, 255].
[lo, hi] is a fixed dB range (``db_range``) or per-scene percentiles of the valid pixels
(``percentiles``), computed once per scene and recorded as a :class:`Scaling`.

Inverse: level = lo + unit·(hi − lo), then I = 10^(level/10) (A = 10^(level/20)). The round trip is
exact (to float precision) for values inside [lo, hi] and above the floor; values outside are clipped.
``auto`` picks units per file: complex → intensity, uint8 → display8, any negative value → db,
else intensity.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

UNITS: tuple[str, ...] = ("intensity", "amplitude", "db", "display8", "auto")


@dataclass(frozen=True)
class Scaling:
    """The clip range [lo, hi] in level units (dB, or raw 8-bit values for display8)."""

    lo: float
    hi: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Representation:
    """How physical values become [0, 1] and back (see module docstring)."""

    units: str = "intensity"
    db_range: tuple[float, float] | None = (-30.0, 10.0)
    percentiles: tuple[float, float] | None = None
    floor_db: float = -60.0

    def __post_init__(self) -> None:
        if self.units not in UNITS:
            raise ValueError(f"representation.units must be one of {UNITS}, got {self.units!r}")
        if (self.db_range is None) == (self.percentiles is None):
            raise ValueError("representation: give exactly one of db_range and percentiles")
        if self.db_range is not None:
            object.__setattr__(self, "db_range", tuple(float(v) for v in self.db_range))
        if self.percentiles is not None:
            object.__setattr__(self, "percentiles", tuple(float(v) for v in self.percentiles))

    def resolve(self, dtype: str | np.dtype, sample: np.ndarray) -> Representation:
        """Concrete units for one file when ``units=auto`` (see module docstring)."""
        if self.units != "auto":
            return self
        dtype = np.dtype(dtype)
        if np.issubdtype(dtype, np.complexfloating):
            units = "intensity"
        elif dtype == np.uint8:
            units = "display8"
        elif sample.size and np.nanmin(sample) < 0:
            units = "db"
        else:
            units = "intensity"
        return replace(self, units=units)

    def to_level(self, values: np.ndarray) -> np.ndarray:
        """Physical values to the log domain (dB), or raw values for db/display8."""
        values = np.asarray(values, dtype=np.float64)
        if self.units == "intensity":
            return 10.0 * np.log10(np.maximum(values, 10.0 ** (self.floor_db / 10.0)))
        if self.units == "amplitude":
            return 20.0 * np.log10(np.maximum(values, 10.0 ** (self.floor_db / 20.0)))
        self._require_concrete()
        return values

    def from_level(self, level: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_level`."""
        level = np.asarray(level, dtype=np.float64)
        if self.units == "intensity":
            return 10.0 ** (level / 10.0)
        if self.units == "amplitude":
            return 10.0 ** (level / 20.0)
        self._require_concrete()
        return level

    def scaling(self, values: np.ndarray, valid: np.ndarray) -> Scaling:
        """The clip range for a scene: fixed, or percentiles of its valid pixels."""
        if self.units == "display8":
            return Scaling(0.0, 255.0)
        if self.db_range is not None:
            return Scaling(*self.db_range)
        level = self.to_level(values[valid])
        if level.size == 0:
            raise ValueError("no valid pixels to compute percentiles from")
        lo, hi = np.percentile(level, self.percentiles)
        return Scaling(float(lo), float(max(hi, lo + 1e-3)))

    def to_unit(self, values: np.ndarray, scaling: Scaling) -> np.ndarray:
        """Physical values to float32 in [0, 1]."""
        return unit_from_level(self.to_level(values), scaling)

    def from_unit(self, unit: np.ndarray, scaling: Scaling) -> np.ndarray:
        """[0, 1] back to physical units (float64)."""
        level = scaling.lo + np.asarray(unit, dtype=np.float64) * (scaling.hi - scaling.lo)
        return self.from_level(level)

    def to_intensity(self, physical: np.ndarray) -> np.ndarray | None:
        """Physical values as linear intensity (amplitude squared, dB -> 10^(dB/10));
        ``None`` for ``display8``, which has no linear radiometry."""
        self._require_concrete()
        physical = np.asarray(physical, dtype=np.float64)
        if self.units == "intensity":
            return physical
        if self.units == "amplitude":
            return physical**2
        if self.units == "db":
            return 10.0 ** (physical / 10.0)
        return None

    def _require_concrete(self) -> None:
        if self.units == "auto":
            raise ValueError("units=auto must be resolved per file with Representation.resolve()")


def unit_from_level(level: np.ndarray, scaling: Scaling) -> np.ndarray:
    """Levels (dB, or raw values for db/display8) clipped to [lo, hi] and scaled to float32 [0, 1]."""
    level = np.clip(level, scaling.lo, scaling.hi)
    return ((level - scaling.lo) / (scaling.hi - scaling.lo)).astype(np.float32)
