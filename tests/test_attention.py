"""Tests for sarcomp.models.attention: shapes, gradients, init, hooks, and independent references."""

from __future__ import annotations

import logging
import math

import pytest
import torch
from torch import Tensor, nn

from sarcomp.models.attention import (
    attention_names,
    build_attention,
    eca_kernel_size,
    register_attention,
)

ATTENTION_NAMES = attention_names()  # the built-in ones (tests register others)
GATED = ("se", "eca", "spatial", "cbam", "cbam_residual")
ATTENTION_FAMILY = ("self_attention", "local_attention", "axial_attention", "linear_attention")
SHAPES = [(2, 8, 9, 13), (2, 16, 9, 13), (2, 64, 9, 13), (1, 8, 1, 1)]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def randomize(module: nn.Module) -> nn.Module:
    """Move every parameter (gates' zero-init layers, gamma) off its initial value."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.5)
    return module


def capture_gate(module: nn.Module) -> list[Tensor]:
    seen: list[Tensor] = []
    module.gate.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    return seen


# ------------------------------------------------------------------------------------ registry


def test_names_cover_the_design() -> None:
    assert ATTENTION_NAMES == attention_names() == tuple(sorted(ATTENTION_NAMES))
    assert set(ATTENTION_NAMES) == {"none", *GATED, *ATTENTION_FAMILY, "stn"}


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError) as err:
        build_attention("nonlocal", 8)
    for name in ATTENTION_NAMES:
        assert name in str(err.value)


def test_duplicate_registration_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_attention("se")(nn.Identity)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("se", {"pool": "max"}),
        ("eca", {"kernel_size": 4}),
        ("spatial", {"kernel_size": 6}),
        ("self_attention", {"num_heads": 3}),
    ],
)
def test_bad_kwargs_raise(name: str, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        build_attention(name, 16, **kwargs)


# ------------------------------------------------------------------------ every registered name


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_keeps_shape(name: str, shape: tuple[int, ...]) -> None:
    module = randomize(build_attention(name, shape[1]))
    assert module(torch.randn(shape)).shape == shape


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_gradients_reach_input_and_every_parameter(name: str) -> None:
    module = randomize(
        build_attention(name, 16, window_size=4) if "local" in name else build_attention(name, 16)
    )
    x = torch.randn(2, 16, 9, 13, requires_grad=True)
    (module(x) * torch.randn(2, 16, 9, 13)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for pname, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", ATTENTION_FAMILY)
def test_attention_starts_as_identity_and_gamma_learns(name: str) -> None:
    module = build_attention(name, 16)
    assert torch.equal(module.gamma, torch.zeros(1))
    x = torch.randn(2, 16, 9, 13)
    assert torch.equal(module(x), x)
    (module(x) * torch.randn_like(x)).sum().backward()
    assert module.gamma.grad.abs().item() > 0


@pytest.mark.parametrize(("name", "scale"), [("se", 0.5), ("eca", 0.5), ("spatial", 0.5), ("cbam", 0.25)])
def test_gates_start_at_one_half(name: str, scale: float) -> None:
    module = build_attention(name, 16)
    seen = capture_gate(module)
    x = torch.randn(2, 16, 9, 13)
    assert torch.equal(module(x), scale * x)
    assert len(seen) == 1 and torch.all(seen[0] == 0.5)


@pytest.mark.parametrize("name", GATED)
def test_unit_start_gates_start_at_one_and_the_module_as_the_identity(name: str) -> None:
    plain, unit = build_attention(name, 16), build_attention(name, 16, unit_start=True)
    assert plain.state_dict().keys() == unit.state_dict().keys()  # old checkpoints still load
    unit.load_state_dict(plain.state_dict())
    seen = capture_gate(unit)
    x = torch.randn(2, 16, 9, 13)
    expected = x + unit.conv2(torch.relu(unit.conv1(x))) if name == "cbam_residual" else x
    torch.testing.assert_close(unit(x), expected)
    assert len(seen) == 1 and torch.all(seen[0] == 1.0)
    gate = unit.gate(torch.linspace(-30, 30, 101))
    assert gate.min() >= 0 and gate.max() <= 2 and gate.max() > 1.9  # a gate in (0, 2)


def test_cbam_residual_starts_with_half_gates() -> None:
    module = build_attention("cbam_residual", 16)
    seen = capture_gate(module)
    x = torch.randn(2, 16, 9, 13)
    branch = module.conv2(torch.relu(module.conv1(x)))
    torch.testing.assert_close(module(x), x + 0.25 * branch)
    assert torch.all(seen[0] == 0.5)


def test_none_is_identity_without_gate() -> None:
    module = build_attention("none", 8)
    x = torch.randn(2, 8, 5, 7)
    assert module(x) is x and module.gate is None and not list(module.parameters())


@pytest.mark.parametrize(
    ("name", "gate_shape"),
    [
        ("se", (2, 16, 1, 1)),
        ("eca", (2, 16, 1, 1)),
        ("spatial", (2, 1, 9, 13)),
        ("cbam", (2, 1, 9, 13)),
        ("cbam_residual", (2, 1, 9, 13)),
        *[(name, (2, 16, 9, 13)) for name in ATTENTION_FAMILY],
    ],
)
def test_gate_readable_by_hook(name: str, gate_shape: tuple[int, ...]) -> None:
    module = randomize(build_attention(name, 16))
    seen = capture_gate(module)
    module(torch.randn(2, 16, 9, 13))
    assert len(seen) == 1 and seen[0].shape == gate_shape
    if name in GATED:
        assert torch.all((seen[0] >= 0) & (seen[0] <= 1))


def test_cbam_channel_gate_also_hookable() -> None:
    module = randomize(build_attention("cbam", 16))
    seen: list[Tensor] = []
    module.channel.gate.register_forward_hook(lambda _m, _i, out: seen.append(out))
    module(torch.randn(2, 16, 9, 13))
    assert seen[0].shape == (2, 16, 1, 1)


# ------------------------------------------------------------- independent channel references


def test_se_hidden_width_floor() -> None:
    assert build_attention("se", 64).fc1.out_features == 8  # 64 // 16 = 4, floored to 8
    assert build_attention("se", 256).fc1.out_features == 16
    assert build_attention("se", 4).fc1.out_features == 4  # capped at C
    assert build_attention("se", 64, reduction=4, min_hidden=1).fc1.out_features == 16


@pytest.mark.parametrize("channels", [8, 64])
def test_se_matches_torchvision(channels: int) -> None:
    from torchvision.ops import SqueezeExcitation

    ours = build_attention("se", channels)
    hidden = ours.fc1.out_features
    ref = SqueezeExcitation(channels, hidden)
    with torch.no_grad():
        for mine, theirs in ((ours.fc1, ref.fc1), (ours.fc2, ref.fc2)):
            mine.weight.copy_(theirs.weight.reshape(mine.weight.shape))
            mine.bias.copy_(theirs.bias)
    x = torch.randn(2, channels, 9, 13)
    torch.testing.assert_close(ours(x), ref(x))


def test_eca_kernel_size_follows_paper() -> None:
    # |log2(C)/2 + 1/2| truncated then made odd (ECA-Net, gamma=2, b=1)
    assert [eca_kernel_size(c) for c in (8, 64, 128, 256, 1024, 2048)] == [3, 3, 5, 5, 5, 7]
    assert build_attention("eca", 64, kernel_size=5).conv.kernel_size == (5,)


@pytest.mark.parametrize("channels", [8, 64, 256])
def test_eca_matches_timm(channels: int) -> None:
    timm_layers = pytest.importorskip("timm.layers")
    ours = build_attention("eca", channels)
    ref = timm_layers.EcaModule(channels)
    assert ours.conv.kernel_size == ref.conv.kernel_size
    with torch.no_grad():
        ours.conv.weight.copy_(ref.conv.weight)
    x = torch.randn(2, channels, 9, 13)
    torch.testing.assert_close(ours(x), ref(x))


def _timm_cbam_like(ours: nn.Module, channels: int, kernel_size: int) -> nn.Module:
    """timm's CbamModule with our weights. Its spatial conv is conv (no bias) + BatchNorm:
    in eval mode with mean 0, var 1 and weight sqrt(1 + eps) the BN is exactly our conv bias."""
    timm_cbam = pytest.importorskip("timm.layers.cbam")
    ref = timm_cbam.CbamModule(
        channels, rd_channels=ours.channel.fc1.out_features, spatial_kernel_size=kernel_size, mlp_bias=True
    ).eval()
    with torch.no_grad():
        for mine, theirs in ((ours.channel.fc1, ref.channel.fc1), (ours.channel.fc2, ref.channel.fc2)):
            theirs.weight.copy_(mine.weight.reshape(theirs.weight.shape))
            theirs.bias.copy_(mine.bias)
        ref.spatial.conv.conv.weight.copy_(ours.spatial.conv.weight)
        bn = ref.spatial.conv.bn
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
        bn.weight.fill_(math.sqrt(1.0 + bn.eps))
        bn.bias.copy_(ours.spatial.conv.bias)
    return ref


@pytest.mark.parametrize(("channels", "kernel_size"), [(8, 7), (64, 3)])
def test_cbam_matches_timm(channels: int, kernel_size: int) -> None:
    ours = randomize(build_attention("cbam", channels, kernel_size=kernel_size))
    ref = _timm_cbam_like(ours, channels, kernel_size)
    x = torch.randn(2, channels, 9, 13)
    torch.testing.assert_close(ours.channel(x), ref.channel(x))
    torch.testing.assert_close(ours(x), ref(x))


# ----------------------------------------------------------- independent attention references


def conv1x1(x: Tensor, conv: nn.Conv2d) -> Tensor:
    return torch.einsum("oc,bchw->bohw", conv.weight[:, :, 0, 0], x) + conv.bias[None, :, None, None]


def to_tokens(t: Tensor, heads: int) -> Tensor:
    """[B, c, H, W] -> [B, heads, H*W, c/heads], channel-major heads."""
    b, c, h, w = t.shape
    return t.reshape(b, heads, c // heads, h * w).transpose(2, 3)


def from_tokens(t: Tensor, h: int, w: int) -> Tensor:
    b, heads, _, d = t.shape
    return t.transpose(2, 3).reshape(b, heads * d, h, w)


def softmax_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """softmax(Q Kᵀ / sqrt(d)) V."""
    return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1) @ v


def explicit_global(q: Tensor, k: Tensor, v: Tensor, heads: int) -> Tensor:
    h, w = v.shape[-2:]
    return from_tokens(softmax_attention(to_tokens(q, heads), to_tokens(k, heads), to_tokens(v, heads)), h, w)


def explicit_block(module: nn.Module, x: Tensor, attend) -> tuple[Tensor, Tensor]:
    """(x + gamma * proj(a), a) with a = attend(q, k, v), all from the module's weights."""
    a = attend(conv1x1(x, module.q), conv1x1(x, module.k), conv1x1(x, module.v))
    return x + module.gamma * conv1x1(a, module.proj), a


