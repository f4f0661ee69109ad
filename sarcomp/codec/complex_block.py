"""The complex block of a ``.sarc`` file (header flag bit 5): how a complex model's channels map
back to complex samples, so a file holds an SLC band with its phase (issue 29).

A complex file is a single-band file whose tile strings code the channels of a
:class:`~sarcomp.data.complex_representation.ComplexRepresentation` (``iq``: 2, ``logpolar``: 3)
instead of one real channel. The fixed header's units field is ``amplitude`` and ``lo``, ``hi``
are the amplitude's dB range (the ``logpolar`` clip range); this block adds what else the
decoder needs: the form, the compander exponent and the amplitude scale ``c`` (all float32 as
stored), plus what the encoder read (a complex band, or I and Q in two real bands) for ``info``.
Numpy only: ``sarcomp info`` reads it without torch.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from sarcomp.codec.binio import Reader
from sarcomp.data.complex_representation import FORMS, ComplexRepresentation, ComplexScaling
from sarcomp.errors import BitstreamError

MAX_COMPLEX = 64  # bytes: the block is small and fixed
COMPLEX_FIXED = struct.Struct(
    "<BBfff"
)  # form, source kind (0 complex band, 1 I/Q), exponent, percentile, scale


@dataclass(frozen=True)
class ComplexBlock:
    """A complex file's representation and scale, and the source bands it was read from."""

    form: str
    exponent: float
    percentile: float
    scale: float
    iq: bool = False
    bands: tuple[int, ...] = (1,)

    @property
    def channels(self) -> int:
        return self.representation().channels

    def representation(self) -> ComplexRepresentation:
        return ComplexRepresentation(form=self.form, percentile=self.percentile, exponent=self.exponent)

    def scaling(self, lo: float, hi: float) -> ComplexScaling:
        """The scene's scaling, with the header's amplitude dB range."""
        return ComplexScaling(self.scale, lo, hi)

    def describe(self) -> str:
        """One line for ``sarcomp info``."""
        source = f"I/Q bands {self.bands[0]}, {self.bands[1]}" if self.iq else f"complex band {self.bands[0]}"
        how = (
            f"|s|^{self.exponent:g} companded I/Q"
            if self.form == "iq"
            else "dB amplitude + (cos, sin) of the phase"
        )
        return (
            f"complex samples with their phase ({source}): form {self.form} ({how}), amplitude scale "
            f"{self.scale:.6g} (scene percentile {self.percentile:g}); decodes to complex64"
        )

    def pack(self) -> bytes:
        out = COMPLEX_FIXED.pack(
            FORMS.index(self.form), int(self.iq), self.exponent, self.percentile, self.scale
        )
        return out + struct.pack(f"<{len(self.bands)}H", *self.bands)

    @classmethod
    def unpack(cls, data: bytes, name: str) -> ComplexBlock:
        r = Reader(data, f"{name}: complex block")
        form, iq, exponent, percentile, scale = r.struct(COMPLEX_FIXED)
        if form >= len(FORMS) or iq > 1:
            raise BitstreamError(f"{name}: invalid complex block (form {form}, source kind {iq})")
        if not (0 < exponent <= 1 and 0 < percentile <= 100 and np.isfinite(scale) and scale > 0):
            raise BitstreamError(
                f"{name}: invalid complex scaling (exponent {exponent}, percentile {percentile}, scale {scale})"
            )
        count = 2 if iq else 1
        bands = r.struct(struct.Struct(f"<{count}H"))
        r.done()
        if min(bands) < 1 or len(set(bands)) != count:
            raise BitstreamError(f"{name}: invalid complex source bands {list(bands)}")
        return cls(FORMS[form], exponent, percentile, scale, bool(iq), tuple(bands))
