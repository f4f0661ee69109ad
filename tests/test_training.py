"""Training: the loss goes down, checkpoints resume, run folders are never overwritten."""

from __future__ import annotations

import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from sarcomp.errors import SarcompError
from sarcomp.runs import checkpoint_path, load_checkpoint
from sarcomp.training.trainer import Trainer, train
from tests.forked import run_forked
from tests.helpers import REPO, compose_train, smoke_overrides


def scalars(run_dir, tag):
    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_smoke_training_lowers_the_loss(tiny_data, tmp_path):
    overrides = smoke_overrides(
        tiny_data,
        "trainer.max_steps=120",
        "trainer.val_every=120",
        "trainer.lr=2e-3",
        "data.train_samples=480",
        "seed=3",
    )
    trainer = Trainer(compose_train(overrides, tmp_path), tmp_path)
    before = trainer.validate()["loss"]
    after = trainer.fit()["loss"]
    assert after < 0.9 * before


def test_checkpoints_hold_what_resume_needs(smoke_run):
    state = load_checkpoint(checkpoint_path(smoke_run, "last"))  # weights_only=True
    assert state["step"] == 4
    assert {"model", "optimizer", "aux_optimizer", "scheduler", "scaler", "rng", "config"} <= set(state)
    assert "attention" in state["config"] and checkpoint_path(smoke_run, "best").is_file()
    assert (smoke_run / "scenes.json").is_file()


def test_resume_continues_without_duplicate_steps(tiny_data, tmp_path, caplog):
    train(compose_train(smoke_overrides(tiny_data), tmp_path), tmp_path)
    with pytest.raises(SarcompError, match="already has checkpoints"):
        Trainer(compose_train(smoke_overrides(tiny_data), tmp_path), tmp_path)
    caplog.set_level("INFO")
    cfg = compose_train(smoke_overrides(tiny_data, "trainer.resume=true", "trainer.max_steps=8"), tmp_path)
    train(cfg, tmp_path)
    assert "resumed from step 4" in caplog.text
    assert load_checkpoint(checkpoint_path(tmp_path))["step"] == 8
    steps = [s for s, _ in scalars(tmp_path, "train/loss")]
    assert steps == sorted(set(steps)) == list(range(1, 9))


def test_tensorboard_has_losses_images_config_and_hparams(smoke_run):
    acc = EventAccumulator(str(smoke_run / "tensorboard"))
    acc.Reload()
    tags = acc.Tags()
    assert {"train/loss", "train/bpp", "train/psnr", "val/psnr", "val/ssim", "val/bpp"} <= set(
        tags["scalars"]
    )
    assert {"val/input", "val/reconstruction"} <= set(tags["images"])
    assert any("config" in t for t in tags["tensors"])
    assert "_hparams_/session_start_info" in acc.PluginTagToContent("hparams")
    assert "hparam/val_psnr" in tags["scalars"]
    assert any(p.name.startswith("events") for p in (smoke_run / "tensorboard").iterdir())


@pytest.mark.slow  # the command line end to end (tests.forked)
def test_train_py_cli_smoke(tiny_data, tmp_path):
    cmd = [sys.executable, "train.py", *smoke_overrides(tiny_data), f"hydra.run.dir={tmp_path}"]
    result = run_forked(cmd, REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert checkpoint_path(tmp_path).is_file() and (tmp_path / ".hydra" / "config.yaml").is_file()
    again = run_forked(cmd, REPO, timeout=300)
    assert again.returncode == 2 and again.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "already has checkpoints" in again.stderr


@pytest.mark.parametrize("experiment", ["baseline", "cbam_everywhere", "selfattn_bottleneck"])
def test_parameter_groups_are_disjoint_and_cover_the_model(experiment):
    from sarcomp.runs import build_model
    from sarcomp.training.optim import parameter_groups

    model = build_model(compose_train([f"experiment={experiment}", "debug=smoke"]).model)
    groups = parameter_groups(model)
    ids = [id(p) for g in (groups.network, groups.density, groups.aux) for p in g]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(names[id(p)].endswith("quantiles") for p in groups.aux) and groups.aux
    assert all(".entropy_bottleneck." in names[id(p)] for p in groups.density) and groups.density
