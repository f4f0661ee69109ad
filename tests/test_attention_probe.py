"""Attention that is seen to train: gate statistics, residual gains, LayerScale, the ablation."""

from __future__ import annotations

import pytest
import torch

from sarcomp.errors import SarcompError
from sarcomp.evaluation.evaluate import evaluate_run
from sarcomp.models import SARCodec
from sarcomp.models.attention import build_attention
from sarcomp.models.attention_probe import ablated, attention_modules, attention_statistics, gate_means
from sarcomp.training.attention_log import read_attention_log
from sarcomp.training.optim import build_optimizers, residual_gains
from sarcomp.training.trainer import train
from tests.helpers import compose_train, smoke_overrides


def codec(kind: str, placement: str = "bottleneck", **kwargs) -> SARCodec:
    torch.manual_seed(0)
    attention = {"type": kind, "placement": placement, "kwargs": kwargs}
    return SARCodec(channels=[16, 16], latent_channels=16, attention=attention).eval()


def _train_gates(model: SARCodec) -> None:
    """Give every gate and gain a non-trivial value (as training would)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith(("g_a", "g_s")):
                p.add_(0.3 * torch.randn_like(p))


def test_attention_modules_are_the_outer_ones():
    assert list(attention_modules(codec("cbam", "everywhere"))) == [
        "g_a.1",
        "g_a.3",
        "g_a.5",
        "g_s.0",
        "g_s.2",
        "g_s.4",
    ]
    assert attention_modules(codec("none")) == {}


def test_statistics_read_gates_and_gains():
    x = torch.rand(2, 1, 32, 32)
    fresh = attention_statistics((m := codec("cbam")), lambda: m(x))
    assert fresh["g_a.3"] == {
        "channel_mean": 0.5,
        "channel_std": 0.0,
        "spatial_mean": 0.5,
        "spatial_std": 0.0,
    }
    _train_gates(m)
    trained = attention_statistics(m, lambda: m(x))["g_a.3"]
    assert trained["spatial_std"] > 0 and trained["channel_mean"] != 0.5
    sa = codec("self_attention")
    assert attention_statistics(sa, lambda: sa(x))["g_s.0"] == {"gamma": 0.0, "branch_ratio": 0.0}
    with torch.no_grad():
        sa.g_s[0].gamma.fill_(-0.5)
    stats = attention_statistics(sa, lambda: sa(x))["g_s.0"]
    assert stats["gamma"] == pytest.approx(0.5) and stats["branch_ratio"] > 0


def test_layer_scale_gamma_is_per_channel_and_starts_at_its_value():
    block = build_attention("self_attention", 16, gamma_init=0.1, layer_scale=True)
    assert block.gamma.shape == (16, 1, 1) and torch.all(block.gamma == 0.1)
    x = torch.randn(1, 16, 8, 8)
    assert not torch.allclose(block(x), x)  # no longer the identity at the start
    assert build_attention("self_attention", 16).gamma.shape == (1,)  # the default is unchanged


def test_gamma_gets_its_own_learning_rate_group():
    model = codec("self_attention")
    main, _ = build_optimizers(model, 1e-3, 10.0, 1e-3, gamma_lr_scale=20.0)
    assert len(main.param_groups) == 3 and main.param_groups[2]["lr"] == pytest.approx(0.02)
    assert main.param_groups[2]["params"] == residual_gains(model) and len(residual_gains(model)) == 2
    assert not any(p is g for p in main.param_groups[0]["params"] for g in residual_gains(model))
    plain, _ = build_optimizers(model, 1e-3, 10.0, 1e-3)
    assert len(plain.param_groups) == 2  # runs without the option keep their optimizer state layout


@pytest.mark.parametrize(
    ("kind", "placement"), [("cbam", "everywhere"), ("se", "bottleneck"), ("self_attention", "bottleneck")]
)
def test_ablation_switches_off_and_restores(kind, placement):
    model = codec(kind, placement)
    _train_gates(model)
    x = torch.rand(2, 1, 32, 32)
    names = list(attention_modules(model))
    means = gate_means(model, lambda: model(x), names)
    before = model(x)["x_hat"]
    with ablated(model, names, means):
        off = model(x)["x_hat"]
        if kind == "self_attention":
            assert all(float(m.gamma.detach().abs().max()) == 0 for m in attention_modules(model).values())
    assert not torch.allclose(before, off)  # the modules did something
    torch.testing.assert_close(model(x)["x_hat"], before)  # and are back afterwards


def test_ablated_gate_is_its_mean():
    """A gated module switched off scales by its calibrated mean gate, per channel for SE."""
    block = codec("se").g_s[0]
    torch.nn.init.normal_(block.fc2.weight, std=1.0)  # a gate that varies per sample
    model = torch.nn.Sequential(block)
    x = torch.rand(4, 16, 8, 8)
    means = gate_means(model, lambda: model(x), ["0"])
    with ablated(model, ["0"], means):
        out = model(x)
    torch.testing.assert_close(out, x * means["0|gate"])
    with pytest.raises(ValueError, match="calibrated mean"):
        with ablated(model, ["0"], {}):
            pass
    with pytest.raises(ValueError, match="not attention modules"):
        with ablated(model, ["nope"], means):
            pass


def test_training_logs_attention_per_validation(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    overrides = smoke_overrides(
        tiny_data, "experiment=selfattn_bottleneck", "trainer.max_steps=4", "trainer.val_every=2"
    )
    train(compose_train(overrides, run_dir), run_dir)
    log = read_attention_log(run_dir)
    assert sorted(log) == [2, 4]
    assert set(log[4]) == {"g_a.4", "g_s.0"} and {"gamma", "branch_ratio"} <= set(log[4]["g_s.0"])


def test_evaluation_with_attention_switched_off(tiny_data, tmp_path, smoke_run):
    run_dir = tmp_path / "cbam"
    train(compose_train(smoke_overrides(tiny_data, "experiment=cbam_bottleneck"), run_dir), run_dir)
    payload, path = evaluate_run(run_dir, ablate=["all"], checkpoint="last")
    assert path.name == "metrics_ablated.json" and payload["ablated"] == ["g_a.4", "g_s.0"]
    assert payload["images"] and all(r["bpp"] > 0 for r in payload["images"])
    with pytest.raises(SarcompError, match="not attention modules"):
        evaluate_run(run_dir, ablate=["g_a.0"], checkpoint="last")
    with pytest.raises(SarcompError, match="no attention modules"):
        evaluate_run(smoke_run, ablate=["all"], checkpoint="last")
