"""The linear-path codec (issue 26, step 2): invertible at step 0, its config, its coding round trip."""

from __future__ import annotations

import math

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from sarcomp.interpret.gradcam import RateTarget, default_layers, grad_cam
from sarcomp.models.blocks import ParallelTransform, last_convolution, run_channels_last
from sarcomp.models.linear_path import LinearPathSARCodec, linear_scale
from sarcomp.runs import build_model, load_run
from sarcomp.training.trainer import train
from tests.helpers import compose_train, encoder_reconstruction, load_script, smoke_overrides

LMBDAS = [0.003, 0.03, 0.3]


@pytest.fixture(scope="module")
def model() -> LinearPathSARCodec:
    torch.manual_seed(0)
    return LinearPathSARCodec(
        channels=[16], latent_channels=24, entropy="meanscale", hyper_channels=16, lmbdas=LMBDAS, lmbda=0.3
    ).eval()


def test_linear_path_config_is_highrate_with_the_linear_path_only():
    cfg = compose_train(["experiment=linearpath_cpu"])
    highrate = compose_train(["experiment=highrate_cpu"])
    assert cfg.data == highrate.data and cfg.trainer.lr == highrate.trainer.lr
    model_delta = {k for k in cfg.model if cfg.model[k] != highrate.model[k]}
    assert model_delta == {"_target_"}
    assert isinstance(build_model(cfg.model), LinearPathSARCodec)


def test_fast_linear_path_config_has_the_light_hyper_synthesis():
    cfg = compose_train(["experiment=linearpath_fast_cpu"])
    model = build_model(cfg.model)
    assert isinstance(model, LinearPathSARCodec) and len(model.latent_codec.hyper.h_s) == 5
    assert isinstance(model.latent_codec.hyper.h_s[-1], torch.nn.Conv2d)
    assert model.latent_codec.hyper.h_s[-1].kernel_size == (1, 1)  # the light h_s's last layer
    assert list(cfg.model.lmbdas) == [0.001, 0.003, 0.01, 0.03, 0.1, 0.3]


def test_stride_8_linear_path_config_is_the_mean_scale_models_widths():
    """``linearpath_s8_cpu``: linearpath_cpu on baseline-ms-s8's transform (48, 64; stride 8, latent
    96, 64 of whose values per position the invertible path uses), λ 0.001-0.3; exact at step 0."""
    cfg = compose_train(["experiment=linearpath_s8_cpu"])
    linear = compose_train(["experiment=linearpath_cpu"])
    assert cfg.data == linear.data and cfg.trainer == linear.trainer
    assert {k for k in cfg.model if cfg.model[k] != linear.model[k]} == {"channels", "lmbdas"}
    assert list(cfg.model.channels) == [48, 64] and cfg.model.latent_channels == 96
    model = build_model(cfg.model).eval()
    assert model.stride == 8 and model.g_a.linear[1].weight.shape[:2] == (96, 64)
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model.g_s(model.g_a(x)), x, atol=1e-5)


def test_transforms_start_as_exact_inverses(model):
    """At step 0 g_s(g_a(x)) is x: the deep paths start at zero, the linear one is orthonormal."""
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model.g_s(model.g_a(x)), x, atol=1e-5)
    assert isinstance(model.g_a, ParallelTransform) and isinstance(model.g_s, ParallelTransform)


def test_decoding_layout_changes_no_more_than_rounding():
    """``decompress`` runs g_s's deep path in channels_last: the same map up to float rounding."""
    torch.manual_seed(2)
    model = LinearPathSARCodec(channels=[16], latent_channels=24, entropy="meanscale", hyper_channels=16)
    for deep in (model.g_a.deep, model.g_s.deep):  # away from the zero start, so the deep path counts
        torch.nn.init.normal_(last_convolution(deep).weight, std=0.1)
    y = torch.randn(1, 24, 8, 12) * 10
    with torch.no_grad():
        plain, laid_out = model.g_s(y), run_channels_last(model.g_s, y)
    assert plain.abs().max() > 0.1 and torch.allclose(plain, laid_out, atol=1e-5)


def test_start_distortion_is_the_unit_step_at_the_scale(model):
    """Quantised at the top λ (gain 1), the MSE is that of unit steps at scale c: 1/(12 c²)."""
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        mse = float(((encoder_reconstruction(model, x, 0.3) - x) ** 2).mean())
    expected = 1 / (12 * linear_scale(0.3) ** 2)
    assert abs(10 * math.log10(mse / expected)) < 0.5
    assert mse < float(((encoder_reconstruction(model, x, 0.003) - x) ** 2).mean())  # coarser at low λ


