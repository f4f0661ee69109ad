"""Entropy-model parts of the codec: hyperprior transforms and λ-conditioned gain units.

Hyperpriors (Ballé et al. 2018, Minnen et al. 2018), as CompressAI's ScaleHyperprior and
MeanScaleHyperprior arrange them: a side latent z = h_a(y) is coded with a factorised
``EntropyBottleneck``; h_s(ẑ) predicts the scale (``hyperprior``) or the mean and scale
(``meanscale``) of a Gaussian per element of y, coded with a ``GaussianConditional`` whose scale
table is CompressAI's default (64 log-spaced scales from 0.11 to 256, set by ``update()``).

h_a downsamples y by 4. So that tiles stay multiples of the codec's stride (16) and not of 64,
y is zero-padded on the bottom and right to a multiple of 4 before h_a, and h_s's output is cut
back to y's size; the decoder derives z's size from y's.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from compressai.entropy_models import EntropyBottleneck, EntropyModel, GaussianConditional
from torch import Tensor, nn

from sarcomp.models.tables import CoderTables

HYPER_STRIDE = 4  # downsampling of h_a


def _conv(c_in: int, c_out: int, kernel: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2)


def _deconv(c_in: int, c_out: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(c_in, c_out, 5, stride=2, padding=2, output_padding=1)


class RansCoding(EntropyModel):
    """CompressAI's ``EntropyModel.compress`` / ``decompress``: the same bytes, less work around
    its rANS coder.

    CompressAI hands the coder the whole padded CDF table, converted to nested Python lists on
    every call (64 × 3,133 integers at the Gaussian conditional's default table), and rebuilds
    decoded symbols with ``torch.tensor(list)``. Here only the rows the indexes reach go to the
    coder, each cut to its own length (the coder reads no further); symbols and indexes go, and
    decoded symbols come back, as typed arrays. Mixed in after a CompressAI entropy model (the
    Gaussian conditional's ``compress`` / ``decompress`` are these; the factorised prior's call
    them). Timings: ``experiments/cpu_kernels.py``. ``tables`` replaces the model's own tables
    (``update()``'s): version-2 files are coded with :mod:`sarcomp.models.tables`'s.
    """

    def compress(
        self,
        inputs: Tensor,
        indexes: Tensor,
        means: Tensor | None = None,
        tables: CoderTables | None = None,
    ) -> list[bytes]:
        if inputs.dim() < 2 or inputs.shape != indexes.shape:
            raise ValueError(f"inputs {tuple(inputs.shape)} and indexes {tuple(indexes.shape)} must match")
        symbols = self.quantize(inputs, "symbols", means)
        cdfs, lengths, offsets = self._coder_tables(indexes, tables)
        return [  # nothing to code (a checkerboard's non-anchors of a 1 x 1 latent): no bytes
            self.entropy_coder.encode_with_indexes(_int32s(s), _int32s(i), cdfs, lengths, offsets)
            if i.numel()
            else b""
            for s, i in zip(symbols, indexes)
        ]

    def decompress(
        self,
        strings: list[bytes],
        indexes: Tensor,
        dtype: torch.dtype = torch.float,
        means: Tensor | None = None,
        tables: CoderTables | None = None,
    ) -> Tensor:
        symbols = self.decode_symbols(strings, indexes, tables)
        return self.dequantize(symbols.to(indexes.device), means, dtype)

    def decode_symbols(
        self, strings: list[bytes], indexes: Tensor, tables: CoderTables | None = None
    ) -> Tensor:
        """The integer symbols of ``strings`` (int32, on the CPU), one string per batch item."""
        if not isinstance(strings, (tuple, list)) or len(strings) != indexes.shape[0]:
            raise ValueError(f"need one string per batch item ({indexes.shape[0]}), got {len(strings)}")
        cdfs, lengths, offsets = self._coder_tables(indexes, tables)
        symbols = torch.empty(indexes.shape, dtype=torch.int32)
        for item, (string, index) in enumerate(zip(strings, indexes)):
            if not index.numel():
                continue
            values = self.entropy_coder.decode_with_indexes(string, _int32s(index), cdfs, lengths, offsets)
            symbols[item] = torch.from_numpy(np.frombuffer(array("i", values), np.int32)).view(index.shape)
        return symbols

    def _coder_tables(
        self, indexes: Tensor, tables: CoderTables | None
    ) -> tuple[list[list[int]], list[int], list[int]]:
        """The rANS coder's CDF rows 0 … max(indexes), each cut to its length; lengths; offsets."""
        if tables is None:
            self._check_cdf_size()
            self._check_cdf_length()
            self._check_offsets_size()
            tables = CoderTables(self._quantized_cdf, self._cdf_length, self._offset)
        lengths = tables.cdf_length.tolist()
        rows = int(indexes.max()) + 1 if indexes.numel() else 0
        if rows > len(lengths):
            raise ValueError(f"table index {rows - 1} beyond the {len(lengths)} tables")
        cdfs = [row[:n].tolist() for row, n in zip(tables.quantized_cdf[:rows].cpu(), lengths)]
        return cdfs, lengths, tables.offset.tolist()


class TableEntropyBottleneck(EntropyBottleneck, RansCoding):
    """CompressAI's ``EntropyBottleneck`` (the factorised prior of y, or of a hyperprior's z),
    coding through :class:`RansCoding`: the same bytes. ``tables`` as :class:`RansCoding`'s."""

    def compress(self, x: Tensor, tables: CoderTables | None = None) -> list[bytes]:
        indexes = self._build_indexes(x.size()).to(x.device)
        medians = self._extend_ndims(self._get_medians().detach(), x.dim() - 2)
        return RansCoding.compress(
            self, x, indexes, medians.expand(x.size(0), *([-1] * (x.dim() - 1))), tables
        )

    def decompress(
        self, strings: list[bytes], size: Sequence[int], tables: CoderTables | None = None
    ) -> Tensor:
        return self.decode(strings, size, tables)[1]

    def decode(
        self, strings: list[bytes], size: Sequence[int], tables: CoderTables | None = None
    ) -> tuple[Tensor, Tensor]:
        """(the symbols, int32 on the CPU; their values, symbols + medians) of ``strings``."""
        medians = self._extend_ndims(self._get_medians().detach(), len(size))
        medians = medians.expand(len(strings), *([-1] * (len(size) + 1)))
        indexes = self._build_indexes((len(strings), self.channels, *size)).to(medians.device)
        symbols = self.decode_symbols(strings, indexes, tables)
        return symbols, self.dequantize(symbols.to(medians.device), medians, medians.dtype)


class TableGaussianConditional(GaussianConditional, RansCoding):
    """CompressAI's ``GaussianConditional`` coding through :class:`RansCoding` (the same bytes),
    with ``build_indexes`` as one ``bucketize``: the index of a scale is the number of scale-table
    entries (the last excluded) below it, which CompressAI counts with one comparison pass per
    entry (63 at the default table); a binary search gives the same integers.
    """

    def build_indexes(self, scales: Tensor) -> Tensor:
        scales = self.lower_bound_scale(scales)
        return torch.bucketize(scales, self.scale_table[:-1].to(scales)).int()


def _int32s(values: Tensor) -> array:
    """A tensor's values, flattened, as a typed array: the coder's bindings take any sequence and
    read it faster than a list (``Tensor.tolist()`` builds one Python int per value first)."""
    return array("i", values.reshape(-1).to("cpu", torch.int32).numpy().tobytes())


def hyper_analysis(entropy: str, latent: int, hyper: int) -> nn.Sequential:
    """h_a: y [M] → z [N] at 1/4 of y's size (ReLU for ``hyperprior``, LeakyReLU for ``meanscale``)."""
    act = nn.ReLU if entropy == "hyperprior" else nn.LeakyReLU
    return nn.Sequential(
        _conv(latent, hyper, 3, 1), act(), _conv(hyper, hyper, 5, 2), act(), _conv(hyper, hyper, 5, 2)
    )


def hyper_synthesis(entropy: str, latent: int, hyper: int) -> nn.Sequential:
    """h_s: ẑ [N] → scales [M] (``hyperprior``, ReLU output) or means and scales [2M] (``meanscale``)."""
    if entropy == "hyperprior":
        return nn.Sequential(
            _deconv(hyper, hyper),
            nn.ReLU(),
            _deconv(hyper, hyper),
            nn.ReLU(),
            _conv(hyper, latent, 3, 1),
            nn.ReLU(),
        )
    wide = latent * 3 // 2
    return nn.Sequential(
        _deconv(hyper, latent),
        nn.LeakyReLU(),
        _deconv(latent, wide),
        nn.LeakyReLU(),
        _conv(wide, 2 * latent, 3, 1),
    )


def pad_for_hyper(y: Tensor) -> Tensor:
    """Zero-pad y (bottom, right) to a multiple of :data:`HYPER_STRIDE`."""
    h, w = y.shape[-2:]
    return F.pad(y, (0, -w % HYPER_STRIDE, 0, -h % HYPER_STRIDE))


def hyper_shape(y_shape: Sequence[int]) -> tuple[int, int]:
    """z's spatial size for a y of ``y_shape`` (H, W)."""
    return tuple(-(-int(s) // HYPER_STRIDE) for s in y_shape[-2:])  # type: ignore[return-value]


class GainUnits(nn.Module):
    """Variable rate: one learned gain (and inverse gain) vector per λ of ``lmbdas`` (Cui et al.,
    "Asymmetric gained deep image compression", 2021).

    y is multiplied by gain(λ) before quantisation and ŷ by inverse_gain(λ) after; between two
    trained λ the log-gains are interpolated linearly in log λ. Initialisation: the largest λ is
    the identity; a smaller λ starts at gain sqrt(λ / λ_max) (and its inverse), the MSE-optimal
    step-size scaling of a uniform quantiser, so the rates are spread from step 0 instead of
    after thousands of steps of moving log-gains at the network's learning rate.
    """

    def __init__(self, lmbdas: Sequence[float], channels: int):
        super().__init__()
        values = [float(v) for v in lmbdas]
        if len(values) < 2 or any(v <= 0 for v in values) or values != sorted(set(values)):
            raise ValueError(
                f"variable-rate lmbdas must be at least two increasing positive values, got {values}"
            )
        start = 0.5 * (torch.tensor(values).log() - math.log(values[-1]))  # log sqrt(λ / λ_max)
        self.log_gain = nn.Parameter(start[:, None].repeat(1, channels))
        self.log_inverse_gain = nn.Parameter(-start[:, None].repeat(1, channels))
        self.lmbdas = tuple(values)

    def interpolation(self, lmbda: float) -> tuple[int, float]:
        """(i, t): λ lies at fraction t of the way from lmbdas[i] to lmbdas[i + 1] in log λ."""
        lo, hi = self.lmbdas[0], self.lmbdas[-1]
        if not lo * (1 - 1e-6) <= lmbda <= hi * (1 + 1e-6):  # λ stored as float32 (.sarc) stays in
            raise ValueError(f"lmbda={lmbda} is outside the trained range [{lo}, {hi}]")
        logs = [math.log(v) for v in self.lmbdas]  # plain floats: no device sync, any device
        i = min(max(bisect_right(logs, math.log(lmbda)) - 1, 0), len(logs) - 2)
        t = (math.log(lmbda) - logs[i]) / (logs[i + 1] - logs[i])
        return i, min(max(t, 0.0), 1.0)

    def _vector(self, table: Tensor, lmbda: float) -> Tensor:
        i, t = self.interpolation(lmbda)
        return torch.exp((1 - t) * table[i] + t * table[i + 1])[None, :, None, None]

    def gain(self, lmbda: float) -> Tensor:
        return self._vector(self.log_gain, lmbda)

    def inverse_gain(self, lmbda: float) -> Tensor:
        return self._vector(self.log_inverse_gain, lmbda)
