"""Portable coding (.sarc version 2): deterministic elementary functions and coder tables, and h_s
as an exact integer network (sarcomp.models.exactmath, tables, intnet)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.special
import torch

from sarcomp.models import SARCodec, exactmath, intnet, tables
from sarcomp.models.zoo import load_pretrained
from tests.helpers import REPO

GAUSSIAN_SHA256 = "335cd2fbc1d2233d10af5470c0ce46760d0249b78961811dd7f0ec86558823c2"  # format v2
SCALES_SHA256 = "deb7bafe3a8f5f0b7d4b2180068c3806d535d9957c4c4810480ef6d64654ec31"


def _digest(t: tables.CoderTables) -> str:
    h = hashlib.sha256()
    for part in (t.quantized_cdf, t.cdf_length, t.offset):
        h.update(part.numpy().tobytes())
    return h.hexdigest()


def test_exact_functions_match_the_reference_to_a_few_ulp():
    x = np.linspace(-30, 30, 20001)
    assert np.max(np.abs(exactmath.exp(x) / np.exp(x) - 1)) < 1e-15
    assert np.max(np.abs(exactmath.normal_cdf(x) - scipy.special.ndtr(x))) < 1e-15
    assert np.max(np.abs(exactmath.sigmoid(x) - scipy.special.expit(x))) < 1e-15
    assert np.max(np.abs(exactmath.tanh(x) - np.tanh(x))) < 1e-15
    assert np.max(np.abs(exactmath.softplus(x) / np.logaddexp(0, x) - 1)) < 1e-15
    positive = np.exp(np.linspace(-700, 700, 2001))
    assert np.max(np.abs(exactmath.log(positive) - np.log(positive))) < 1e-12
    with pytest.raises(ValueError):
        exactmath.log(np.array([0.0]))


def test_the_version2_tables_are_pinned_and_close_to_compressai():
    """The Gaussian tables and the scale table are part of format version 2: their bits are pinned.
    CompressAI's float32 ``update()`` gives the same rows, lengths and offsets, entries within 2."""
    ours = tables.gaussian_tables()
    assert _digest(ours) == GAUSSIAN_SHA256
    assert hashlib.sha256(tables.scale_table().tobytes()).hexdigest() == SCALES_SHA256
    _, model = load_pretrained("baseline-ms-s8-l01")
    gc, eb = model.latent_codec.y.gaussian_conditional, model.latent_codec.hyper.z.entropy_bottleneck
    np.testing.assert_allclose(tables.scale_table(), gc.scale_table.double().numpy(), rtol=1e-6)
    for mine, theirs in ((ours, gc), (tables.bottleneck_tables(eb), eb)):
        assert torch.equal(mine.cdf_length, theirs._cdf_length.int())
        assert torch.equal(mine.offset, theirs._offset.int())
        assert (mine.quantized_cdf - theirs._quantized_cdf).abs().max() <= 2


_TABLES = """
import hashlib, json, torch
from sarcomp.models import tables
from sarcomp.models.zoo import load_pretrained
from tests.test_portable import _digest
_, model = load_pretrained("baseline-ms-s8-l01")
print(json.dumps([torch.backends.cpu.get_cpu_capability(), _digest(tables.gaussian_tables()),
                  _digest(tables.bottleneck_tables(model.latent_codec.hyper.z.entropy_bottleneck))]))
"""


