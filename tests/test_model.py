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


def test_subpixel_transposed_convolution_is_the_transposed_convolution():
    """The output block's sub-pixel form computes nn.ConvTranspose2d's map from the same
    parameters: values and gradients (input, weight, bias), float64, odd sizes, batch of two."""
    from torch import nn

    from sarcomp.models.blocks import SubpixelConvTranspose2d

    torch.manual_seed(0)
    reference = nn.ConvTranspose2d(6, 3, 5, stride=2, padding=2, output_padding=1).double()
    subpixel = SubpixelConvTranspose2d(6, 3, 5, stride=2, padding=2, output_padding=1).double()
    subpixel.load_state_dict(reference.state_dict())
    x = torch.randn(2, 6, 5, 7, dtype=torch.float64, requires_grad=True)
    outputs, grads = [], []
    for module in (reference, subpixel):
        out = module(x)
        out.backward(torch.cos(torch.arange(out.numel(), dtype=torch.float64)).view_as(out))
        outputs.append(out.detach())
        grads.append([t.grad.clone() for t in (x, module.weight, module.bias)])
        x.grad = None
    assert outputs[0].shape == outputs[1].shape == (2, 3, 10, 14)
    torch.testing.assert_close(outputs[1], outputs[0], rtol=0, atol=1e-12)
    for ours, theirs in zip(grads[1], grads[0]):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)


@pytest.mark.parametrize("attention", [None, {"type": "cbam", "placement": "everywhere"}])
def test_synthesis_in_channels_last_is_the_synthesis(attention):
    """decompress runs g_s with its blocks in channels_last on the CPU: the same map as g_s."""
    from sarcomp.models.blocks import run_channels_last

    torch.manual_seed(0)
    model = SARCodec(**TINY, attention=attention).double().eval()
    y_hat = torch.randn(2, 8, 3, 5, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(run_channels_last(model.g_s, y_hat), model.g_s(y_hat), rtol=0, atol=1e-12)
