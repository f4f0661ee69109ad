"""Entropy models (factorized, hyperprior, meanscale) and variable rate (gain units)."""

from __future__ import annotations

import hashlib
import math

import pytest
import torch

from sarcomp.errors import SarcompError
from sarcomp.models import PLACEMENTS, SARCodec
from sarcomp.models.entropy import GainUnits
from sarcomp.training.loss import RateDistortionLoss
from tests.helpers import encoder_reconstruction

TINY = dict(channels=(8, 8, 8), latent_channels=8, hyper_channels=4)
LMBDAS = (0.002, 0.008, 0.032)
ENTROPY_MODELS = ("factorized", "hyperprior", "meanscale")  # context models: test_context_models.py


def coded(model: SARCodec, x: torch.Tensor, lmbda: float | None = None, portable: bool = True):
    """Strings, decoded tiles, and what the encoder reconstructs: the eval forward on the float
    path (version 1), ŷ around the integer h_s's means on the portable one."""
    model.eval().update(force=True)
    out = model.compress(x, lmbda=lmbda, portable=portable)
    decoded = model.decompress(out["strings"], out["shape"], lmbda=lmbda, portable=portable)["x_hat"]
    if portable:
        return out, decoded, encoder_reconstruction(model, x, lmbda)
    with torch.no_grad():
        return out, decoded, model(x, lmbda=lmbda)["x_hat"]


@pytest.mark.parametrize("portable", [True, False])
@pytest.mark.parametrize("entropy", ENTROPY_MODELS)
def test_decompress_of_compress_equals_what_the_encoder_reconstructs(entropy, portable):
    torch.manual_seed(0)
    model = SARCodec(**TINY, entropy=entropy)
    # 80 x 48: y is 5 x 3, not a multiple of the hyper-stride (z is padded and cut back)
    out, decoded, expected = coded(model, torch.rand(2, 1, 80, 48), portable=portable)
    torch.testing.assert_close(decoded, expected, atol=1e-5, rtol=0)
    assert out["shape"] == (5, 3)
    n_lists = 1 if entropy == "factorized" else 2
    assert len(out["strings"]) == n_lists
    for strings in out["strings"]:  # bytes for every latent, one string per image
        assert len(strings) == 2 and all(isinstance(s, bytes) and s for s in strings)


@pytest.mark.parametrize("entropy", ["hyperprior", "meanscale"])
def test_hyperprior_rate_counts_both_latents(entropy):
    model = SARCodec(**TINY, entropy=entropy).eval()
    with torch.no_grad():
        likelihoods = model(torch.rand(1, 1, 64, 64))["likelihoods"]
    assert likelihoods["y"].shape == (1, 8, 4, 4)
    assert likelihoods["z"].shape == (1, 4, 1, 1)


def test_decompress_refuses_wrong_number_of_string_lists():
    model = SARCodec(**TINY, entropy="hyperprior").eval()
    model.update(force=True)
    out = model.compress(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="needs 2 string list"):
        model.decompress(out["strings"][:1], out["shape"])


@pytest.mark.parametrize("entropy", ENTROPY_MODELS)
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_every_placement_builds_and_codes(entropy, placement):
    torch.manual_seed(1)
    model = SARCodec(**TINY, entropy=entropy, attention={"type": "se", "placement": placement})
    x = torch.rand(1, 1, 32, 32)
    model.train()
    out = model(x)
    out["x_hat"].mean().backward()  # trains end to end
    _, decoded, expected = coded(model, x)
    torch.testing.assert_close(decoded, expected, atol=1e-5, rtol=0)


def test_aux_loss_covers_the_hyper_latent_bottleneck():
    model = SARCodec(**TINY, entropy="meanscale")
    model.aux_loss().backward()
    quantiles = model.latent_codec.hyper.z.entropy_bottleneck.quantiles
    assert quantiles.shape[0] == 4  # the bottleneck codes z (hyper_channels), not y
    assert quantiles.grad is not None and quantiles.grad.abs().sum() > 0
    aux_params = [n for n, _ in model.named_parameters() if n.endswith("quantiles")]
    assert aux_params == ["latent_codec.hyper.z.entropy_bottleneck.quantiles"]


