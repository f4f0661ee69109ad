"""The codec contract: forward, compress/decompress, placements."""

from __future__ import annotations

import pytest
import torch

from sarcomp.models import PLACEMENTS, SARCodec

TINY = dict(channels=(8, 8, 8), latent_channels=8)


def test_forward_contract():
    model = SARCodec(**TINY)
    out = model(torch.rand(2, 1, 64, 64))
    assert out["x_hat"].shape == (2, 1, 64, 64)
    assert out["likelihoods"]["y"].shape == (2, 8, 4, 4)
    assert 0 <= out["x_hat"].min() and out["x_hat"].max() <= 1


@pytest.mark.parametrize("attention", [None, {"type": "cbam", "placement": "everywhere"}])
def test_decompress_of_compress_equals_eval_forward(attention):
    torch.manual_seed(0)
    model = SARCodec(**TINY, attention=attention).eval()
    model.update(force=True)
    x = torch.rand(2, 1, 64, 48)
    coded = model.compress(x)
    assert isinstance(coded["strings"][0][0], bytes) and len(coded["strings"][0]) == 2
    decoded = model.decompress(coded["strings"], coded["shape"])["x_hat"]
    with torch.no_grad():
        expected = model(x)["x_hat"]
    torch.testing.assert_close(decoded, expected, atol=1e-5, rtol=0)


def test_compress_rejects_sizes_not_multiple_of_16():
    model = SARCodec(**TINY).eval()
    model.update(force=True)
    with pytest.raises(ValueError, match="multiple of 16"):
        model.compress(torch.rand(1, 1, 40, 40))


def test_stride_follows_the_number_of_blocks():
    torch.manual_seed(0)
    model = SARCodec(channels=(8, 8), latent_channels=8, entropy="meanscale").eval()  # 3 blocks
    model.update(force=True)
    assert model.stride == 8 and SARCodec(**TINY).stride == 16
    x = torch.rand(1, 1, 40, 24)
    coded = model.compress(x)
    assert coded["shape"] == (5, 3)
    decoded = model.decompress(coded["strings"], coded["shape"])["x_hat"]
    with torch.no_grad():
        torch.testing.assert_close(decoded, model(x)["x_hat"], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="multiple of 8"):
        model.compress(torch.rand(1, 1, 36, 24))


@pytest.mark.parametrize(
    "placement,expected", [("none", 0), ("bottleneck", 2), ("encoder", 3), ("decoder", 3), ("everywhere", 8)]
)
def test_placement_counts(placement, expected):
    model = SARCodec(**TINY, attention={"type": "se", "placement": placement})
    assert len(model.attention_modules()) == expected


def test_unknown_placement_lists_valid_names():
    with pytest.raises(ValueError, match="valid: " + ", ".join(PLACEMENTS)):
        SARCodec(**TINY, attention={"type": "se", "placement": "middle"})


def test_complexity_counts_attention_overhead():
    from sarcomp.models.complexity import count_macs, count_parameters

    base = SARCodec(**TINY)
    attn = SARCodec(**TINY, attention={"type": "self_attention", "placement": "everywhere"})
    assert count_parameters(attn) > count_parameters(base)
    assert count_macs(attn, 64) > count_macs(base, 64) > 0
