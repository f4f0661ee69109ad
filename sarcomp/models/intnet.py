"""h_s as an integer network, so that the coder's table indexes are the same on every machine.

The decoder of a hyperprior recomputes each element's scale from ẑ with h_s and quantises it to
an index into the scale table; in floating point the index depends on how the convolutions round
(CPU family, oneDNN or not, threads, memory layout, batch size, GPU), and one index that differs
from the encoder's derails the range decoder for the rest of its tile. Here h_s runs in integer
arithmetic (after Ballé, Minnen & Johnston, "Integer networks for data compression with
latent-variable models", ICLR 2019), derived from the float weights at load, without training
or calibration data:

- **weights**: output channel c of each layer has integer weights round(W_c · 2**g_c), g_c the
  largest exponent for which the sum of |weights| meeting one output (one stride phase of a
  transposed convolution) times the largest input, 2**bits - 1, stays below 2**23;
- **activations**: each layer's input is an integer a, |a| <= 2**bits - 1 (:data:`INPUT_BITS`
  for ẑ, :data:`HIDDEN_BITS` after), standing for a · 2**-f. The binary point f is chosen **per
  tile**, from the tile's own largest magnitude at that layer (exact: a maximum of exact numbers
  and an exponent), so nothing is clipped and nothing needs calibrating; f is capped so that the
  bias, round(b_c · 2**(f + g_c)), stays within 2**23 too. ẑ itself is z's decoded symbols plus
  the factorised prior's float32 medians, one correctly rounded float64 addition;
- **sums**: every product and every partial sum of every output is then an integer below 2**24,
  which float32 holds exactly, **in any order of summation**: the convolutions run as float32
  ``conv2d`` / ``conv_transpose2d`` on any backend that only multiplies and adds (oneDNN, im2col +
  GEMM; NNPACK, whose FFT/Winograd would not, and on CUDA cuDNN and TF32 are switched off around
  them), with the bias added afterwards;
- **between layers**: the activation (ReLU, or LeakyReLU with the model's float32 slope: |acc| <
  2**24 times a 24-bit significand is exact in float64), a multiplication by a power of two,
  round-half-even and a clamp: exact;
- **indexes**: the last layer's scale channels, acc · 2**-(f + g_c) (exact in float32), are compared
  with the scale table (:func:`sarcomp.models.tables.scale_table`, rounded down to float32 so that
  float32 comparisons decide exactly as float64 ones): index = how many of its first 63 entries
  lie below, as CompressAI's ``build_indexes``. The means (mean-scale hyperprior) are the same
  exact numbers of the other channels.

Every number the decoder derives is thus a function of z's symbols and the stored float32 weights
alone, whatever the machine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sarcomp.models import tables

HALF_BITS = 23
HALF_LIMIT = 1 << HALF_BITS  # weights' sum and bias each stay within this: their sum within 2**24
INPUT_BITS, HIDDEN_BITS = 10, 9  # magnitude bits of h_s's input ẑ and of its hidden activations
CHAIN_BITS, CHAIN_HALF_BITS = 16, 46  # an IntegerChain's activations; its weights' and bias's bound
MAX_FRAC = 60  # binary-point cap when nothing else bounds it (an all-zero tile)
UNIT_EXPONENT = 120  # f + g_c stays below this: 2**-(f + g_c) is a normal float32
_EXACT_LOCK = threading.Lock()  # _exact_convolutions: one thread at a time


@dataclass(frozen=True)
class _Layer:
    """One convolution of the integer h_s."""

    weight: Tensor  # float32 integers
    bias: np.ndarray  # float64, the float bias (scaled per tile)
    exponent: np.ndarray  # int64 [C]: g_c
    frac_cap: int  # largest input binary point that keeps every |bias| <= 2**23
    limit: int  # largest input magnitude, 2**bits - 1
    conv: nn.Conv2d | nn.ConvTranspose2d  # geometry only (stride, padding, ...)
    slope: float | None  # LeakyReLU slope, 0.0 for ReLU, None for no activation

    def accumulate(self, a: Tensor, frac: np.ndarray) -> Tensor:
        """The integer outputs (exact) of integer inputs ``a`` whose binary points are ``frac`` per item."""
        c, w = self.conv, self.weight.to(a)
        if isinstance(c, nn.ConvTranspose2d):
            acc = F.conv_transpose2d(a, w, None, c.stride, c.padding, c.output_padding)
        else:
            acc = F.conv2d(a, w, None, c.stride, c.padding)
        bias = np.rint(np.ldexp(self.bias[None, :], frac[:, None] + self.exponent[None, :]))
        return acc.add_(torch.from_numpy(bias).to(acc)[:, :, None, None])

    def activate(self, acc: Tensor) -> Tensor:
        """The activation on the accumulator, in float64: exact (|acc| < 2**24, a float32 slope)."""
        x = acc.double()
        return x if self.slope is None else F.leaky_relu_(x, self.slope)

    def units(self, frac: np.ndarray) -> np.ndarray:
        """The real value of one accumulator unit, 2**-(frac + g_c), per item and channel [N, C]."""
        return np.ldexp(1.0, -(frac[:, None] + self.exponent[None, :]))


class IntegerHyperSynthesis:
    """h_s of a hyperprior (``hyperprior`` or ``meanscale``) as an integer network (module
    docstring): ``(ẑ, y's size) -> (scale-table indexes int32, means float32 or None)``."""

    def __init__(
        self, h_s: nn.Sequential, scale_table: np.ndarray, means: bool, bits: Sequence[int] | None = None
    ):
        pairs = _conv_activation_pairs(h_s)
        bits = bits or (INPUT_BITS, *[HIDDEN_BITS] * (len(pairs) - 1))
        if len(bits) != len(pairs):
            raise ValueError(f"integer h_s: {len(pairs)} layers, {len(bits)} activation widths")
        self.means = means
        self.table = _boundaries(scale_table)
        self.layers = [_integer_layer(conv, slope, (1 << b) - 1) for (conv, slope), b in zip(pairs, bits)]

    def __call__(
        self, z_symbols: Tensor, medians: Tensor, y_size: Sequence[int], dtype: torch.dtype = torch.float32
    ) -> tuple[Tensor, Tensor | None]:
        """Indexes (and means) for a y of spatial size ``y_size`` from ẑ = z's decoded symbols plus
        the factorised prior's ``medians`` (per channel): :meth:`indexes` of :meth:`outputs`."""
        return self.indexes(self.outputs(z_symbols, medians, y_size, dtype))

    @torch.no_grad()
    def outputs(
        self, z_symbols: Tensor, medians: Tensor, y_size: Sequence[int], dtype: torch.dtype = torch.float32
    ) -> Tensor:
        """h_s's outputs cut to ``y_size``, exact (float32): the integer network on ẑ. ``dtype``
        carries the integers through the convolutions (float32; float64 gives the same numbers)."""
        device = medians.device
        x = z_symbols.to(device, torch.float64) + medians.double().reshape(1, -1, 1, 1)
        x, unit = _run(self.layers, x, dtype)
        last = self.layers[-1]
        acc = x[..., : y_size[-2], : y_size[-1]].float()  # exact: |acc| < 2**24
        if last.slope is not None:  # ReLU of a hyperprior's scales; a LeakyReLU rounds once here
            acc = F.leaky_relu(acc, last.slope)
        return acc * torch.from_numpy(unit.astype(np.float32)).to(device)[:, :, None, None]  # exact

    def indexes(self, values: Tensor) -> tuple[Tensor, Tensor | None]:
        """Scale-table indexes (int32) of the scale channels of :meth:`outputs`, and the means."""
        channels = values.shape[1] // 2 if self.means else values.shape[1]
        indexes = torch.bucketize(values[:, :channels].contiguous(), self.table.to(values.device)).int()
        return indexes, values[:, channels:] if self.means else None


def _boundaries(scale_table: np.ndarray) -> Tensor:
    """The first 63 scales rounded down to float32: bucketize against them gives the indexes."""
    return torch.from_numpy(_round_down_float32(np.asarray(scale_table[:-1], np.float64)))


@lru_cache(maxsize=1)
def scale_boundaries() -> Tensor:
    """:func:`_boundaries` of the default scale table: index = ``bucketize(scale, these)``."""
    return _boundaries(tables.scale_table())


class IntegerChain:
    """A chain of convolutions (each with ReLU, LeakyReLU or nothing after it) as an integer
    network carried in float64, for a context model's parameter networks: inputs of
    :data:`CHAIN_BITS` bits, every sum below 2**:data:`CHAIN_HALF_BITS` · 2 (exact in float64 in any
    order), the rest as h_s's (module docstring). ``chain(x)``: the outputs (float64) of the exact
    real inputs ``x``, a function of ``x`` and the float32 weights alone."""

    def __init__(self, network: nn.Sequential):
        limit = (1 << CHAIN_BITS) - 1
        self.layers = [
            _integer_layer(c, s, limit, CHAIN_HALF_BITS) for c, s in _conv_activation_pairs(network)
        ]

    @torch.no_grad()
    def __call__(self, x: Tensor) -> Tensor:
        acc, unit = _run(self.layers, x.double(), torch.float64)
        last = self.layers[-1]
        out = acc if last.slope is None else F.leaky_relu(acc, last.slope)  # one rounding at most
        return out * torch.from_numpy(unit).to(out)[:, :, None, None]  # times powers of two: exact


def _run(layers: Sequence[_Layer], x: Tensor, dtype: torch.dtype) -> tuple[Tensor, np.ndarray]:
    """The integer layers on the exact real values ``x`` (float64): (the last layer's accumulator
    before its activation, its unit per item and channel)."""
    device = x.device
    unit = np.ones((len(x), 1))  # x · unit: the exact real values
    with _exact_convolutions(device):
        for i, layer in enumerate(layers):
            frac = _binary_point(x, unit, layer)
            scale = torch.from_numpy(np.ldexp(unit, frac[:, None])).to(device)[:, :, None, None]
            a = (x * scale).round_().clamp_(-layer.limit, layer.limit).to(dtype)
            acc, unit = layer.accumulate(a, frac), layer.units(frac)
            x = layer.activate(acc) if i < len(layers) - 1 else acc
    return x, unit


def _binary_point(x: Tensor, unit: np.ndarray, layer: _Layer) -> np.ndarray:
    """Per item, the binary point f of ``layer``'s input: the largest with the tile's largest
    magnitude, max |x · unit|, below 2**bits · 2**-f, and at most the layer's cap."""
    flat = x.flatten(2)
    magnitude = torch.maximum(flat.amax(dim=2), -flat.amin(dim=2)).cpu().numpy()  # [N, C]
    peak = (magnitude * unit).max(axis=1)  # exact: magnitudes times powers of two
    exponent = np.frexp(peak)[1]  # peak < 2**exponent
    bits = int(layer.limit).bit_length()
    return np.minimum(np.where(peak > 0, bits - exponent, MAX_FRAC), layer.frac_cap).astype(np.int64)


def _conv_activation_pairs(h_s: nn.Sequential) -> list[tuple[nn.Conv2d | nn.ConvTranspose2d, float | None]]:
    """h_s as (convolution, activation slope) pairs: ReLU 0.0, LeakyReLU its float32 slope, none None."""
    pairs: list = []
    for module in h_s:
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            pairs.append([module, None])
        elif pairs and pairs[-1][1] is None and isinstance(module, (nn.ReLU, nn.LeakyReLU)):
            slope = module.negative_slope if isinstance(module, nn.LeakyReLU) else 0.0
            pairs[-1][1] = float(np.float32(slope))
        else:
            raise ValueError(f"integer h_s: unsupported layer {module}")
    return [(conv, slope) for conv, slope in pairs]


def _integer_layer(
    conv: nn.Conv2d | nn.ConvTranspose2d, slope: float | None, limit: int, half_bits: int = HALF_BITS
) -> _Layer:
    """Integer weights of one convolution whose inputs are at most ``limit`` in magnitude
    (module docstring: the per-channel exponent g_c), and the cap on its input's binary point.
    ``half_bits``: weights' sum and bias each stay within 2**half_bits (23: sums exact in float32;
    up to 51 for a network carried in float64, whose weights are then float64)."""
    transposed = isinstance(conv, nn.ConvTranspose2d)
    if conv.groups != 1 or conv.dilation != (1, 1):
        raise ValueError("integer h_s: grouped or dilated convolutions are not supported")
    w = conv.weight.detach().cpu().double().numpy()
    w_out = w.transpose(1, 0, 2, 3) if transposed else w  # [out, in, kh, kw]
    b = conv.bias.detach().cpu().double().numpy() if conv.bias is not None else np.zeros(len(w_out))
    g = half_bits - np.frexp(np.abs(w_out).reshape(len(w_out), -1).max(axis=1))[1]  # |weights| < 2**half
    while True:
        w_int = np.rint(np.ldexp(w_out, g[:, None, None, None]))
        # exact below 2**53, and a sum that is not is far above the limit on every machine
        over = _taps_l1(w_int, conv.stride if transposed else (1, 1)) * limit >= (1 << half_bits)
        if not over.any():
            break
        g = np.where(over, g - 1, g)
    # |b| < 2**e_b, so |b| 2**(f + g) <= 2**23 whenever f <= 23 - g - e_b; and 2**-(f + g) stays a
    # normal float32 (the last layer's units)
    nonzero = b != 0
    cap = min(MAX_FRAC, UNIT_EXPONENT - int(g.max()))
    if nonzero.any():
        cap = min(cap, int(np.min(half_bits - g[nonzero] - np.frexp(np.abs(b[nonzero]))[1])))
    weight = w_int.transpose(1, 0, 2, 3) if transposed else w_int
    return _Layer(
        torch.from_numpy(np.ascontiguousarray(weight, np.float32 if half_bits <= 23 else np.float64)),
        b,
        g.astype(np.int64),
        cap,
        limit,
        conv,
        slope,
    )


def _taps_l1(w: np.ndarray, stride: tuple[int, int]) -> np.ndarray:
    """Per output channel, the largest sum of |w| over the taps that meet in one output: all taps
    of a convolution; those of one stride phase (kernel rows ≡ r, columns ≡ s) of a transposed one.
    |w| < 2**23 and at most 2**12 taps: float64 sums are exact."""
    sh, sw = stride
    a = np.abs(w)
    return np.max([a[:, :, r::sh, s::sw].sum(axis=(1, 2, 3)) for r in range(sh) for s in range(sw)], axis=0)


def _round_down_float32(values: np.ndarray) -> np.ndarray:
    """Each value as the largest float32 not above it: for any float32 v, ``t < v`` exactly when
    ``round_down(t) < v``, so float32 comparisons give the float64 table's indexes."""
    near = values.astype(np.float32)
    return np.where(near.astype(np.float64) > values, np.nextafter(near, np.float32(-np.inf)), near)


@contextmanager
def _exact_convolutions(device: torch.device) -> Iterator[None]:
    """Convolution backends that only multiply and add: oneDNN in IEEE float32 (no bf16 or TF32
    down-conversion), no NNPACK (FFT, Winograd); on CUDA no cuDNN (FFT, Winograd, TF32) and IEEE
    float32 matrix products (not tested here: no GPU). Process-wide switches, restored on exit, so
    one thread at a time: threads coding tiles at once (:mod:`sarcomp.codec.pipeline`) would
    otherwise restore them under each other."""
    backends = torch.backends
    switches = [(backends.mkldnn.conv, "fp32_precision", "ieee")]
    if device.type == "cuda":
        switches += [(backends.cudnn, "enabled", False), (backends.cuda.matmul, "fp32_precision", "ieee")]
    with _EXACT_LOCK, ExitStack() as stack:
        stack.enter_context(backends.nnpack.flags(enabled=False))
        for owner, name, value in switches:
            stack.callback(setattr, owner, name, getattr(owner, name))
            setattr(owner, name, value)
        yield
