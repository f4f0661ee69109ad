"""Tests for sarcomp.interpret (hooks, Grad-CAM through the quantiser, RISE, bits, CAM probe),
the stn attention module and scripts/explain.py, on tiny models."""

from __future__ import annotations

import json
import math
import sys

import pytest
import torch
import torch.nn.functional as F
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import Tensor

from sarcomp.interpret import (
    DistortionTarget,
    RateTarget,
    augmented_grad_cam,
    bits_and_error,
    figures,
    grad_cam,
    query_attention,
    record_gates,
    rise,
    rise_masks,
    straight_through,
)
from sarcomp.interpret.gradcam import Augmentation, default_layers
from sarcomp.interpret.hooks import gate_start
from sarcomp.interpret.probe import Probe, ProbeData, cam_iou, labels, random_affine, warp
from sarcomp.models import SARCodec
from sarcomp.models.attention import build_attention
from tests.forked import run_forked
from tests.helpers import REPO, compose_train, smoke_overrides


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def codec(kind: str = "cbam", placement: str = "bottleneck") -> SARCodec:
    """A tiny codec with its gates moved off their 0.5 initialisation."""
    model = SARCodec(channels=(8, 8, 8), latent_channels=16, attention={"type": kind, "placement": placement})
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith(("g_a.", "g_s.")) and p.abs().sum() == 0:
                p.normal_(0, 0.3)
    return model.eval()


def image(b: int = 1, size: int = 32) -> Tensor:
    return torch.rand(b, 1, size, size)


# ------------------------------------------------------------------------------------ hooks


def test_hook_maps_have_the_right_shapes() -> None:
    model = codec("cbam", "everywhere")
    with record_gates(model) as rec:
        model(image(2, 64))
    # encoder blocks at 32, 16, 8 px, the bottleneck pair at 4 px, decoder blocks at 8, 16, 32 px
    sides = sorted(m.shape[-1] for m in rec.spatial.values())
    assert sides == [4, 4, 8, 8, 16, 16, 32, 32]
    assert all(m.shape[:2] == (2, 1) and m.min() >= 0 and m.max() <= 1 for m in rec.spatial.values())
    widths = {name: w.shape for name, w in rec.channel.items()}
    assert widths["g_a.7.channel"] == widths["g_s.0.channel"] == (2, 16) and widths["g_a.1.channel"] == (2, 8)
    assert set(rec.spatial) == {n.replace("channel", "spatial") for n in rec.channel}
    model(image(1, 64))
    assert len(rec.spatial) == 8  # hooks are gone after the block: nothing was overwritten
    assert all(m.shape[0] == 2 for m in rec.spatial.values())


@pytest.mark.parametrize(("unit_start", "start"), [(False, 0.5), (True, 1.0)])
def test_gate_figures_span_the_gates_range(unit_start: bool, start: float) -> None:
    model = SARCodec(
        channels=(8, 16),
        latent_channels=16,
        attention={"type": "cbam", "placement": "bottleneck", "kwargs": {"unit_start": unit_start}},
    )
    assert gate_start(model) == start and gate_start(codec("none", "none")) == 0.5
    fig = figures.channel_weights_figure({"g": torch.full((16,), start)}, "t", gate_start(model))
    assert fig.axes[0].get_ylim() == (0.0, 2 * start)  # a 2·σ gate above 1 is not cut off
    assert fig.axes[0].lines[0].get_ydata()[0] == start  # the dashed line: the value at initialisation


def test_self_attention_query_weights_match_the_softmax() -> None:
    model = codec("self_attention")
    with torch.no_grad():
        for m in model.attention_modules().values():
            m.gamma.fill_(0.5)
    with record_gates(model) as rec:
        model(image(2, 64))
    q, k, heads = rec.qk["g_a.4"]
    assert q.shape[-2:] == (4, 4)
    w = query_attention(q, k, heads, [(0, 0), (2, 3)])
    assert w.shape == (2, 2, 4, 4)
    torch.testing.assert_close(w.sum((2, 3)), torch.ones(2, 2))
    qt, kt = q.flatten(2).transpose(1, 2), k.flatten(2)  # [B, N, c], [B, c, N]
    full = torch.softmax(qt @ kt / math.sqrt(q.shape[1]), -1)  # one head
    torch.testing.assert_close(w[:, 1].flatten(1), full[:, 2 * 4 + 3])


