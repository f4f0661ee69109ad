"""Block-adaptive quantisation (BAQ) of complex SAR samples: the on-board anchor of issue 29.

Per block of ``block`` (rows, cols) samples the encoder estimates the scale
``σ = √(mean(I² + Q²) / 2)`` (the standard deviation of I and of Q for zero-mean circular data),
stores it in 16 bits (the upper half of its float32: sign, 8-bit exponent, 7-bit mantissa, rounded
to nearest) and quantises every I and every Q with the ``bits``-bit Lloyd-Max quantiser of a
unit Gaussian scaled by the stored σ. The payload is the scales (16 bits per block, row-major)
followed by the I and Q indices packed at ``bits`` bits each, no header (shape, ``bits`` and
``block`` are known to the decoder), so the rate is exactly

    bits per complex sample = 2·bits + 16·blocks / samples   (+ < 8 bits of byte padding in all).

Edge blocks may be partial; each still costs one scale. For Gaussian I/Q the SNR is the
Lloyd-Max one: 9.30, 14.62, 20.22 dB at 2, 3, 4 bits (:func:`lloyd_max_snr_db`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import special

SCALE_BITS = 16
BITS = (1, 2, 3, 4, 5, 6, 7, 8)


@cache
def lloyd_max_gaussian(bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(thresholds, levels) of the minimum-MSE ``bits``-bit quantiser of N(0, 1): Lloyd's
    iteration with exact Gaussian centroids, to 1e-12."""
    if bits not in BITS:
        raise ValueError(f"bits must be one of {BITS}, got {bits}")
    n = 2**bits
    levels = special.ndtri((np.arange(n) + 0.5) / n)
    for _ in range(10_000):
        edges = np.concatenate([[-np.inf], (levels[1:] + levels[:-1]) / 2, [np.inf]])
        pdf, cdf = np.exp(-0.5 * edges**2) / np.sqrt(2 * np.pi), special.ndtr(edges)
        new = (pdf[:-1] - pdf[1:]) / (cdf[1:] - cdf[:-1])
        done = np.max(np.abs(new - levels)) < 1e-12
        levels = new
        if done:
            break
    levels.flags.writeable = False
    thresholds = (levels[1:] + levels[:-1]) / 2
    thresholds.flags.writeable = False
    return thresholds, levels


def lloyd_max_snr_db(bits: int) -> float:
    """SNR of the Lloyd-Max quantiser on N(0, 1): −10·log10(1 − Σ P_k·y_k²) (the centroid condition
    makes the error power the input power less the output power)."""
    thresholds, levels = lloyd_max_gaussian(bits)
    p = np.diff(special.ndtr(np.concatenate([[-np.inf], thresholds, [np.inf]])))
    return float(-10 * np.log10(1 - np.sum(p * levels**2)))


def _store_scale(sigma: np.ndarray) -> np.ndarray:
    """float32 scales rounded to their upper 16 bits (uint16 codes)."""
    u = np.asarray(sigma, np.float32).view(np.uint32).astype(np.uint64)
    return np.minimum((u + 0x8000) >> 16, 0x7F7F).astype(np.uint16)  # 0x7F7F: largest finite


def _load_scale(codes: np.ndarray) -> np.ndarray:
    return (codes.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def _block_grid(shape: tuple[int, int], block: tuple[int, int]) -> tuple[np.ndarray, int, int]:
    """Block number of every sample, and the block counts along rows and columns."""
    br, bc = block
    nr, nc = -(-shape[0] // br), -(-shape[1] // bc)
    ids = (np.arange(shape[0]) // br)[:, None] * nc + (np.arange(shape[1]) // bc)[None, :]
    return ids, nr, nc


def _pack(indices: np.ndarray, bits: int) -> bytes:
    unpacked = np.unpackbits(indices.astype(np.uint8)[:, None], axis=1)[:, 8 - bits :]
    return np.packbits(unpacked.ravel()).tobytes()


def _unpack(data: bytes, count: int, bits: int) -> np.ndarray:
    flat = np.unpackbits(np.frombuffer(data, np.uint8))[: count * bits].reshape(count, bits)
    return np.packbits(np.pad(flat, ((0, 0), (8 - bits, 0))), axis=1)[:, 0]


def encode(s: np.ndarray, bits: int, block: tuple[int, int] = (32, 32)) -> bytes:
    """BAQ payload of a complex 2-D array (module doc)."""
    s = np.asarray(s)
    if s.ndim != 2 or not np.iscomplexobj(s) or not np.isfinite(s).all():
        raise ValueError(f"need a finite complex 2-D array, got {s.dtype} {s.shape}")
    thresholds, _ = lloyd_max_gaussian(bits)
    ids, nr, nc = _block_grid(s.shape, block)
    power = np.bincount(ids.ravel(), (np.abs(s.astype(np.complex128)) ** 2).ravel(), nr * nc)
    sigma = np.sqrt(power / np.bincount(ids.ravel(), minlength=nr * nc) / 2)
    codes = _store_scale(sigma)
    stored = _load_scale(codes)[ids]
    stored[stored == 0] = 1.0  # an all-zero block: every sample quantises to the levels nearest 0
    parts = np.stack([s.real, s.imag]) / stored
    indices = np.searchsorted(thresholds, parts.ravel())
    return codes.astype("<u2").tobytes() + _pack(indices, bits)


def decode(data: bytes, shape: tuple[int, int], bits: int, block: tuple[int, int] = (32, 32)) -> np.ndarray:
    """Complex128 array from a BAQ payload."""
    _, levels = lloyd_max_gaussian(bits)
    ids, nr, nc = _block_grid(shape, block)
    head = 2 * nr * nc
    count = 2 * shape[0] * shape[1]
    if len(data) != head + -(-count * bits // 8):
        raise ValueError(
            f"BAQ payload of {len(data)} bytes does not fit {shape} at {bits} bits, block {block}"
        )
    sigma = _load_scale(np.frombuffer(data[:head], "<u2"))[ids]
    parts = levels[_unpack(data[head:], count, bits)].reshape(2, *shape) * sigma
    return parts[0] + 1j * parts[1]


@dataclass(frozen=True)
class BAQResult:
    """One BAQ run: reconstruction, payload size and rate in bits per complex sample."""

    recon: np.ndarray
    num_bytes: int
    bits_per_sample: float


def baq(s: np.ndarray, bits: int, block: tuple[int, int] = (32, 32)) -> BAQResult:
    """Encode and decode ``s``; the rate counts the real payload bytes."""
    data = encode(s, bits, block)
    recon = decode(data, s.shape, bits, block)
    return BAQResult(recon, len(data), 8 * len(data) / s.size)
