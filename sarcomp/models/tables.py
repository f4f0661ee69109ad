"""The entropy coder's integer tables of version-2 ``.sarc`` files, built the same on every machine.

CompressAI's ``update()`` builds them from float32 ``exp``, ``erfc``, ``softplus``, ``tanh``,
``sigmoid`` and matrix products, whose last bits depend on the CPU's vector width, the libm and
the thread count; a table entry rounded differently on the decoder's machine derails its range
decoder. Here the same distributions are evaluated with :mod:`sarcomp.models.exactmath` (float64,
a fixed sequence of correctly rounded operations) and sums in a fixed order, rounded once to
float32 and quantised by CompressAI's own ``pmf_to_quantized_cdf`` (float32 in, integer
arithmetic after one exact scaling and ``round``): every input bit, hence every table entry, is
the same everywhere.

- :func:`scale_table`: CompressAI's default scales (64 log-spaced from 0.11 to 256), in float64;
- :func:`gaussian_tables`: one row per scale (the Gaussian conditional's tables), shared by
  every model and built once per process;
- :func:`bottleneck_tables`: a factorised prior's rows, one per channel, from its parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from compressai.entropy_models import EntropyBottleneck
from compressai.entropy_models.entropy_models import pmf_to_quantized_cdf
from torch import Tensor

from sarcomp.models import exactmath as em

SCALES_MIN, SCALES_MAX, SCALES_LEVELS = 0.11, 256.0, 64
PRECISION = 16  # bits of the coder's frequencies
GAUSSIAN_TAIL = 6.1094102048693975  # -Φ⁻¹(1e-9 / 2), CompressAI's tail mass: rows reach this many σ out


@dataclass(frozen=True)
class CoderTables:
    """What the rANS coder reads: quantised CDF rows, each row's length, each row's offset."""

    quantized_cdf: Tensor  # int32 [rows, longest + 2]
    cdf_length: Tensor  # int32 [rows]
    offset: Tensor  # int32 [rows]

    def to(self, device: torch.device | str) -> CoderTables:
        return CoderTables(*(t.to(device) for t in (self.quantized_cdf, self.cdf_length, self.offset)))


def scale_table() -> np.ndarray:
    """The 64 scales, exp(log 0.11 + i (log 256 - log 0.11) / 63), float64."""
    lo, hi = em.log(np.array([SCALES_MIN, SCALES_MAX]))
    steps = np.arange(SCALES_LEVELS, dtype=np.float64)
    return em.exp(lo + steps * ((hi - lo) / (SCALES_LEVELS - 1)))


@lru_cache(maxsize=1)
def gaussian_tables() -> CoderTables:
    """Rows of N(0, σ²) quantised to the integers, σ from :func:`scale_table`, each reaching
    ±ceil(σ · 6.11) with the remaining tail mass as one escape symbol (CompressAI's layout)."""
    scales = scale_table()
    center = np.ceil(scales * GAUSSIAN_TAIL).astype(np.int64)
    s = np.concatenate([np.arange(c + 1, dtype=np.float64) for c in center])  # |symbol| 0 … c per row
    sigma = np.repeat(scales, center + 1)
    lower = em.normal_cdf((-0.5 - s) / sigma)
    half = em.normal_cdf((0.5 - s) / sigma) - lower
    ends = np.cumsum(center + 1)
    rows = [np.concatenate([h[:0:-1], h]) for h in np.split(half, ends[:-1])]  # p(-c) … p(c)
    tails = 2.0 * lower[ends - 1]
    return _quantize(rows, tails, -center)


def bottleneck_tables(eb: EntropyBottleneck) -> CoderTables:
    """A factorised prior's rows: its learned CDF (a per-channel monotone network, as CompressAI's
    ``_logits_cumulative``) at the integers between its quantiles, plus both tails' mass."""
    q = eb.quantiles.detach().cpu().numpy().astype(np.float32)[:, 0, :]  # float32 as CompressAI
    medians = q[:, 1]
    minima = np.maximum(np.ceil(medians - q[:, 0]), 0).astype(np.int64)
    maxima = np.maximum(np.ceil(q[:, 2] - medians), 0).astype(np.int64)
    start = medians - minima.astype(np.float32)
    length = maxima + minima + 1
    samples = (np.arange(int(length.max()), dtype=np.float32)[None, :] + start[:, None]).astype(np.float64)
    lower = _logits_cumulative(eb, samples - 0.5)
    upper = _logits_cumulative(eb, samples + 0.5)
    pmf = em.sigmoid(upper) - em.sigmoid(lower)
    tails = em.sigmoid(lower[:, 0]) + em.sigmoid(-upper[:, -1])  # CompressAI's: the last column's upper
    return _quantize([row[:n] for row, n in zip(pmf, length)], tails, -minima)


def _logits_cumulative(eb: EntropyBottleneck, x: np.ndarray) -> np.ndarray:
    """The factorised prior's logit CDF at x [channels, n]: per layer softplus(H) x + b, then
    x + tanh(a) tanh(x); products summed over the layer's inputs in index order."""

    def param(p: Tensor) -> np.ndarray:
        return p.detach().cpu().numpy().astype(np.float64)

    logits = x[:, None, :]  # [channels, filters, n]
    for i, (matrix, bias) in enumerate(zip(eb.matrices, eb.biases)):
        h = em.softplus(param(matrix))  # [channels, out, in]
        out = h[:, :, 0, None] * logits[:, None, 0, :]
        for j in range(1, h.shape[2]):
            out = out + h[:, :, j, None] * logits[:, None, j, :]
        logits = out + param(bias)
        if i < len(eb.factors):
            logits = logits + em.tanh(param(eb.factors[i])) * em.tanh(logits)
    return logits[:, 0, :]


def _quantize(rows: list[np.ndarray], tails: np.ndarray, offset: np.ndarray) -> CoderTables:
    """Each row's probabilities and its tail mass, as float32, to a 16-bit integer CDF by
    CompressAI's ``pmf_to_quantized_cdf``, in the layout of its ``_pmf_to_cdf``."""
    cdf = torch.zeros(len(rows), max(len(r) for r in rows) + 2, dtype=torch.int32)
    for i, (row, tail) in enumerate(zip(rows, tails)):
        pmf = torch.from_numpy(np.append(row, tail).astype(np.float32))
        cdf[i, : len(row) + 2] = pmf_to_quantized_cdf(pmf, PRECISION)
    lengths = torch.tensor([len(r) + 2 for r in rows], dtype=torch.int32)
    return CoderTables(cdf, lengths, torch.from_numpy(offset.astype(np.int32)))