# ------------------------------------------------------------------------------------ Grad-CAM


def test_gradcam_maps_are_nonzero_through_the_quantiser() -> None:
    model = codec("cbam")
    x = image(1, 64)
    encoder_gate = {"g_a.4": model.g_a[4]}  # before the quantiser: only straight-through reaches it
    cam = grad_cam(model, x, encoder_gate, DistortionTarget())["g_a.4"]
    assert cam.shape == (1, 1, 64, 64) and cam.abs().sum() > 0

    seen = {}
    model.g_a[4].register_forward_hook(lambda _m, _i, out: seen.__setitem__("y", out))
    with torch.enable_grad():
        xr = x.clone().requires_grad_(True)
        plain = torch.autograd.grad(DistortionTarget()(model(xr), xr), seen["y"], allow_unused=True)[0]
        with straight_through(model):
            st = torch.autograd.grad(DistortionTarget()(model(xr), xr), seen["y"])[0]
    assert plain is None or plain.abs().sum() == 0  # rounding blocks the gradient ...
    assert st.abs().sum() > 0  # ... straight-through passes it


def test_straight_through_keeps_values_and_restores_the_quantiser() -> None:
    model = codec("cbam")
    x = image(1, 32)
    before = model(x)["x_hat"]
    with straight_through(model):
        during = model(x)["x_hat"]
    assert "quantize" not in vars(model.latent_codec.entropy_bottleneck)
    torch.testing.assert_close(during, before)


def test_rate_reaches_the_encoder_but_not_the_decoder() -> None:
    model = codec("cbam")
    maps = grad_cam(model, image(1, 64), default_layers(model), RateTarget())
    assert set(maps) == {"g_a.4", "g_s.0"}
    assert maps["g_a.4"].abs().sum() > 0 and maps["g_s.0"].abs().sum() == 0


def test_distortion_target_is_the_mse_inside_the_roi_and_moves_the_map() -> None:
    model = codec("cbam")
    x = image(1, 64)
    left, right = torch.zeros(1, 1, 64, 64), torch.zeros(1, 1, 64, 64)
    left[..., :32], right[..., 32:] = 1, 1
    out = model(x)
    want = ((out["x_hat"] - x)[..., :32] ** 2).mean()
    torch.testing.assert_close(DistortionTarget(left)(out, x), want[None])
    layers = {"g_a.4": model.g_a[4]}
    a = grad_cam(model, x, layers, DistortionTarget(left))["g_a.4"]
    b = grad_cam(model, x, layers, DistortionTarget(right))["g_a.4"]
    assert not torch.allclose(a, b)


def test_augmented_gradcam_with_identity_is_gradcam_and_maps_back() -> None:
    model = codec("cbam")
    x = image(1, 64)
    layers = default_layers(model)
    target = DistortionTarget()
    ident = Augmentation("identity", lambda t: t, lambda t: t)
    plain = grad_cam(model, x, layers, target)
    torch.testing.assert_close(augmented_grad_cam(model, x, layers, target, [ident]), plain)
    flip = Augmentation("flip", lambda t: t.flip(-1), lambda t: t.flip(-1))
    flipped = grad_cam(model, x.flip(-1), layers, target)
    both = augmented_grad_cam(model, x, layers, target, [ident, flip])
    for n in plain:
        torch.testing.assert_close(both[n], (plain[n] + flipped[n].flip(-1)) / 2)
    full = augmented_grad_cam(model, x, layers, target)
    assert all(m.shape == (1, 1, 64, 64) for m in full.values())


# ------------------------------------------------------------------------------------ RISE, bits


def test_rise_masks_shape_and_range() -> None:
    m = rise_masks(5, (40, 24), cells=4, generator=torch.Generator().manual_seed(0))
    assert m.shape == (5, 1, 40, 24) and m.min() >= 0 and m.max() <= 1


def test_rise_is_batched_and_deterministic() -> None:
    model = codec("cbam")
    x = image(1, 32)
    a = rise(model, x, n_masks=12, batch=5, cells=4, seed=3)
    b = rise(model, x, n_masks=12, batch=12, cells=4, seed=3)
    c = rise(model, x, n_masks=12, batch=5, cells=4, seed=4)
    assert a.shape == (1, 1, 32, 32) and a.abs().sum() > 0
    torch.testing.assert_close(a, b)  # batching does not change the map
    assert not torch.allclose(a, c)  # the seed does