@pytest.mark.parametrize("light_hyper", [False, True])
def test_linear_path_codes_a_round_trip(model, light_hyper):
    if light_hyper:
        torch.manual_seed(1)
        model = LinearPathSARCodec(
            channels=[16],
            latent_channels=24,
            entropy="meanscale",
            hyper_channels=16,
            lmbdas=LMBDAS,
            lmbda=0.3,
            light_hyper=True,
        ).eval()
    x = torch.rand(1, 1, 32, 48)
    model.update(force=True)
    for lmbda in (0.003, 0.3):
        coded = model.compress(x, lmbda=lmbda)
        x_hat = model.decompress(coded["strings"], coded["shape"], lmbda=lmbda)["x_hat"]
        assert torch.allclose(x_hat, encoder_reconstruction(model, x, lmbda), atol=1e-5)


def test_linear_path_state_round_trips_with_its_scale(model):
    """c travels with the weights: a state with another c loads that c, not the built one's."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert sorted(k for k in state if k.endswith("factor")) == ["g_a.linear.2.factor", "g_s.linear.0.factor"]
    state["g_a.linear.2.factor"] *= 2
    state["g_s.linear.0.factor"] /= 2
    rebuilt = LinearPathSARCodec(
        channels=[16], latent_channels=24, entropy="meanscale", hyper_channels=16, lmbdas=LMBDAS, lmbda=0.3
    )
    rebuilt.load_state_dict(state)
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(rebuilt.g_a.linear(x), 2 * model.g_a.linear(x))
        assert torch.allclose(rebuilt.g_s(rebuilt.g_a(x)), x, atol=1e-5)  # still inverses


def test_every_parameter_of_the_linear_path_codec_learns():
    """Away from the zero start of the deep paths' last convolutions, every parameter gets a
    gradient (at the start the deep paths' inner ones get exactly zero, by construction)."""
    torch.manual_seed(0)
    model = LinearPathSARCodec(channels=[8], latent_channels=16, entropy="meanscale", hyper_channels=8)
    for deep in (model.g_a.deep, model.g_s.deep):
        torch.nn.init.normal_(last_convolution(deep).weight, std=0.1)
    x = torch.rand(2, 1, 32, 32)
    out = model(x)
    loss = ((out["x_hat"] - x) ** 2).mean() + sum(-v.log2().sum() for v in out["likelihoods"].values())
    loss.backward()
    still = [n for n, p in model.named_parameters() if "quantiles" not in n and not p.grad.abs().sum() > 0]
    assert not still


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attention": {"type": "cbam", "placement": "bottleneck"}}, "attention.type"),
        ({"latent_channels": 8}, "latent_channels"),
        ({"light_hyper": True, "entropy": "hyperprior"}, "light_hyper"),
    ],
)
def test_linear_path_codec_rejects_what_it_does_not_build(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LinearPathSARCodec(**{"channels": [16], "latent_channels": 24, **kwargs})


def test_validate_shipped_reproduces_the_trainers_validation(tiny_data, tmp_path):
    """The decision script measures what the trainer logged: same routine, tiles and λ."""
    validate_shipped = load_script("experiments/validate_shipped.py")
    overrides = smoke_overrides(
        tiny_data,
        "model.entropy=meanscale",
        "model.lmbdas=[0.003,0.03]",
        "model.lmbda=0.03",
        "trainer.max_steps=2",
        "trainer.val_every=2",
    )
    train(compose_train(overrides, tmp_path), tmp_path)
    data_cfg = load_run(tmp_path)[0]
    loader = validate_shipped.validation_loader(data_cfg)
    points = validate_shipped.validate(
        *validate_shipped.as_shipped(str(tmp_path), half=False), data_cfg, loader
    )
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    for lmbda, bpp, psnr in points:
        assert bpp == pytest.approx(acc.Scalars(f"val_lmbda_{lmbda:g}/bpp")[-1].value, rel=1e-5)
        assert psnr == pytest.approx(acc.Scalars(f"val_lmbda_{lmbda:g}/psnr")[-1].value, rel=1e-5)
    _, shipped = validate_shipped.as_shipped(str(tmp_path))  # as exported: float16 weights
    assert all(torch.equal(p, p.half().float()) for p in shipped.parameters())
    ahead = [(0.003, 1.0, 21.0), (0.03, 2.0, 26.0)]
    assert list(validate_shipped.deltas(ahead, [(0.01, 1.0, 20.0), (0.1, 2.0, 25.0)])) == [1.0, 1.0]


def test_gradcam_explains_the_deep_analysis_path(model):
    layers = default_layers(model)
    assert list(layers) == ["g_a.deep.1"] and layers["g_a.deep.1"] is model.g_a.deep[-1]
    maps = grad_cam(model, torch.rand(1, 1, 32, 32), layers, RateTarget())
    assert maps["g_a.deep.1"].shape == (1, 1, 32, 32)
