"""Complex (SLC) rasters through a complex model: which bands are read, what is refused, how a
decoded file becomes complex64 again (issue 29; the container side is
:mod:`sarcomp.codec.complex_block`).

A model trained with ``data.complex`` (``model=complex``) codes the channels of its
:class:`~sarcomp.data.complex_representation.ComplexRepresentation`; it reads a complex band
(complex64, CInt16, ...) or, with ``--iq`` or a band-spec entry saying ``iq: true``, two real bands
as I and Q. A real band for a complex model, ``--iq`` for a real model, and options that only mean
something for real bands (``--bands``, ``--range``, ``--units``) are one-line errors. A complex
band given to a real model is coded as intensity or amplitude, as before (the phase is dropped and
the file's notes say so).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sarcomp.codec.container import Header
from sarcomp.data.bandspecs import BandSpecs, file_settings
from sarcomp.data.complex_representation import ComplexRepresentation
from sarcomp.data.complex_tiles import ComplexScene
from sarcomp.data.loaders import complex_representation
from sarcomp.data.rasters import BandSpec, raster_info
from sarcomp.data.representation import Representation
from sarcomp.errors import BitstreamError, SarcompError


def complex_form(cfg: Mapping[str, Any]) -> ComplexRepresentation | None:
    """The complex representation a model was trained on (None: a real-valued model)."""
    data = cfg.get("data") or {}
    return complex_representation(data) if data.get("complex") else None


def model_channels(cfg: Mapping[str, Any]) -> int:
    """Input channels of a model (its config's ``model.in_channels``)."""
    return int((cfg.get("model") or {}).get("in_channels", 1))


def refuse_iq_for_real_model(src: Path, model: str) -> None:
    raise SarcompError(
        f"{src}: --iq reads bands 1 and 2 as I and Q of complex samples, but model {model} codes real "
        "bands (intensity, amplitude or dB); use a complex model (a run trained with model=complex)"
    )


def complex_scene(
    src: Path,
    form: ComplexRepresentation,
    model: str,
    *,
    band: int | None,
    iq: bool,
    specs: BandSpecs | None,
    real_options: Mapping[str, bool],
) -> ComplexScene:
    """The raster ``src`` as the complex model ``model`` codes it (scaling rounded to float32).

    ``real_options``: option name -> whether it was given, for options a complex model refuses.
    """
    given = [name for name, on in real_options.items() if on]
    if given:
        raise SarcompError(
            f"{src}: {given[0]} applies to real bands; model {model} codes complex samples (one complex "
            "band, or I and Q with --iq) and scales each scene by its own amplitude percentile"
        )
    if iq and band is not None:
        raise SarcompError(
            f"{src}: give --band (a complex band) or --iq (I and Q in bands 1 and 2), not both"
        )
    spec = BandSpec(bands=(1, 2), iq=True) if iq else BandSpec(bands=(int(band or 1),))
    spec, _ = file_settings(src, specs, spec, Representation())
    info = raster_info(src)
    if spec.iq and info.is_complex:
        raise SarcompError(
            f"{src}: --iq reads two real bands as I and Q, but the raster is complex ({info.dtype})"
        )
    if max(spec.bands) > info.count:
        what = (
            "I and Q need bands " + " and ".join(map(str, spec.bands)) if spec.iq else f"band {spec.bands[0]}"
        )
        raise SarcompError(f"{src}: {what}, but the raster has {info.count} band(s)")
    if not spec.iq and not info.is_complex:
        raise SarcompError(
            f"{src}: band {spec.bands[0]} is real ({info.dtype}), but model {model} codes complex samples; "
            "give a complex band (e.g. complex64), or --iq when bands 1 and 2 hold I and Q"
        )
    return ComplexScene.load(src, spec, form).stored()


def describe(scene: ComplexScene) -> str:
    """How a complex scene is scaled, for the notes and the compress report."""
    rep, sc = scene.representation, scene.scaling
    if rep.form == "iq":
        return (
            f"amplitude scale {sc.scale:.6g} (scene percentile {rep.percentile:g}; I/Q companded "
            f"|s|^{rep.exponent:g}, brighter samples saturate, their phase kept)"
        )
    return f"[{sc.lo:.6g}, {sc.hi:.6g}] dB amplitude (scene percentiles {rep.db_percentiles[0]:g}, {rep.db_percentiles[1]:g})"


def check_decoder(header: Header, cfg: Mapping[str, Any], model: str, name: str) -> None:
    """Refuse a model whose channels do not fit the file (a complex file and a real model, or
    the other way round), naming both."""
    want, have = header.channels, model_channels(cfg)
    if want != have:
        what = f"complex samples in {want} channels" if header.complex else "one real band"
        kind = "complex" if have > 1 else "real-valued"
        raise BitstreamError(
            f"{name}: the file holds {what}, but model {model} is a {kind} model ({have} channel(s))"
        )


def complex_values(header: Header, unit: np.ndarray, valid: np.ndarray, fill: complex) -> np.ndarray:
    """Decoded channels [C, n, W] of a complex file as complex64 [n, W], ``fill`` where invalid."""
    block = header.complex
    samples = block.representation().from_unit(unit, block.scaling(header.lo, header.hi))
    return np.where(valid, samples, fill).astype(np.complex64)