def test_bits_map_mean_is_the_estimated_bpp() -> None:
    model = codec("cbam")
    x = image(2, 64)
    bits, err = bits_and_error(model, x)
    out = model(x)
    bpp = -torch.log2(out["likelihoods"]["y"]).sum((1, 2, 3)) / (64 * 64)
    assert bits.shape == err.shape == (2, 1, 64, 64)
    torch.testing.assert_close(bits.mean((1, 2, 3)), bpp)
    torch.testing.assert_close(err.mean((1, 2, 3)), ((out["x_hat"] - x) ** 2).mean((1, 2, 3)))


# ------------------------------------------------------------------------------------ CAM probe


def test_cam_is_the_weighted_sum_of_features_and_averages_to_the_logit() -> None:
    probe = Probe().eval()
    x = image(3, 64)
    f = probe.features(x)
    want = (probe.head.weight[0][None, :, None, None] * f).sum(1, keepdim=True)
    cam = probe.cam(x)
    torch.testing.assert_close(cam, want)
    torch.testing.assert_close(cam.mean((1, 2, 3)) + probe.head.bias[0], probe(x)[:, 0])


def test_labels_and_warp() -> None:
    mask = torch.zeros(2, 1, 16, 16)
    mask[0, 0, 4:8, 4:8] = 1  # 16 bright pixels
    cls = torch.zeros(2, 1, 16, 16, dtype=torch.uint8)
    cls[1, 0, :, 2:] = 3
    target, dominant = labels(mask, cls, min_pixels=10)
    assert target.tolist() == [1.0, 0.0] and dominant.tolist() == [0, 3]
    data = ProbeData(torch.rand(2, 1, 16, 16), mask, cls, 10)
    ident = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(2, 2, 3)
    same = warp(data, ident)
    torch.testing.assert_close(same.x, data.x)
    assert torch.equal(same.mask, data.mask) and same.target.tolist() == [1.0, 0.0]
    from sarcomp.interpret.probe import ProbeConfig

    theta = random_affine(4, ProbeConfig(), torch.Generator().manual_seed(0))
    assert theta.shape == (4, 2, 3)


def test_cam_iou_of_a_tile_with_itself_is_one() -> None:
    probe = Probe().eval()
    x = image(4, 64)
    torch.testing.assert_close(cam_iou(probe, x, x, 0.5), torch.ones(4))
    assert (cam_iou(probe, x, torch.rand_like(x), 0.5) <= 1).all()


# ------------------------------------------------------------------------------------ STN


def test_stn_is_the_identity_at_initialisation() -> None:
    stn = build_attention("stn", 3)
    x = torch.randn(2, 3, 17, 24)
    torch.testing.assert_close(stn(x), x, atol=1e-5, rtol=1e-5)
    seen = []
    stn.gate.register_forward_hook(lambda _m, _i, out: seen.append(out))
    stn(x)
    torch.testing.assert_close(seen[0], torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(2, 2, 3))


def test_stn_gradients_reach_theta() -> None:
    stn = build_attention("stn", 2)
    seen = []

    def keep(_m, _i, out: Tensor) -> None:
        out.retain_grad()
        seen.append(out)

    stn.gate.register_forward_hook(keep)
    x = torch.randn(2, 2, 16, 16)
    (stn(x) * torch.randn_like(x)).sum().backward()
    assert seen[0].grad is not None and seen[0].grad.abs().sum() > 0
    assert stn.theta.weight.grad.abs().sum() > 0 and stn.theta.bias.grad.abs().sum() > 0