def make(name: str, **kwargs) -> nn.Module:
    return randomize(build_attention(name, 16, qk_channels=8, **kwargs))


@pytest.mark.parametrize("heads", [1, 2])
def test_self_attention_matches_softmax_formula(heads: int) -> None:
    module = make("self_attention", num_heads=heads)
    seen = capture_gate(module)
    x = torch.randn(2, 16, 5, 7)
    want, attn = explicit_block(module, x, lambda q, k, v: explicit_global(q, k, v, heads))
    torch.testing.assert_close(module(x), want)
    torch.testing.assert_close(seen[0], attn)


@pytest.mark.parametrize("heads", [1, 2])
def test_self_attention_query_blocks_match_the_formula(heads: int) -> None:
    """9x13 = 117 positions in blocks of 7 (the last one short): output and gradients as the formula."""
    module = make(
        "self_attention", num_heads=heads, query_chunk=7
    ).double()  # float64: the maths, not rounding
    x = torch.randn(2, 16, 9, 13, dtype=torch.float64, requires_grad=True)
    want, _ = explicit_block(module, x, lambda q, k, v: explicit_global(q, k, v, heads))
    got = module(x)
    torch.testing.assert_close(got, want)
    params = [x, *module.parameters()]
    for g_got, g_want in zip(torch.autograd.grad(got.sum(), params), torch.autograd.grad(want.sum(), params)):
        torch.testing.assert_close(g_got, g_want)


