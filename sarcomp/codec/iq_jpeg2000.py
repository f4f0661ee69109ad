"""JPEG 2000 on complex samples: I and Q as two 16-bit images (a baseline of issue 29).

Both parts share one scale ``c = max(|I|, |Q|)`` (stored as float32, 4 bytes) and become
``0.5 + 0.5·x/c`` in [0, 1]; :class:`sarcomp.codec.classic.JPEG2000` quantises each to uint16
(zero lands on 32768, within half a step of the middle) and codes it as a raw J2K codestream.
Decoding inverts the map. The rate counts both codestreams and the scale:

    bits per complex sample = 8·(bytes_I + bytes_Q + 4) / samples

:func:`jpeg2000_iq` matches a target rate by giving each part half the budget
(:func:`sarcomp.codec.classic.encode_at_bpp`, bisection on OpenJPEG's compression ratio).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sarcomp.codec.classic import JPEG2000, encode_at_bpp

SCALE_BYTES = 4


@dataclass(frozen=True)
class IQResult:
    """One run: reconstruction, total bytes (codestreams + scale) and bits per complex sample."""

    recon: np.ndarray
    num_bytes: int
    bits_per_sample: float


def iq_scale(s: np.ndarray) -> np.float32:
    """The shared scale of I and Q (float32, as stored); 1 for an all-zero array."""
    c = np.float32(max(np.abs(s.real).max(), np.abs(s.imag).max()))
    return c if c > 0 else np.float32(1.0)


def jpeg2000_iq(s: np.ndarray, bits_per_sample: float, tol: float = 0.02) -> IQResult:
    """Code ``s`` (complex 2-D) near ``bits_per_sample`` bits per complex sample."""
    s = np.asarray(s)
    if s.ndim != 2 or not np.iscomplexobj(s) or not np.isfinite(s).all():
        raise ValueError(f"need a finite complex 2-D array, got {s.dtype} {s.shape}")
    per_part = bits_per_sample / 2 - 4 * SCALE_BYTES / s.size
    if per_part <= 0:
        raise ValueError(f"{bits_per_sample} bits per sample leaves nothing for the codestreams of {s.shape}")
    codec = JPEG2000(bits=16)
    c = iq_scale(s)
    runs = [encode_at_bpp(codec, 0.5 + 0.5 * part / float(c), per_part, tol=tol) for part in (s.real, s.imag)]
    i, q = ((run.recon - 0.5) * 2 * float(c) for run in runs)
    num_bytes = runs[0].num_bytes + runs[1].num_bytes + SCALE_BYTES
    return IQResult(i + 1j * q, num_bytes, 8 * num_bytes / s.size)
