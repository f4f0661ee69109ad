"""What ``units: auto`` guesses for a file: logged with its evidence, refused when implausible.

The guess itself is :meth:`Representation.resolve` (complex -> intensity, uint8 -> display8, any
negative value -> dB, else intensity). Here every guess is logged per file with the values it
was made from, bands a file holds but the guess leaves unread are a warning, and a guess the
values contradict (dB outside -100..60, e.g. I or Q samples of an SLC read as one band) is an
error naming the file and the settings that fix it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from sarcomp.data.rasters import BandSpec, RasterInfo
from sarcomp.data.representation import Representation
from sarcomp.errors import RasterError

log = logging.getLogger(__name__)

DB_PLAUSIBLE = (-100.0, 60.0)  # SAR backscatter in dB lies well inside this range
FIX = (
    "say what the file holds in a band-spec file (data.band_specs, or bands.yaml in the data folder: "
    "pattern, bands, iq, units) or set data.representation.units"
)


def evidence(info: RasterInfo, spec: BandSpec, sample: np.ndarray) -> str:
    """The facts a guess is made from, as one phrase for the log."""
    bands = f"band(s) {list(spec.bands)}{' as I/Q' if spec.iq else ''} of {info.count}"
    if not sample.size:
        return f"{info.dtype}, {bands}, no valid values"
    return (
        f"{info.dtype}, {bands}, values {np.min(sample):.4g}..{np.max(sample):.4g}, "
        f"median {np.median(sample):.4g}, {np.mean(sample < 0):.0%} negative"
    )


def resolve_units(
    path: Path, info: RasterInfo, spec: BandSpec, representation: Representation, sample: np.ndarray
) -> Representation:
    """Concrete units for one file; for ``auto`` the guess is logged and checked (see module doc)."""
    if representation.units != "auto":
        return representation
    resolved = representation.resolve(info.dtype, sample)
    facts = evidence(info, spec, sample)
    caveat = ""
    if resolved.units == "intensity" and not (info.is_complex or spec.iq):
        caveat = "; amplitude looks alike: name amplitude files in a band-spec file"
    log.info("%s: units=auto guessed %s (%s)%s", path, resolved.units, facts, caveat)
    unread = info.count - len(spec.bands)
    if unread > 0 and not info.is_complex:
        log.warning(
            "%s: has %d bands, units=auto reads band(s) %s only; %s",
            path,
            info.count,
            list(spec.bands),
            "name the bands in a band-spec file (bands, iq) if that is not what you want",
        )
    if resolved.units == "db" and sample.size:
        lo, hi = float(np.min(sample)), float(np.max(sample))
        if lo < DB_PLAUSIBLE[0] or hi > DB_PLAUSIBLE[1]:
            hint = ""
            if info.count == 2 and not spec.iq and 0.25 <= float(np.mean(sample < 0)) <= 0.75:
                hint = " It looks like I/Q samples in two bands (bands: [1, 2], iq: true)."
            raise RasterError(
                f"{path}: units=auto guessed dB from {facts}, implausible for dB "
                f"(outside {DB_PLAUSIBLE[0]:g}..{DB_PLAUSIBLE[1]:g}).{hint} To fix it, {FIX}"
            )
    return resolved
