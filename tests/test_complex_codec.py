"""The learned complex codec's plumbing (issue 29): tiles, configs, training, coding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sarcomp.data.complex_representation import ComplexRepresentation
from sarcomp.data.complex_synthetic import generate_complex_dataset
from sarcomp.data.complex_tiles import ComplexScene
from sarcomp.data.loaders import load_split
from sarcomp.data.tiles import GridTiles, RandomTiles
from sarcomp.errors import SarcompError
from sarcomp.metrics import mse, ssim
from sarcomp.metrics.interferometry import phase_error_deg
from sarcomp.models import SARCodec
from sarcomp.models.attention import attention_names
from sarcomp.models.autoencoder import PLACEMENTS
from sarcomp.runs import build_model, checkpoint_path, load_checkpoint
from sarcomp.training.checks import check_train_config
from sarcomp.training.loss import RateDistortionLoss
from sarcomp.training.trainer import train
from tests.helpers import compose_train

ATTENTION_NAMES = attention_names()


@pytest.fixture(scope="module")
def complex_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("complex")
    generate_complex_dataset(root, {"train": 2, "val": 1, "test": 1}, pairs=0, size=64, seed=0)
    return root


def test_complex_scenes_give_channel_tiles(complex_data):
    scenes = load_split(compose_train(["data=complex_synthetic", f"data.root={complex_data}"]).data, "train")
    assert all(isinstance(s, ComplexScene) for s in scenes) and scenes[0].record()["complex"] == "iq"
    item = RandomTiles(scenes, 32, 4, seed=0)[0]
    assert item["x"].shape == item["mask"].shape == (2, 32, 32) and item["mask"].all()
    grid = GridTiles(scenes, 48, 48)  # 64 px scenes: edge tiles padded, padding masked
    edge = grid[1]
    assert edge["x"].shape == (2, 48, 48) and not edge["mask"][:, :, 16:].any()


@pytest.mark.parametrize("placement", [p for p in PLACEMENTS if p != "none"])
def test_every_attention_placement_composes_a_complex_codec(placement):
    for kind in [k for k in ATTENTION_NAMES if k != "none"]:
        overrides = [
            "data=complex_synthetic",
            "model=complex",
            "debug=smoke",
            f"model.attention.type={kind}",
            f"model.attention.placement={placement}",
        ]
        cfg = compose_train(overrides)
        check_train_config(cfg)
        model = build_model(cfg.model)
        assert (model.attention_type, model.placement) == (kind, placement)
        assert model(torch.rand(1, 2, 32, 32))["x_hat"].shape == (1, 2, 32, 32)


def test_channel_count_is_checked_before_a_run():
    check_train_config(compose_train(["data=complex_synthetic", "model=complex"]))
    check_train_config(
        compose_train(
            ["data=complex_synthetic", "model=complex", "data.complex.form=logpolar", "model.in_channels=3"]
        )
    )
    for overrides, message in (
        (["data=complex_synthetic"], "model=complex"),
        (["data=complex_synthetic", "model=complex", "data.complex.form=logpolar"], "in_channels=3"),
        (["model=complex"], "real-valued data give 1"),
    ):
        with pytest.raises(SarcompError, match=message):
            check_train_config(compose_train(overrides))


def test_smoke_training_on_complex_tiles_and_coding_a_tile(complex_data, tmp_path):
    overrides = ["debug=smoke", "data=complex_synthetic", "model=complex", f"data.root={complex_data}"]
    cfg = compose_train(
        [*overrides, "model.attention.type=cbam", "model.attention.placement=bottleneck"], tmp_path
    )
    val = train(cfg, tmp_path)
    assert np.isfinite([val["loss"], val["psnr"], val["ssim"]]).all()
    state = load_checkpoint(checkpoint_path(tmp_path))
    assert state["step"] == 4 and "in_channels: 2" in state["config"]
    model = build_model(cfg.model)
    model.load_state_dict(state["model"])
    model.eval().update(force=True)
    x = GridTiles(load_split(cfg.data, "test"), 32)[0]["x"][None]
    coded = model.compress(x)
    assert model.decompress(coded["strings"], coded["shape"])["x_hat"].shape == (1, 2, 32, 32)


def test_compress_decompress_keeps_the_phase_of_a_known_pattern_within_the_codec_error():
    """A tiny 2-channel codec fitted for 300 steps to one fringe pattern (not a trained codec: a
    check that I/Q go in and come out as the same phase): through the real ``compress`` /
    ``decompress`` the phase comes back within the codec's own error in its [0, 1] domain."""
    torch.manual_seed(0)
    yy, xx = np.mgrid[0:32, 0:32]
    s = (0.8 + 0.2 * np.cos(2 * np.pi * yy / 32)) * np.exp(2j * np.pi * (xx / 16 + yy / 32))
    rep = ComplexRepresentation()
    scaling = rep.scaling(s)
    x = torch.from_numpy(rep.to_unit(s, scaling))[None]
    model = SARCodec(channels=(16,), latent_channels=16, in_channels=2, lmbda=0.1)
    optimiser = torch.optim.Adam(model.parameters(), 1e-2)
    loss = RateDistortionLoss(0.1)
    for _ in range(300):
        optimiser.zero_grad()
        (loss(model(x), x)["loss"] + model.aux_loss()).backward()
        optimiser.step()
    model.eval().update(force=True)
    coded = model.compress(x)
    x_hat = model.decompress(coded["strings"], coded["shape"])["x_hat"][0].numpy()
    decoded = rep.from_unit(x_hat, scaling)
    assert phase_error_deg(s, decoded) < 5.0  # 2.0° measured; the pattern's phase spans 0-540°
    # per sample: the phase error is at most arcsin(|codec error| / |signal|) in the codec's domain
    z, z_hat = ((2 * u[0] - 1) + 1j * (2 * u[1] - 1) for u in (x[0].numpy(), x_hat))
    bound = np.arcsin(np.minimum(np.abs(z_hat - z) / np.abs(z), 1.0))
    assert np.all(np.abs(np.angle(decoded * np.conj(s))) <= bound + 1e-5)


def test_image_metrics_take_channels():
    x, y = torch.rand(2, 2, 24, 24), torch.rand(2, 2, 24, 24)
    per_channel = torch.stack([ssim(x[:, c : c + 1], y[:, c : c + 1]) for c in range(2)], 1).mean(1)
    assert torch.allclose(ssim(x, y), per_channel)
    one = torch.ones(2, 1, 24, 24, dtype=torch.bool)
    assert torch.allclose(mse(x, y, one), ((x - y) ** 2).mean((1, 2, 3)))  # a 1-channel mask spreads