def test_factorized_state_dict_holds_g_a_g_s_and_the_bottleneck_of_y():
    from compressai.entropy_models import EntropyBottleneck

    keys = set(SARCodec(**TINY).state_dict())
    bottleneck = {f"latent_codec.entropy_bottleneck.{k}" for k in EntropyBottleneck(8).state_dict()}
    assert {k for k in keys if not k.startswith(("g_a.", "g_s."))} == bottleneck


@pytest.mark.parametrize("entropy", ENTROPY_MODELS)
def test_weights_saved_before_the_latent_codec_seam_load_and_keep_their_hash(entropy):
    """A state under the old names (``h_a.*``, ``entropy_bottleneck.*``, ``gaussian_conditional.*``)
    loads into the same weights, and ``model_hash`` reads those names: identities stay."""
    from sarcomp.codec.modelref import model_hash

    torch.manual_seed(5)
    model = SARCodec(**TINY, entropy=entropy).eval()
    model.update(force=True)
    old = {model._legacy_name(k): v for k, v in model.state_dict().items()}
    assert not any(k.startswith("latent_codec.") for k in old)
    assert {"h_a.0.weight", "gaussian_conditional._quantized_cdf"} <= set(old) or entropy == "factorized"
    fresh = SARCodec(**TINY, entropy=entropy).eval()
    fresh.load_state_dict(old)
    for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(a, b), name
    digest = hashlib.sha256()
    for name, p in sorted((model._legacy_name(n), p) for n, p in model.named_parameters()):
        t = p.detach().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.numpy().tobytes())
    assert model_hash(None, fresh) == digest.digest()


@pytest.mark.parametrize("entropy", ["hyperprior", "meanscale"])
def test_hyperprior_checkpoint_round_trip_decodes(entropy, tmp_path):
    """A saved, updated model reloads into a fresh one (scale table and CDF buffers resized)."""
    torch.manual_seed(2)
    model = SARCodec(**TINY, entropy=entropy).eval()
    model.update(force=True)
    torch.save(model.state_dict(), tmp_path / "m.pt")
    fresh = SARCodec(**TINY, entropy=entropy).eval()
    fresh.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    x = torch.rand(1, 1, 48, 48)
    out = model.compress(x)
    torch.testing.assert_close(
        fresh.decompress(out["strings"], out["shape"])["x_hat"],
        model.decompress(out["strings"], out["shape"])["x_hat"],
    )


def test_unknown_entropy_model_lists_valid_names():
    from omegaconf import OmegaConf

    from sarcomp.runs import build_model

    with pytest.raises(ValueError, match="valid: factorized, hyperprior, meanscale"):
        SARCodec(**TINY, entropy="laplace")
    cfg = OmegaConf.create({"_target_": "sarcomp.models.SARCodec", "entropy": "laplace"})
    with pytest.raises(SarcompError, match="^model.entropy: unknown entropy model 'laplace'; valid: "):
        build_model(cfg)


# ---------------------------------------------------------------- variable rate


def test_gain_units_start_at_identity_for_the_largest_lmbda_and_sqrt_below():
    units = GainUnits(LMBDAS, 3)
    torch.testing.assert_close(units.gain(0.032), torch.ones(1, 3, 1, 1))
    torch.testing.assert_close(units.inverse_gain(0.032), torch.ones(1, 3, 1, 1))
    torch.testing.assert_close(units.gain(0.008), torch.full((1, 3, 1, 1), 0.5))
    torch.testing.assert_close(units.inverse_gain(0.002), torch.full((1, 3, 1, 1), 4.0))
    # between two trained λ: log-linear interpolation (geometric mean at the log-midpoint)
    torch.testing.assert_close(units.gain(0.004), torch.full((1, 3, 1, 1), 0.5**1.5))


def test_gain_units_refuse_lmbda_outside_range_and_bad_lists():
    units = GainUnits(LMBDAS, 3)
    with pytest.raises(ValueError, match="outside the trained range"):
        units.gain(0.05)
    with pytest.raises(ValueError, match="increasing positive"):
        GainUnits([0.01, 0.005], 3)
    with pytest.raises(ValueError, match="outside the trained range"):
        SARCodec(**TINY, lmbdas=LMBDAS, lmbda=0.1)


