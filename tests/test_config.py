"""Every experiment composes, with and without the smoke preset, and builds its model."""

from __future__ import annotations

import pytest
import torch

from sarcomp.config import experiment_names
from sarcomp.errors import SarcompError
from sarcomp.runs import build_model
from tests.helpers import compose_train


def test_each_plan_id_is_stated_once_by_one_experiment_file():
    plan = {name: compose_train([f"experiment={name}"]).plan_id for name in experiment_names()}
    assert sorted(v for v in plan.values() if v) == ["V0", "V1", "V2", "V3"]
    assert plan["baseline"] == "V0"  # the baseline leads the plan


LINEAR_PATH = "sarcomp.models.linear_path.LinearPathSARCodec"
LINEAR_PATH_SMOKE = ["model.channels=[8]", "model.latent_channels=16"]  # stride 4, latent = stride²


@pytest.mark.parametrize("name", experiment_names())
def test_experiment_composes_and_builds(name):
    cfg = compose_train([f"experiment={name}", "debug=smoke"])
    if cfg.model._target_ == LINEAR_PATH:  # smoke's stride 16 needs latent >= 256: a clear error
        with pytest.raises(SarcompError, match="latent_channels: the linear path needs at least 256"):
            build_model(cfg.model)
        cfg = compose_train([f"experiment={name}", "debug=smoke", *LINEAR_PATH_SMOKE])
    assert cfg.experiment_name == name
    assert cfg.trainer.max_steps <= 10 and cfg.data.tile_size == 32
    model = build_model(cfg.model)
    channels = int(cfg.model.get("in_channels", 1))  # 2 for a complex (I/Q) model
    out = model(torch.rand(1, channels, 32, 32))
    assert out["x_hat"].shape == (1, channels, 32, 32)
    assert (model.attention_type, model.placement) == (
        cfg.model.attention.type,
        cfg.model.attention.placement,
    )


def test_defaults_match_the_design():
    cfg = compose_train([])
    assert list(cfg.model.channels) == [64, 128, 256] and cfg.data.tile_size == 256
    assert cfg.model.attention.type == "none" and cfg.data.representation.units == "intensity"


def test_a_mistyped_trainer_key_fails_at_composition():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="max_step"):
        compose_train(["trainer.max_step=3"])
    with pytest.raises(ConfigCompositionException, match="max_steps"):
        compose_train(["trainer.max_steps=many"])


def test_a_mistyped_eval_key_fails_at_composition():
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException

    from sarcomp.config import CONFIG_DIR

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        assert compose(config_name="eval", overrides=["run_dir=x"]).classic.bits == 16
        with pytest.raises(ConfigCompositionException, match="codec"):
            compose(config_name="eval", overrides=["run_dir=x", "classic.codec=[jpeg]"])


def test_one_device_rule_for_every_entry_point():
    from sarcomp.devices import pick_device

    assert pick_device("cpu").type == "cpu" and pick_device("auto").type in ("cpu", "cuda")
    with pytest.raises(SarcompError, match="trainer.device: unknown device 'gpu'; valid: auto, cpu, cuda"):
        pick_device("gpu", "trainer.device")
    if not torch.cuda.is_available():
        with pytest.raises(SarcompError, match="no CUDA device"):
            pick_device("cuda:0")
