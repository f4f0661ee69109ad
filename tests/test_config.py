"""Every experiment composes, with and without the smoke preset, and builds its model."""

from __future__ import annotations

import pytest
import torch

from sarcomp.config import experiment_names
from sarcomp.runs import build_model
from tests.conftest import compose_train

V_PLAN = {"baseline", "cbam_bottleneck", "cbam_everywhere", "selfattn_bottleneck"}


def test_experiment_plan_present():
    names = set(experiment_names())
    assert (
        V_PLAN | {"se_bottleneck", "eca_bottleneck", "spatial_bottleneck", "cbam_encoder", "cbam_decoder"}
        <= names
    )


@pytest.mark.parametrize("name", experiment_names())
def test_experiment_composes_and_builds(name):
    cfg = compose_train([f"experiment={name}", "debug=smoke"])
    assert cfg.experiment_name == name
    assert cfg.trainer.max_steps <= 10 and cfg.data.tile_size == 32
    model = build_model(cfg.model)
    out = model(torch.rand(1, 1, 32, 32))
    assert out["x_hat"].shape == (1, 1, 32, 32)
    assert (model.attention_type, model.placement) == (
        cfg.model.attention.type,
        cfg.model.attention.placement,
    )


def test_defaults_match_the_design():
    cfg = compose_train([])
    assert list(cfg.model.channels) == [64, 128, 256] and cfg.data.tile_size == 256
    assert cfg.model.attention.type == "none" and cfg.data.representation.units == "intensity"