@pytest.mark.parametrize("entropy", ENTROPY_MODELS)
@pytest.mark.parametrize("lmbda", [0.002, 0.005, 0.032])
def test_variable_rate_round_trip_at_each_lmbda(entropy, lmbda):
    torch.manual_seed(3)
    model = SARCodec(**TINY, entropy=entropy, lmbdas=LMBDAS, lmbda=0.032)
    out, decoded, expected = coded(model, torch.rand(1, 1, 48, 64), lmbda=lmbda)
    assert decoded.shape == (1, 1, 48, 64)
    torch.testing.assert_close(decoded, expected, atol=1e-5, rtol=0)


def test_variable_rate_smaller_lmbda_codes_fewer_bytes_once_the_density_fits():
    """The sqrt(λ) gain initialisation spreads the rates as soon as the density is fitted
    (a few hundred cheap steps on the bottleneck alone, transforms frozen)."""
    torch.manual_seed(4)
    model = SARCodec(**TINY, lmbdas=LMBDAS, lmbda=0.032)
    with torch.no_grad():
        model.g_a[-1][0].weight.mul_(50)  # latents spread over many quantisation bins
    x = torch.rand(2, 1, 64, 64)
    density = [p for n, p in model.latent_codec.entropy_bottleneck.named_parameters() if n != "quantiles"]
    optimizer = torch.optim.Adam(density, lr=1e-2)
    with torch.no_grad():
        y = model.g_a(x)
    for _ in range(200):
        optimizer.zero_grad()
        bits = sum(
            -torch.log2(model.latent_codec.entropy_bottleneck(y * model.gain.gain(v))[1]).sum()
            for v in LMBDAS
        )
        bits.backward()
        optimizer.step()
    model.eval().update(force=True)
    sizes = [sum(len(s) for s in model.compress(x, lmbda=v)["strings"][0]) for v in LMBDAS]
    assert sizes[0] < sizes[1] < sizes[2]


def test_loss_takes_a_per_step_lmbda():
    loss = RateDistortionLoss(0.01)
    x = torch.rand(1, 1, 16, 16)
    out = {"x_hat": x * 0.9, "likelihoods": {"y": torch.full((1, 2, 1, 1), 0.5)}}
    default, low = loss(out, x)["loss"], loss(out, x, lmbda=0.001)["loss"]
    assert low < default


def test_hyperprior_variable_rate_codes_whole_scenes_through_sarc(tmp_path):
    """A .sarc file of a mean-scale, variable-rate codec (two string groups; λ stored as float32,
    here the top of the trained range) decodes to the in-memory reconstruction; other λ code too."""
    import numpy as np
    import rasterio

    from sarcomp.codec.decompressor import decompress_file
    from sarcomp.codec.modelref import resolve_model
    from sarcomp.codec.scene import code_scene, compress_file
    from sarcomp.data.rasters import BandSpec
    from sarcomp.data.representation import Representation
    from sarcomp.data.tiles import Scene
    from sarcomp.runs import build_model, config_to_text
    from tests.helpers import compose_train, write_tif

    overrides = ["debug=smoke", "model.entropy=meanscale", "model.lmbdas=[0.002,0.032]", "model.lmbda=0.032"]
    cfg = compose_train(overrides, run_dir=tmp_path)
    torch.manual_seed(5)
    ckpt = tmp_path / "vr.pt"
    torch.save({"config": config_to_text(cfg), "model": build_model(cfg.model).state_dict()}, ckpt)
    values = (0.05 * np.random.default_rng(0).gamma(1.0, 1.0, (40, 70))).astype(np.float32)
    src = write_tif(tmp_path / "s.tif", values)
    sarc, out = tmp_path / "s.sarc", tmp_path / "s_out.tif"
    compress_file(
        src, sarc, ckpt, tile=32, device="cpu", progress=False, units="intensity", range_rule="model"
    )
    decompress_file(sarc, out, device="cpu", progress=False)
    loaded = resolve_model(ckpt)
    scene = Scene.load(src, BandSpec(), Representation(units="intensity"))
    coded = code_scene(loaded.model, scene, loaded.identity, 32, lmbda=0.032)
    expected = coded.scene.representation.from_unit(coded.rec, coded.scene.scaling).astype(np.float32)
    with rasterio.open(out) as ds:
        np.testing.assert_array_equal(ds.read(1), expected)
    low = code_scene(loaded.model, scene, loaded.identity, 32, lmbda=0.002)
    assert np.isfinite(low.rec).all() and low.container != coded.container