@pytest.mark.slow
def test_tables_are_the_same_with_scalar_cpu_kernels_and_without_numpy_simd():
    """torch's scalar kernels give CompressAI's default scale table other bits (10 of 64 entries
    one ulp apart on an AVX-512 machine); these tables do not move."""
    _, model = load_pretrained("baseline-ms-s8-l01")
    here = [GAUSSIAN_SHA256, _digest(tables.bottleneck_tables(model.latent_codec.hyper.z.entropy_bottleneck))]
    env = {
        **os.environ,
        "ATEN_CPU_CAPABILITY": "default",
        "NPY_DISABLE_CPU_FEATURES": "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX2 FMA3 F16C AVX",
        "PYTHONPATH": str(REPO),
    }
    run = subprocess.run([sys.executable, "-c", _TABLES], cwd=REPO, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    capability, *there = json.loads(run.stdout.strip().splitlines()[-1])
    assert capability == "DEFAULT" and there == here


def _layers(name: str = "baseline-ms-s8-l01"):
    _, model = load_pretrained(name)
    return model, model.latent_codec.hyper.network()


def test_every_integer_layer_keeps_its_sums_below_2_to_the_24():
    model, network = _layers()
    for layer in network.layers:
        w = layer.weight.double().numpy()
        w_out = w.transpose(1, 0, 2, 3) if isinstance(layer.conv, torch.nn.ConvTranspose2d) else w
        assert np.all(w == np.rint(w))
        stride = layer.conv.stride if isinstance(layer.conv, torch.nn.ConvTranspose2d) else (1, 1)
        assert np.all(intnet._taps_l1(w_out, stride) * layer.limit < intnet.HALF_LIMIT)
        bias = np.ldexp(np.abs(layer.bias), layer.frac_cap + layer.exponent)
        assert np.all(np.rint(bias) <= intnet.HALF_LIMIT)


def _latents(model: SARCodec, x: torch.Tensor):
    with torch.no_grad():
        y = model.g_a(x)
        eb = model.latent_codec.hyper.z.entropy_bottleneck
        medians = eb.quantiles[:, 0, 1]
        symbols = eb.quantize(model.latent_codec.hyper.analysis(y), "symbols", medians.reshape(-1, 1, 1))
        return y, symbols, medians


def test_integer_path_is_the_same_in_float32_and_float64_even_for_hostile_symbols():
    model, network = _layers()
    torch.manual_seed(0)
    medians = model.latent_codec.hyper.z.entropy_bottleneck.quantiles[:, 0, 1]
    for magnitude in (3, 40, 1 << 20, (1 << 31) - 1):
        symbols = torch.randint(-magnitude, magnitude, (2, 64, 3, 5), dtype=torch.int64).int()
        a = network(symbols, medians, (12, 20))
        b = network(symbols, medians, (12, 20), dtype=torch.float64)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        assert a[0].dtype == torch.int32 and 0 <= int(a[0].min()) and int(a[0].max()) <= 63


def test_integer_path_follows_the_float_h_s():
    """On a synthetic tile: most indexes equal the float path's, the rest one step away; the
    means within a small fraction of their scale."""
    from sarcomp.data.synthetic import generate_scene

    intensity, _ = generate_scene(128, 1, 0)
    unit = np.clip((10 * np.log10(intensity) + 30) / 40, 0, 1).astype(np.float32)
    model, network = _layers()
    y, symbols, medians = _latents(model, torch.from_numpy(unit)[None, None])
    indexes, means = network(symbols, medians, y.shape[-2:])
    z_hat = symbols.float() + medians.reshape(-1, 1, 1)
    with torch.no_grad():
        params = model.latent_codec.hyper.h_s(z_hat)[..., : y.shape[-2], : y.shape[-1]]
        scales, float_means = model.latent_codec.y.split(params)
    float_indexes = model.latent_codec.y.gaussian_conditional.build_indexes(scales)
    assert (indexes == float_indexes).float().mean() > 0.85
    assert (indexes - float_indexes).abs().max() <= 1
    relative = (means - float_means).abs() / scales.clamp_min(tables.SCALES_MIN)
    assert relative.median() < 0.01 and relative.max() < 0.1


def test_table_rounded_down_to_float32_compares_as_the_float64_table():
    table = tables.scale_table()[:-1]
    down = intnet._round_down_float32(table)
    values = np.concatenate([down, np.nextafter(down, np.float32(np.inf)), np.float32(table)]).astype(
        np.float32
    )
    counted = (table[None, :] < values.astype(np.float64)[:, None]).sum(axis=1)
    bucketed = torch.bucketize(torch.from_numpy(values), torch.from_numpy(down)).numpy()
    np.testing.assert_array_equal(bucketed, counted)


def test_update_and_new_weights_derive_the_portable_state_again():
    model = SARCodec(channels=(8, 8), latent_channels=8, hyper_channels=4, entropy="meanscale").eval()
    model.update(force=True)
    network = model.latent_codec.hyper.network
    first = network()
    assert network() is first
    model.update(force=True)
    second = network()
    assert second is not first
    model.load_state_dict(model.state_dict())
    assert network() is not second
