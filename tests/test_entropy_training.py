"""Training with a hyperprior and with variable rate: optimiser groups, logs, evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from sarcomp.runs import load_run
from sarcomp.training.trainer import Trainer, train
from tests.helpers import compose_train, load_script, smoke_overrides


def scalar_tags(run_dir) -> set[str]:
    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    return set(acc.Tags()["scalars"])


@pytest.mark.parametrize("entropy", ["hyperprior", "meanscale"])
def test_hyperprior_optimiser_groups_by_name(entropy, tiny_data, tmp_path):
    """The aux optimiser holds exactly the z bottleneck's quantiles; the density of z learns in
    the entropy-lr group; h_a/h_s and nothing else in the network group."""
    trainer = Trainer(
        compose_train(smoke_overrides(tiny_data, f"model.entropy={entropy}"), tmp_path), tmp_path
    )
    model = trainer.model
    aux = trainer.step.aux_optimizer.param_groups[0]["params"]
    assert len(aux) == 1 and aux[0] is model.latent_codec.hyper.z.entropy_bottleneck.quantiles
    network, density = (g["params"] for g in trainer.step.optimizer.param_groups)
    ids = lambda params: {id(p) for p in params}  # noqa: E731
    hyper = model.latent_codec.hyper
    assert ids(hyper.h_a.parameters()) | ids(hyper.h_s.parameters()) <= ids(network)
    expected = {id(p) for n, p in hyper.z.entropy_bottleneck.named_parameters() if n != "quantiles"}
    assert ids(density) == expected
    counted = ids(network) | ids(density) | ids(aux)
    assert counted == ids(model.parameters()) and len(counted) == len(network) + len(density) + 1


@pytest.mark.parametrize("entropy", ["hyperprior", "meanscale"])
def test_hyperprior_trains_logs_both_rates_and_reloads(entropy, tiny_data, tmp_path):
    overrides = smoke_overrides(tiny_data, f"model.entropy={entropy}", "model.hyper_channels=4")
    val = train(compose_train(overrides, tmp_path), tmp_path)
    assert val["bpp"] == pytest.approx(val["bpp_y"] + val["bpp_z"], rel=1e-4)
    assert {"val/bpp_y", "val/bpp_z", "train/aux"} <= scalar_tags(tmp_path)
    _, model, _ = load_run(tmp_path)
    assert model.entropy == entropy and model.latent_codec.hyper.h_a[0].out_channels == 4


def test_variable_rate_samples_lmbdas_and_validates_each(tiny_data, tmp_path):
    lmbdas = [0.002, 0.008, 0.032]
    overrides = smoke_overrides(
        tiny_data, f"model.lmbdas=[{','.join(map(str, lmbdas))}]", "model.lmbda=0.032", "trainer.max_steps=6"
    )
    train(compose_train(overrides, tmp_path), tmp_path)
    tags = scalar_tags(tmp_path)
    assert {f"val_lmbda_{v:g}/bpp" for v in lmbdas} <= tags and "val/bpp" in tags
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    drawn = {round(e.value, 6) for e in acc.Scalars("train/lmbda")}
    assert drawn <= set(lmbdas) and len(drawn) >= 2  # 6 draws from 3 values (seeded)
    _, model, _ = load_run(tmp_path)
    assert model.lmbdas == tuple(lmbdas)
    calibrate = load_script("experiments/calibrate_lambda.py")
    rates = calibrate.validation_rates(tmp_path)
    assert sorted(rates) == lmbdas


def test_lambda_calibration_interpolates_in_log_space():
    calibrate = load_script("experiments/calibrate_lambda.py")
    rates = {0.001: 0.25, 0.004: 1.0, 0.016: 4.0}
    assert calibrate.lambda_for(rates, 0.5) == pytest.approx(0.002)
    assert calibrate.lambda_for(rates, 8.0) is None
    with pytest.raises(SystemExit, match="does not rise"):
        calibrate.lambda_for({0.001: 1.0, 0.004: 0.5}, 0.7)


@pytest.mark.parametrize("name", ["recipe_cpu", "recipe_gpu"])
def test_recipes_compose_build_and_log_convergence(name):
    from sarcomp.runs import build_model

    cfg = compose_train([f"experiment={name}"])
    assert cfg.model.entropy == "meanscale" and cfg.data.root.endswith("synthetic_recipe")
    assert cfg.trainer.val_every * 10 <= cfg.trainer.max_steps  # enough validation points for a curve
    assert cfg.data.tile_size % 16 == 0 and cfg.data.train_samples >= cfg.data.batch_size
    model = build_model(cfg.model)
    assert (
        model.entropy == "meanscale"
        and model.latent_codec.hyper.h_a[0].out_channels == cfg.model.hyper_channels
    )


def test_runs_saved_before_the_entropy_keys_still_resume():
    from omegaconf import OmegaConf

    from sarcomp.runs import model_config_changes

    current = compose_train([]).model
    old = OmegaConf.to_container(current, resolve=True)
    for key in ("entropy", "hyper_channels", "lmbdas"):
        old.pop(key)
    saved = OmegaConf.to_yaml({"model": old})
    assert model_config_changes(saved, current) == []
    with_hyper = OmegaConf.merge(current, {"entropy": "meanscale"})
    assert model_config_changes(saved, with_hyper) == ["model.entropy: factorized -> meanscale"]


def test_convergence_reads_validation_curves_and_finds_the_plateau(tiny_data, tmp_path):
    convergence = load_script("experiments/convergence.py")
    curve = [{"step": s, "loss": v} for s, v in [(1, 10.0), (2, 8.0), (3, 7.95), (4, 7.9), (5, 8.2)]]
    assert convergence.plateau_step(curve, tol=0.02) == 2
    assert convergence.plateau_step(curve, tol=0.01) == 3  # 8.0 -> 7.9 is a 1.25 % gain
    assert convergence.plateau_step(curve[:2], tol=0.01) is None  # still improving at the end
    overrides = smoke_overrides(
        tiny_data, "model.entropy=hyperprior", "model.lmbdas=[0.003,0.01]", "model.lmbda=0.01"
    )
    train(compose_train(overrides, tmp_path), tmp_path)
    rows = convergence.validation_curve(tmp_path)
    assert [r["step"] for r in rows] == [2, 4] and {"loss", "bpp", "bpp_y", "bpp_z", "psnr"} <= set(rows[0])
    assert convergence.lambda_prefixes(tmp_path) == ["val_lmbda_0.003", "val_lmbda_0.01"]
    low, high = (convergence.validation_curve(tmp_path, p) for p in convergence.lambda_prefixes(tmp_path))
    assert rows[0]["bpp"] == pytest.approx((low[0]["bpp"] + high[0]["bpp"]) / 2)  # val/* is their mean


def test_compare_keeps_entropy_models_apart():
    from sarcomp.analysis.collect import RunResult
    from sarcomp.analysis.report import group

    def run(entropy, seed):
        payload = {"name": "baseline", "attention": "none", "placement": "none", "lmbda": 0.013, "seed": seed}
        return RunResult(Path(f"/runs/{entropy}{seed}"), payload | ({"entropy": entropy} if entropy else {}))

    variants, _ = group([run(None, 1), run("factorized", 2), run("meanscale", 1)])
    names = sorted(v.name for v in variants)
    assert names == ["baseline [factorized prior]", "baseline [meanscale prior]"]  # old payloads: factorized


def test_convergence_against_reads_each_lambda_off_the_other_runs_points(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    convergence = load_script("experiments/convergence.py")
    runs = {"a": {0.01: (1.0, 20.0), 0.1: (2.0, 27.0)}, "b": {0.03: (2**0.5, 24.0), 0.3: (4.0, 30.0)}}
    for name, points in runs.items():
        with SummaryWriter(str(tmp_path / name / "tensorboard")) as writer:
            for step in (1, 2):  # only the last validation counts
                for lmbda, (bpp, psnr) in points.items():
                    writer.add_scalar(f"val_lmbda_{lmbda:g}/bpp", bpp * step / 2, step)
                    writer.add_scalar(f"val_lmbda_{lmbda:g}/psnr", psnr - 2 + step, step)
    rows = {(r[0].split("/")[-1], r[1]): r for r in convergence.against(tmp_path / "b", tmp_path / "a")}
    # b at √2 bpp: a's points joined in log rate give 23.5 dB at their geometric midpoint
    assert rows[("b", 0.03)][2:5] == (2, pytest.approx(2**0.5), pytest.approx(24.0))
    assert rows[("b", 0.03)][5] == pytest.approx(0.5)
    assert np.isnan(rows[("b", 0.3)][5]) and np.isnan(rows[("a", 0.01)][5])  # outside the other's rates
    assert rows[("a", 0.1)][5] == pytest.approx(27.0 - 26.0)  # 2 bpp is ⅓ of b's way in log rate
