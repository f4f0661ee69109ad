"""The fast model family (issue 27, part 3): its cost, its config and its coding round trip."""

from __future__ import annotations

import pytest
import torch

from sarcomp.models.complexity import count_macs
from sarcomp.models.shallow import ShallowSARCodec
from sarcomp.runs import build_model
from tests.helpers import compose_train, encoder_reconstruction

MAC_BUDGET_PER_PIXEL = 5000  # the "at most about 5 kMAC per pixel end to end"


@pytest.fixture(scope="module")
def fast_model() -> ShallowSARCodec:
    torch.manual_seed(0)
    model = build_model(compose_train(["experiment=fast_cpu"]).model)
    assert isinstance(model, ShallowSARCodec)
    return model.eval()


def test_fast_config_is_the_recipe_on_the_study_data():
    cfg = compose_train(["experiment=fast_cpu"])
    study = compose_train(["experiment=recipe_cpu", "data=study"])
    assert cfg.data == study.data and cfg.trainer.lr == study.trainer.lr
    assert list(cfg.model.lmbdas) == [0.0003, 0.001, 0.003, 0.01]


def test_fast_model_costs_at_most_5_kmac_per_pixel(fast_model):
    tile = 256
    macs = count_macs(fast_model, tile_size=tile) / tile**2  # g_a + h_a + h_s + g_s, counted
    assert 1000 < macs <= MAC_BUDGET_PER_PIXEL
    assert fast_model.stride == 8


def test_fast_model_codes_a_round_trip(fast_model):
    x = torch.rand(2, 1, 64, 64)
    out = fast_model(x)
    assert out["x_hat"].shape == x.shape and set(out["likelihoods"]) == {"y", "z"}
    fast_model.update(force=True)
    for lmbda in (0.0003, 0.01):
        coded = fast_model.compress(x, lmbda=lmbda)
        x_hat = fast_model.decompress(coded["strings"], coded["shape"], lmbda=lmbda)["x_hat"]
        assert x_hat.shape == x.shape
        assert torch.allclose(x_hat, encoder_reconstruction(fast_model, x, lmbda), atol=1e-5)


def test_every_parameter_of_the_fast_model_is_used(fast_model):
    """The light h_s and the shallow g_s are the ones coding runs through (no orphaned module)."""
    model = ShallowSARCodec(channels=[24, 32], latent_channels=64, hyper_channels=32)
    out = model(torch.rand(1, 1, 64, 64))
    loss = out["x_hat"].mean() + sum(v.log().sum() for v in out["likelihoods"].values())
    loss.backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None and "quantiles" not in n]
    assert not unused


def test_shallow_codec_rejects_what_it_does_not_build():
    with pytest.raises(ValueError, match="attention.type"):
        ShallowSARCodec(attention={"type": "cbam", "placement": "bottleneck"})
    with pytest.raises(ValueError, match="entropy"):
        ShallowSARCodec(entropy="factorized")