def test_table_gaussian_conditional_indexes_equal_compressais() -> None:
    """One bucketize gives CompressAI's per-entry count: random scales, every table entry exactly,
    values below the lower bound and above the table."""
    from compressai.entropy_models import GaussianConditional

    from sarcomp.models.entropy import TableGaussianConditional

    ours, theirs = TableGaussianConditional(None), GaussianConditional(None)
    table = torch.linspace(math.log(0.11), math.log(256.0), 64).exp()  # CompressAI's default table
    ours.update_scale_table(table)
    theirs.update_scale_table(table)
    scales = torch.cat([torch.rand(1000) * 300, table, table * (1 + 1e-6), torch.tensor([0.0, 1e-9, 1e9])])
    for dtype in (torch.float32, torch.float64):
        s = scales.to(dtype).view(1, -1, 1, 1)
        assert torch.equal(ours.build_indexes(s), theirs.build_indexes(s))


@pytest.mark.parametrize("top_scale", [3.0, 300.0])
def test_table_gaussian_conditional_writes_and_reads_compressais_bytes(top_scale: float) -> None:
    """Handing the coder only the CDF rows the indexes reach, cut to their lengths, changes no
    byte: the same strings as CompressAI's coder for a batch of two, each decoded by the other's
    decoder to the same values; with small scales only (few rows) and up to the table's end."""
    from compressai.entropy_models import GaussianConditional

    from sarcomp.models.entropy import TableGaussianConditional

    torch.manual_seed(0)
    ours, theirs = TableGaussianConditional(None), GaussianConditional(None)
    table = torch.linspace(math.log(0.11), math.log(256.0), 64).exp()
    ours.update_scale_table(table)
    theirs.update_scale_table(table)
    scales = torch.rand(2, 6, 9, 7) * top_scale + 0.05
    means = torch.randn(2, 6, 9, 7) * 4
    y = means + torch.randn(2, 6, 9, 7) * scales
    indexes = ours.build_indexes(scales)
    assert (int(indexes.max()) == 63) == (top_scale > 256)  # the last row reached, or far from it
    strings = ours.compress(y, indexes, means=means)
    assert strings == theirs.compress(y, indexes, means=means)
    decoded = ours.decompress(strings, indexes, means=means)
    assert torch.equal(decoded, theirs.decompress(strings, indexes, means=means))
    assert torch.equal(decoded, ours.quantize(y, "dequantize", means))


def test_table_entropy_bottleneck_writes_and_reads_compressais_bytes() -> None:
    """The factorised prior codes through the same path: CompressAI's bytes, decoded by either."""
    from compressai.entropy_models import EntropyBottleneck

    from sarcomp.models.entropy import TableEntropyBottleneck

    torch.manual_seed(0)
    ours, theirs = TableEntropyBottleneck(5), EntropyBottleneck(5)
    theirs.load_state_dict(ours.state_dict())
    with torch.no_grad():
        ours.quantiles.mul_(torch.linspace(1, 20, 5)[:, None, None])  # densities of unequal widths
        theirs.quantiles.copy_(ours.quantiles)
    ours.update(force=True)
    theirs.update(force=True)
    assert torch.equal(ours._quantized_cdf, theirs._quantized_cdf)
    y = torch.randn(2, 5, 6, 7) * torch.linspace(1, 30, 5)[:, None, None]  # some beyond the tables
    strings = ours.compress(y)
    assert strings == theirs.compress(y)
    decoded = ours.decompress(strings, (6, 7))
    assert torch.equal(decoded, theirs.decompress(strings, (6, 7)))
