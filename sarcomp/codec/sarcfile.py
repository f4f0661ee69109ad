"""Opening a ``.sarc`` file (or its bytes) and finding the model that decodes it.

Imports nothing heavier than numpy at module level, so ``sarcomp info`` reads a header without
torch; :func:`decoder_model` loads the model (and torch) only when it is called.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from sarcomp.codec.container import ID_NAME, Header, read_header
from sarcomp.data.representation import Representation, Scaling
from sarcomp.errors import BitstreamError, SarcompError

if TYPE_CHECKING:
    from sarcomp.codec.modelref import LoadedModel


def open_sarc(path: str | Path) -> tuple[BinaryIO, Header, int]:
    """Open a ``.sarc`` file and parse (and checksum) its header; the caller closes the handle."""
    path = Path(path)
    if not path.is_file():
        raise SarcompError(f"{path}: file not found")
    fh = open(path, "rb")  # noqa: SIM115 - returned to the caller
    try:
        header, offset = read_header(fh, path.stat().st_size, str(path))
    except BaseException:
        fh.close()
        raise
    return fh, header, offset


def open_sarc_bytes(data: bytes, name: str = "<bytes>") -> tuple[BinaryIO, Header, int]:
    """:func:`open_sarc` for a ``.sarc`` file held in memory."""
    fh = io.BytesIO(data)
    header, offset = read_header(fh, len(data), name)
    return fh, header, offset


def physical_values(header: Header, unit: np.ndarray, valid: np.ndarray, fill: float) -> np.ndarray:
    """Decoded [0, 1] values in the source's units (intensity, amplitude, dB; display8 rounded to
    0..255), ``fill`` where the pixel was not valid."""
    physical = Representation(units=header.units).from_unit(unit, Scaling(header.lo, header.hi))
    if header.units == "display8":
        physical = np.rint(np.clip(physical, 0, 255))
    return np.where(valid, physical, fill)


def decoder_model(header: Header, model_ref: str | Path | None, device, name: str) -> LoadedModel:
    """The model that made ``header``'s file: ``model_ref`` if given, else the shipped model it
    names, else the run folder or checkpoint recorded in it; another model is refused."""
    from sarcomp.codec.loading import cached_model

    ref = model_ref or (header.model.value.decode() if header.model.kind == ID_NAME else None)
    hint = header.geo.model_hint if header.geo else ""
    if not ref and not (hint and Path(hint).exists()):
        where = f" (recorded as {hint}, now absent)" if hint else ""
        raise SarcompError(
            f"{name}: made with model {header.model}{where}; pass --model <run folder or checkpoint>"
        )
    ref = ref or hint
    loaded = cached_model(ref, device)
    if loaded.identity != header.model:
        raise BitstreamError(
            f"{name}: made with model {header.model}, but --model {ref} is {loaded.identity}; "
            "decode it with the model that made it"
        )
    return loaded