def test_stn_learns_to_undo_a_known_shift() -> None:
    torch.manual_seed(0)
    stn = build_attention("stn", 1)
    x = F.avg_pool2d(torch.rand(8, 1, 40, 40), 5, 1, 2)[..., 4:-4, 4:-4]  # smooth 32×32 images
    shift = 0.25  # normalised coordinates: 4 pixels
    moved = torch.tensor([[1.0, 0, shift], [0, 1.0, -shift]]).expand(8, 2, 3)
    shifted = F.grid_sample(x, F.affine_grid(moved, list(x.shape), align_corners=False), align_corners=False)
    inner = (..., slice(8, -8), slice(8, -8))  # away from the borders the shift brought in

    def loss() -> Tensor:
        return F.mse_loss(stn(shifted)[inner], x[inner])

    start = float(loss().detach())
    opt = torch.optim.Adam(stn.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        loss().backward()
        opt.step()
    seen = []
    stn.gate.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    assert float(loss().detach()) < 0.1 * start
    translation = seen[0][:, :, 2].mean(0)
    torch.testing.assert_close(translation, torch.tensor([-shift, shift]), atol=0.05, rtol=0)


# ------------------------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def cbam_smoke_run(tiny_data, tmp_path_factory):
    from sarcomp.training.trainer import train

    run_dir = tmp_path_factory.mktemp("cbam_run")
    train(
        compose_train(
            smoke_overrides(tiny_data, "experiment=cbam_bottleneck", "trainer.explain_at_val=true"), run_dir
        ),
        run_dir,
    )
    return run_dir


@pytest.mark.slow
def test_validation_logs_explain_figures(cbam_smoke_run):
    acc = EventAccumulator(str(cbam_smoke_run / "tensorboard"), size_guidance={"images": 0})
    acc.Reload()
    tags = set(acc.Tags()["images"])
    assert {
        "explain/attention_spatial",
        "explain/channel_weights",
        "explain/bits",
        "explain/gradcam_distortion",
    } <= tags


@pytest.mark.slow
def test_explain_script_end_to_end(cbam_smoke_run, tiny_data, tmp_path):
    scene = sorted((tiny_data / "test").glob("*.tif"))[0]
    out = tmp_path / "figs"
    cmd = [sys.executable, "scripts/explain.py", f"run_dir={cbam_smoke_run}", f"image={scene}", f"out={out}"]
    result = run_forked(
        [*cmd, "crop=0", "rise_masks=8", "rise_batch=4", f"tiles_from={tiny_data / 'test'}"],
        REPO,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    names = {p.name for p in out.iterdir()}
    assert {
        "attention_spatial.png",
        "channel_weights.png",
        "channel_distribution.png",
        "bits.png",
        "gradcam_distortion.png",
        "gradcam_rate.png",
        "importance_compare.png",
        "explain.json",
    } == names
    assert not any(n.endswith(".tmp") for n in names)
    summary = json.loads((out / "explain.json").read_text())
    assert summary["distribution_tiles"] == 2 * 9  # two 96-px test scenes, 32-px tiles
    acc = EventAccumulator(str(cbam_smoke_run / "tensorboard"), size_guidance={"images": 0})
    acc.Reload()
    assert f"explain/{scene.stem}/gradcam_rate" in acc.Tags()["images"]

    bad = run_forked(
        [sys.executable, "scripts/explain.py", f"run_dir={cbam_smoke_run}", f"image={tmp_path / 'nope.tif'}"],
        REPO,
        timeout=300,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == f"error: {tmp_path / 'nope.tif'}: image not found"
    assert "Traceback" not in bad.stderr


@pytest.mark.slow
def test_probe_script_end_to_end(cbam_smoke_run, tmp_path):
    out = tmp_path / "probe"
    tiny = ["train_scenes=2", "test_scenes=1", "scene_size=64", "tile=32", "epochs=1", "batch=16"]
    cmd = [sys.executable, "scripts/probe.py", f"runs=['{cbam_smoke_run}']", f"out={out}", *tiny]
    result = run_forked(cmd, REPO, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = json.loads((out / "probe.json").read_text())["rows"]
    assert len(rows) == 2 and rows[0]["variant"] == "original"
    assert rows[1]["variant"].startswith("cbam_bottleneck (λ=")
    assert rows[0]["bpp"] is None and rows[1]["bpp"] > 0
    for r in rows:
        assert 0 <= r["target_acc"] <= 1 and 0 <= r["affine_target_acc_stn"] <= 1
    assert rows[0]["cam_iou_all"] == 1.0  # a tile's CAM against itself
    assert "| original |" in (out / "probe.md").read_text()

    bad = run_forked([*cmd, "epochs=oops"], REPO, timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: probe.py:")


def test_windowed_self_attention_is_not_shown_as_global() -> None:
    model = SARCodec(
        channels=(8, 8, 8),
        latent_channels=16,
        attention={"type": "self_attention", "placement": "bottleneck", "kwargs": {"max_tokens": 8}},
    ).eval()
    with record_gates(model) as rec:
        model(image(1, 64))  # 4×4 = 16 latent positions > 8: local windows
    assert rec.qk == {}
