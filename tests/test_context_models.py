"""Context entropy models through the latent-codec seam: the checkerboard (sarcomp.models.checkerboard)
and uneven channel groups with a checkerboard in each (``elic``, sarcomp.models.channel_groups)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import pytest
import torch

from sarcomp.codec.container import ModelId, read_header
from sarcomp.codec.modelref import model_hash
from sarcomp.codec.scene import code_scene
from sarcomp.models import PLACEMENTS, SARCodec
from sarcomp.models.checkerboard import _tap_convolution, _taps, anchors
from sarcomp.models.intnet import CHAIN_HALF_BITS, IntegerChain, _taps_l1
from sarcomp.runs import build_model
from sarcomp.training.loss import bits_per_pixel
from sarcomp.training.trainer import train
from tests.helpers import REPO, compose_train, encoder_y_hat, smoke_overrides

TINY = dict(channels=(8, 8), latent_channels=8, hyper_channels=4)  # stride 8
SIZES = [(8, 8), (24, 40), (56, 72), (64, 64)]  # latents 1x1, 3x5, 7x9 (odd), 8x8
CONTEXT_MODELS = ("checkerboard", "elic")
GROUPS = {"checkerboard": 3, "elic": 9}  # string groups per tile at TINY: 2 per channel group, and z


def _model(seed: int = 0, entropy: str = "checkerboard", **kwargs) -> SARCodec:
    torch.manual_seed(seed)
    model = SARCodec(**{**TINY, **kwargs}, entropy=entropy).eval()
    with torch.no_grad():
        model.g_a[-1][0].weight.mul_(20)  # latents over several quantisation bins
    model.update(force=True)
    return model


@pytest.mark.parametrize("entropy", CONTEXT_MODELS)
@pytest.mark.parametrize("size", SIZES)
def test_float_path_decodes_exactly_what_forward_quantises(size, entropy):
    model, x = _model(entropy=entropy), torch.rand(2, 1, *size)
    out = model.compress(x, portable=False)
    assert out["shape"] == (size[0] // 8, size[1] // 8) and len(out["strings"]) == GROUPS[entropy]
    decoded = model.decompress(out["strings"], out["shape"], portable=False)["x_hat"]
    with torch.no_grad():
        expected = model(x)["x_hat"]
    torch.testing.assert_close(decoded, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("entropy", CONTEXT_MODELS)
@pytest.mark.parametrize("size", SIZES)
def test_portable_path_decodes_exactly_what_the_encoder_quantised(size, entropy):
    model, x = _model(1, entropy), torch.rand(2, 1, *size)
    out = model.compress(x)
    latent = model.decode_latent(out["strings"], out["shape"])
    assert torch.equal(latent["y_hat"], encoder_y_hat(model, model.g_a(x)))
    assert set(latent) == {"y_hat", "y", "indexes", "z"}
    with torch.no_grad():
        expected = model.g_s(latent["y_hat"]).clamp(0, 1)
    torch.testing.assert_close(model.decompress(out["strings"], out["shape"])["x_hat"], expected)


def _threads(n: int) -> AbstractContextManager:
    class Threads:
        def __enter__(self):
            self.before = torch.get_num_threads()
            torch.set_num_threads(n)

        def __exit__(self, *exc):
            torch.set_num_threads(self.before)

    return Threads()


PERTURBATIONS: dict[str, Callable[[SARCodec], AbstractContextManager]] = {
    "2 threads": lambda model: _threads(2),
    "oneDNN off": lambda model: torch.backends.mkldnn.flags(enabled=False),
    "channels_last": lambda model: (model.to(memory_format=torch.channels_last), nullcontext())[1],
    "float64": lambda model: (model.double(), nullcontext())[1],
}


@pytest.mark.parametrize("entropy", CONTEXT_MODELS)
@pytest.mark.parametrize("perturbation", list(PERTURBATIONS))
def test_portable_symbols_and_indexes_survive_perturbed_float_arithmetic(perturbation, entropy):
    """The integer path reads no float rounding: the same bytes twice, and the same integers
    decoded however the float arithmetic around it is done."""
    x = torch.rand(1, 1, 56, 72)
    model = _model(2, entropy)
    out = model.compress(x)
    assert model.compress(x)["strings"] == out["strings"]
    reference = model.decode_latent(out["strings"], out["shape"])
    other = _model(2, entropy)
    with PERTURBATIONS[perturbation](other):
        latent = other.decode_latent(out["strings"], out["shape"])
    for key in ("y", "z", "indexes"):
        assert torch.equal(latent[key].cpu(), reference[key].cpu()), key


def test_elic_trains_each_channel_context_on_the_earlier_groups_as_the_decoder_sees_them():
    """Training adds noise to ŷ for the rate; the next group's context must still get the rounded
    values (straight-through), or it learns from inputs the decoder never has."""
    model = _model(entropy="elic")
    codec = model.latent_codec
    seen: dict[str, torch.Tensor] = {}
    codec.y.channel_context[1].register_forward_hook(lambda m, inputs, out: seen.update(x=inputs[0]))
    y = model.g_a(torch.rand(1, 1, 64, 64)).detach().requires_grad_(True)
    params = codec.hyper(y)[0].detach()
    size = codec.y.sizes[0]
    with torch.no_grad():
        codec.y.eval()
        codec.y(y, params)
        decoder_view = seen["x"][:, -size:].clone()
    codec.y.train()
    _, likelihoods = codec.y(y, params)
    torch.testing.assert_close(seen["x"][:, -size:], decoder_view)
    likelihoods["y"].log().sum().backward()
    assert y.grad is not None and y.grad[:, :size].abs().sum() > 0


def test_the_tap_convolution_is_the_context_convolution_at_the_non_anchors():
    codec = _model().latent_codec.y
    mask = anchors((7, 9), torch.device("cpu"))
    values = torch.randn(2, 8, 7, 9) * mask
    with torch.no_grad():
        dense = codec.context(values)[..., ~mask]
        tapped = _tap_convolution(codec.context[0])(_taps(values, ~mask))[..., 0]
    torch.testing.assert_close(tapped, dense, atol=1e-5, rtol=1e-5)


def test_integer_context_networks_keep_every_sum_exact_in_float64():
    context, parameters = _model().latent_codec.y.networks()
    channel = IntegerChain(_model(entropy="elic").latent_codec.y.channel_context[3])
    for layer in [*context.layers, *parameters.layers, *channel.layers]:
        w = layer.weight.numpy()
        assert layer.weight.dtype == torch.float64 and np.all(w == np.rint(w))
        assert np.all(_taps_l1(w, (1, 1)) * layer.limit < 2.0**CHAIN_HALF_BITS)
        assert np.all(
            np.abs(np.rint(np.ldexp(layer.bias, layer.frac_cap + layer.exponent))) <= 2.0**CHAIN_HALF_BITS
        )


@pytest.mark.parametrize("entropy", CONTEXT_MODELS)
def test_measured_bytes_match_the_forward_rate_of_a_briefly_trained_model(entropy):
    """A tiny context model trained 120 steps on a synthetic scene: the portable file's bytes
    within 2 % of the eval forward's likelihood rate (on a scene large enough that the coder's fixed
    bytes per string, 9 strings for elic, are not the 2 %)."""
    from sarcomp.data.synthetic import generate_scene

    intensity, _ = generate_scene(256, 1, 0)
    scene = torch.from_numpy(np.clip((10 * np.log10(intensity) + 30) / 40, 0, 1).astype(np.float32))
    torch.manual_seed(0)
    model = SARCodec(channels=(16,), latent_channels=16, hyper_channels=8, entropy=entropy)
    named = dict(model.named_parameters())
    main = torch.optim.Adam([p for n, p in named.items() if not n.endswith("quantiles")], lr=3e-3)
    aux = torch.optim.Adam([p for n, p in named.items() if n.endswith("quantiles")], lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(120):
        i, j = (int(v) for v in torch.randint(0, 256 - 32, (2,), generator=g))
        x = torch.stack([scene[i : i + 32, j : j + 32], scene[j : j + 32, i : i + 32]])[:, None]
        out = model(x)
        loss = 3000 * ((out["x_hat"] - x) ** 2).mean() + bits_per_pixel(out["likelihoods"], x.numel())
        main.zero_grad()
        loss.backward()
        main.step()
        aux.zero_grad()
        model.aux_loss().backward()
        aux.step()
    model.eval().update(force=True)
    x = scene[None, None, :248, :232]  # latent 31 x 29 (odd); ~5 bytes a string of fixed cost: 0.6 %
    with torch.no_grad():
        estimate = float(bits_per_pixel(model(x)["likelihoods"], x.numel()))
    for portable in (True, False):
        measured = 8 * sum(len(s[0]) for s in model.compress(x, portable=portable)["strings"]) / x.numel()
        assert measured == pytest.approx(estimate, rel=0.02), portable
    assert estimate > 0.5  # enough bytes for 2 % to mean something


@pytest.mark.parametrize("entropy", CONTEXT_MODELS)
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_every_attention_placement_trains_and_codes_with_a_context_model(placement, entropy):
    torch.manual_seed(3)
    model = SARCodec(**TINY, entropy=entropy, attention={"type": "se", "placement": placement})
    x = torch.rand(1, 1, 40, 24)
    model.train()
    out = model(x)
    assert set(out["likelihoods"]) == {"y", "z"}
    out["x_hat"].mean().backward()
    model.eval().update(force=True)
    coded = model.compress(x, portable=False)
    with torch.no_grad():
        expected = model(x)["x_hat"]
    decoded = model.decompress(coded["strings"], coded["shape"], portable=False)["x_hat"]
    torch.testing.assert_close(decoded, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("entropy", CONTEXT_MODELS)
def test_variable_rate_context_models_round_trip_between_trained_lmbdas(entropy):
    model = _model(4, entropy, lmbdas=(0.002, 0.032), lmbda=0.032)
    x = torch.rand(1, 1, 48, 64)
    out = model.compress(x, lmbda=0.005, portable=False)
    decoded = model.decompress(out["strings"], out["shape"], lmbda=0.005, portable=False)["x_hat"]
    with torch.no_grad():
        expected = model(x, lmbda=0.005)["x_hat"]
    torch.testing.assert_close(decoded, expected, atol=1e-6, rtol=0)


def test_configs_compose_the_context_models():
    cfg = compose_train(["experiment=recipe_cpu_checkerboard"])
    assert cfg.model.entropy == "checkerboard" and cfg.model.hyper_channels == 64
    cfg = compose_train(["experiment=recipe_cpu_elic"])
    assert cfg.model.entropy == "elic" and cfg.model.channels == [48, 64, 96]
    cfg = compose_train(["experiment=context_cpu"])  # the recipe that trains the shipped curve
    assert cfg.model.entropy == "checkerboard" and cfg.model.latent_channels > 96
    assert max(cfg.model.lmbdas) == cfg.model.lmbda and cfg.data.sources[1].root.endswith("shared_sar_splits")
    cfg = compose_train(["experiment=highrate_cpu"])  # the high-rate range: 6 latent values per pixel
    model = build_model(cfg.model)
    assert model.stride == 4 and cfg.model.latent_channels / model.stride**2 == 6
    assert min(cfg.model.lmbdas) < 0.01 < max(cfg.model.lmbdas) and cfg.data.sources[1].root.endswith(
        "shared_sar_splits"
    )
    low = compose_train(["experiment=lowrate_cpu"])  # the same transform on the low part of the ladder
    assert low.model.channels == cfg.model.channels and low.model.latent_channels == cfg.model.latent_channels
    assert (
        max(low.model.lmbdas) == low.model.lmbda <= min(cfg.model.lmbdas) * 10
        and min(low.model.lmbdas) < 0.001
    )
    model = build_model(compose_train(["debug=smoke", "model.entropy=checkerboard"]).model)
    assert model.latent_codec.groups == 3 and model.tile_multiple == model.stride * 4
    model = build_model(compose_train(["debug=smoke", "model.entropy=elic"]).model)
    assert model.latent_codec.y.sizes == [1, 1, 2, 4] and model.latent_codec.groups == 9


@pytest.mark.parametrize("entropy", CONTEXT_MODELS)
def test_a_context_model_sarc_file_has_its_string_groups_and_decodes(entropy, tmp_path):
    from sarcomp.codec.golden import write_scene

    model = _model(5, entropy)
    scene = write_scene(tmp_path / "scene.tif")
    coded = code_scene(model, scene, ModelId.hashed(model_hash(None, model)), tile=64)
    header, _ = read_header(io.BytesIO(coded.container), len(coded.container), "scene")
    assert header.groups == GROUPS[entropy] and header.version == 2
    assert np.isfinite(coded.rec).all() and coded.rec[coded.valid].std() > 0


@pytest.mark.parametrize("entropy", CONTEXT_MODELS)
def test_trainer_logs_the_rates_a_context_model_returns(entropy, tiny_data, tmp_path):
    val = train(compose_train(smoke_overrides(tiny_data, f"model.entropy={entropy}"), tmp_path), tmp_path)
    assert val["bpp"] == pytest.approx(val["bpp_y"] + val["bpp_z"], rel=1e-4)


_SCALAR = """
import json, sys, torch
from sarcomp.codec.symbols import checksum
from tests.test_context_models import _model
assert torch.backends.cpu.get_cpu_capability() == "DEFAULT"
saved = torch.load(sys.argv[1], weights_only=False)
model = _model(6, saved["entropy"])
latent = model.decode_latent(saved["strings"], saved["shape"])
print(json.dumps({key: checksum(latent[key]) for key in ("y", "z", "indexes")}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("entropy", CONTEXT_MODELS)
def test_portable_integers_are_the_same_with_scalar_cpu_kernels(entropy, tmp_path):
    """Encoded here (vector kernels), decoded with ATEN_CPU_CAPABILITY=default (scalar ones)."""
    from sarcomp.codec.symbols import checksum

    model = _model(6, entropy)
    out = model.compress(torch.rand(1, 1, 56, 72))
    here = model.decode_latent(out["strings"], out["shape"])
    torch.save({"entropy": entropy, **out}, tmp_path / "coded.pt")
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-c", _SCALAR, str(tmp_path / "coded.pt")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    there = json.loads(run.stdout.strip().splitlines()[-1])
    assert there == {key: checksum(here[key]) for key in ("y", "z", "indexes")}