def test_self_attention_query_chunk_must_be_positive() -> None:
    with pytest.raises(ValueError, match="query_chunk"):
        build_attention("self_attention", 16, query_chunk=0)


def test_default_qk_width() -> None:
    assert build_attention("self_attention", 192).q.out_channels == 24
    assert build_attention("self_attention", 16).q.out_channels == 8


def test_local_with_large_window_is_global() -> None:
    local = make("local_attention", window_size=16)
    full = build_attention("self_attention", 16, qk_channels=8)
    full.load_state_dict(local.state_dict())
    x = torch.randn(2, 16, 9, 13)
    torch.testing.assert_close(local(x), full(x))


@pytest.mark.parametrize("heads", [1, 2])
def test_local_matches_per_window_formula(heads: int) -> None:
    window = 4
    module = make("local_attention", num_heads=heads, window_size=window)

    def attend(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        out = torch.empty_like(v)
        for i in range(0, v.shape[-2], window):  # ragged edge windows are just smaller
            for j in range(0, v.shape[-1], window):
                tile = (..., slice(i, i + window), slice(j, j + window))
                out[tile] = explicit_global(q[tile], k[tile], v[tile], heads)
        return out

    x = torch.randn(2, 16, 9, 13)
    torch.testing.assert_close(module(x), explicit_block(module, x, attend)[0])


@pytest.mark.parametrize("heads", [1, 2])
def test_axial_matches_row_then_column_formula(heads: int) -> None:
    module = make("axial_attention", num_heads=heads)

    def attend(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        b, c, h, w = v.shape
        q, k = (t.reshape(b, heads, -1, h, w) for t in (q, k))
        v = v.reshape(b, heads, -1, h, w)
        scale = 1 / math.sqrt(q.shape[2])
        rows = torch.softmax(torch.einsum("bndij,bndik->bnijk", q, k) * scale, dim=-1)
        y = torch.einsum("bnijk,bneik->bneij", rows, v)
        cols = torch.softmax(torch.einsum("bndij,bndkj->bnjik", q, k) * scale, dim=-1)
        return torch.einsum("bnjik,bnekj->bneij", cols, y).reshape(b, c, h, w)

    x = torch.randn(2, 16, 6, 7)
    torch.testing.assert_close(module(x), explicit_block(module, x, attend)[0])


@pytest.mark.parametrize("heads", [1, 2])
def test_linear_matches_kernel_formula(heads: int) -> None:
    module = make("linear_attention", num_heads=heads)

    def attend(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        phi = lambda t: torch.nn.functional.elu(t) + 1  # noqa: E731
        sim = phi(to_tokens(q, heads)) @ phi(to_tokens(k, heads)).transpose(-1, -2)  # [B, n, N, N]
        out = (sim @ to_tokens(v, heads)) / sim.sum(-1, keepdim=True)
        return from_tokens(out, *v.shape[-2:])

    x = torch.randn(2, 16, 5, 7)
    torch.testing.assert_close(module(x), explicit_block(module, x, attend)[0])


def test_self_attention_switches_to_local_above_max_tokens(caplog: pytest.LogCaptureFixture) -> None:
    module = make("self_attention", max_tokens=32, window_size=4)
    local = build_attention("local_attention", 16, qk_channels=8, window_size=4)
    local.load_state_dict(module.state_dict())
    caplog.set_level(logging.INFO, logger="sarcomp.models.attention")

    small = torch.randn(1, 16, 4, 8)  # 32 tokens: still global
    torch.testing.assert_close(
        module(small), explicit_block(module, small, lambda q, k, v: explicit_global(q, k, v, 1))[0]
    )
    assert not caplog.records

    big = torch.randn(1, 16, 7, 9)  # 63 tokens: local 4x4 windows
    torch.testing.assert_close(module(big), local(big))
    module(big)
    switches = [r for r in caplog.records if "max_tokens" in r.getMessage()]
    assert len(switches) == 1


# ------------------------------------------------------------ CBAM's fused path vs its formula


@pytest.mark.parametrize("unit_start", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(2, 16, 9, 13), (3, 64, 16, 16), (1, 8, 1, 1)])
def test_cbam_fused_path_equals_the_formula(
    dtype: torch.dtype, shape: tuple[int, ...], unit_start: bool
) -> None:
    """CBAM.forward (sarcomp.models.cbam_ops) against spatial(channel(x)), the formula through
    autograd's generic ops: same output, same gradients for the input and every parameter."""
    module = randomize(build_attention("cbam", shape[1], kernel_size=3, unit_start=unit_start)).to(dtype)
    x = torch.randn(shape, dtype=dtype, requires_grad=True)
    weight = torch.randn(shape, dtype=dtype)  # a non-uniform upstream gradient
    params = [x, *module.parameters()]
    new = module(x)
    old = module.spatial(module.channel(x))
    torch.testing.assert_close(new, old)  # the spatial conv runs channels_last: last bits may differ
    for g_new, g_old in zip(
        torch.autograd.grad((new * weight).sum(), params), torch.autograd.grad((old * weight).sum(), params)
    ):
        # float64 checks the maths tightly; float32 sums in another order (bmm, oneDNN conv)
        tol = {} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-4}
        torch.testing.assert_close(g_new, g_old, **tol)


def test_cbam_residual_uses_the_fused_path_with_the_same_gradients() -> None:
    module = randomize(build_attention("cbam_residual", 16)).double()
    x = torch.randn(2, 16, 8, 8, dtype=torch.float64, requires_grad=True)
    (gx,) = torch.autograd.grad(module(x).square().sum(), x)
    c = module.cbam
    old = x + c.spatial(c.channel(module.conv2(module.act(module.conv1(x)))))
    (gx_old,) = torch.autograd.grad(old.square().sum(), x)
    torch.testing.assert_close(gx, gx_old)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cbam_fused_path_under_autocast_and_channels_last_on_cuda() -> None:
    module = randomize(build_attention("cbam", 32)).cuda()
    x = torch.randn(2, 32, 16, 16, device="cuda").contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        new, old = module(x), module.spatial(module.channel(x))
    torch.testing.assert_close(new.float(), old.float(), rtol=2e-2, atol=2e-2)
    (g_new,) = torch.autograd.grad(new.float().sum(), x)
    (g_old,) = torch.autograd.grad(old.float().sum(), x)
    torch.testing.assert_close(g_new, g_old, rtol=5e-2, atol=5e-2)
