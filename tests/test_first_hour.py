"""The first hour of a new user (issue 11): no silent wrong data, commands that work as printed,
a trainer and an evaluation that say what they do. One test (or more) per item."""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import rasterio
from hydra.core.override_parser.overrides_parser import OverridesParser

from sarcomp.config import (
    PACKAGE_ROOT,
    data_root_suffix,
    quote_path_overrides,
    run_folder,
    run_name,
    run_name_of,
    sweep_folder,
)
from sarcomp.data import rasters
from sarcomp.data.rasters import BandSpec, open_raster, read_window
from sarcomp.errors import SarcompError
from sarcomp.evaluation import evaluate as ev
from sarcomp.training.checks import check_tile_sizes, model_stride
from tests.forked import Ran, run_forked
from tests.helpers import REPO, compose_train, smoke_overrides

TRAIN = str(REPO / "train.py")


def run(cmd: list[str], cwd: Path, root: Path | None = None, timeout: int = 300) -> Ran:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    env.pop("SARCOMP_ROOT", None)
    if root is not None:
        env["SARCOMP_ROOT"] = str(root)
    return run_forked(cmd, cwd, env, timeout)


def assert_one_line_error(result: Ran, text: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], result.stderr


# ---------------------------------------------------------------- item 1: data.root required
def test_geotiff_without_root_stops_before_a_run_folder(tmp_path):
    result = run([sys.executable, TRAIN, "data=geotiff", "experiment=cbam_bottleneck"], tmp_path, tmp_path)
    assert_one_line_error(result, "data.root is required")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_geotiff_root_does_not_inherit_the_synthetic_folder():
    assert compose_train(["data=geotiff"]).data.root is None


# ---------------------------------------------------------------- item 5: pasteable folder names
def test_run_names_have_no_equals_or_commas():
    assert run_name("debug-smoke__experiment-cbam_bottleneck") == "debug-smoke__experiment-cbam_bottleneck"
    assert run_name("model.channels-[8,8,8]__seed-1") == "model.channels-8-8-8__seed-1"
    assert run_name("") == "default"
    name = run_name_of(["experiment=cbam_bottleneck", "debug=smoke", "trainer.resume=true", "data.root=/x"])
    assert name == "debug-smoke__experiment-cbam_bottleneck"


@pytest.mark.slow
def test_train_py_names_the_run_folder_like_run_name_of(tiny_data, tmp_path):
    overrides = ["experiment=baseline", "debug=smoke", "trainer.max_steps=2"]
    result = run([sys.executable, TRAIN, *overrides, f"data.root={tiny_data}"], tmp_path, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    runs = tmp_path / "outputs" / "train" / "runs"
    assert [p.name for p in runs.iterdir()] == [run_name_of(overrides, data_root=tiny_data)]
    again = run(
        [sys.executable, TRAIN, *overrides, f"data.root={tiny_data}", "trainer.resume=true"],
        tmp_path,
        tmp_path,
    )
    assert again.returncode == 0 and "run already finished at step 2" in again.stdout


LONG = (
    "data.band_specs-configs/bands/shared_sar.yaml__debug-smoke__model.lmbda-0.1__"
    "model.lmbdas-[0.0003,0.001,0.003,0.01,0.03,0.1]__trainer.max_steps-2"
)


def test_long_run_names_are_shortened_to_their_readable_part_and_a_hash():
    name = run_name(LONG)
    assert len(name) <= 120 and name.startswith("data.band_specs-shared_sar.yaml-h")
    assert "__model.lmbdas-0.0003-0.001-0.-h" in name
    other = run_name(LONG.replace("0.03,0.1]", "0.03,0.2]"))
    assert other != name and len(other) == len(name)  # the hash tells them apart
    sweep = "+hparams_search-rd_sweep__debug-demo__experiment-selfattn_bottleneck__model.lmbda-0.0035__seed-1"
    assert run_name(sweep + "__trainer.max_steps-400__trainer.val_every-200").startswith(sweep + "-h")
    assert run_name(sweep) == sweep  # within the limits: the name earlier versions gave


def test_folders_named_by_earlier_versions_are_found_again(tmp_path):
    """trainer.resume=true must find a run folder made before names were shortened, and a sweep job
    made before sweep folders carried the data hash."""
    legacy = "data.band_specs-configs-bands-shared_sar.yaml__debug-smoke__model.lmbda-0.1__model.lmbdas-0.0003-0.001-0.003-0.01-0.03-0.1__trainer.max_steps-2"
    suffix = data_root_suffix("/data")
    assert run_folder(LONG, "/data", tmp_path) == run_name(LONG) + suffix  # nothing there yet
    (tmp_path / (legacy + suffix)).mkdir()
    assert run_folder(LONG, "/data", tmp_path) == legacy + suffix
    (tmp_path / (run_name(LONG) + suffix)).mkdir()  # both: the current name wins
    assert run_folder(LONG, "/data", tmp_path) == run_name(LONG) + suffix
    sweep = tmp_path / "sweep"
    (sweep / "debug-smoke__seed-1").mkdir(parents=True)  # a sweep job without _data-<hash>
    assert sweep_folder("debug-smoke__seed-1", "/data", sweep) == "debug-smoke__seed-1"
    assert sweep_folder("debug-smoke__seed-2", "/data", sweep) == "debug-smoke__seed-2" + suffix


@pytest.mark.slow
def test_sweep_jobs_carry_the_data_hash(tiny_data, tmp_path):
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, TRAIN, "-m", "debug=smoke", "trainer.max_steps=2", "seed=1,2"]
    result = run([*cmd, f"data.root={tiny_data}", f"hydra.sweep.dir={sweep}"], tmp_path, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    suffix = data_root_suffix(tiny_data)
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == [
        f"debug-smoke__seed-1__trainer.max_steps-2{suffix}",
        f"debug-smoke__seed-2__trainer.max_steps-2{suffix}",
    ]


@pytest.mark.parametrize("folder", ["outputs/train/runs/experiment=baseline", "runs/a=1,b=[2,3]/x y"])
def test_path_overrides_survive_hydras_parser(tmp_path, folder):
    (tmp_path / folder).mkdir(parents=True)
    path = str(tmp_path / folder)
    for argv in ([path], [f"run_dir={path}"]):
        args = quote_path_overrides([*argv, "data=geotiff", "--cfg", "job"], positional_key="run_dir")
        assert args[1:] == ["data=geotiff", "--cfg", "job"]
        parsed = OverridesParser.create().parse_overrides(args[:2])
        assert parsed[0].key_or_group == "run_dir" and parsed[0].value() == path


# ---------------------------------------------------------------- item 7: from any folder
def test_project_paths_come_from_the_package_not_the_cwd(tmp_path):
    result = run([sys.executable, TRAIN, "--cfg", "job", "--resolve", "--package", "data"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"root: {PACKAGE_ROOT / 'data' / 'synthetic'}" in result.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_failed_run_leaves_no_empty_outputs_folder(tmp_path):
    result = run(
        [sys.executable, TRAIN, "debug=smoke", f"data.root={tmp_path / 'missing'}"], tmp_path, tmp_path
    )
    assert_one_line_error(result, "data folder does not exist")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- item 8: flat folders
def test_flat_folder_error_says_how_to_hold_out_test_scenes(tiny_data, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for scene in sorted(tiny_data.glob("*/*.tif")):
        shutil.copy(scene, flat / f"{scene.parent.name}_{scene.name}")
    cfg = compose_train(smoke_overrides(flat))
    from sarcomp.data.loaders import load_split

    train, val = load_split(cfg.data, "train"), load_split(cfg.data, "val")
    used = {str(s.path.resolve()) for s in train + val}
    with pytest.raises(SarcompError, match=r"flat data folder the whole folder is the test split.*test/"):
        ev.exclude_training_scenes(load_split(cfg.data, "test"), used)
    readme = (REPO / "README.md").read_text()
    assert "flat" in readme and "test/" in readme and "hold out" in readme


# ---------------------------------------------------------------- item 9: tile sizes
def test_tile_size_not_a_multiple_of_the_stride_is_refused_before_a_run_folder(tmp_path):
    result = run([sys.executable, TRAIN, "debug=smoke", "data.tile_size=100"], tmp_path, tmp_path)
    assert_one_line_error(result, "data.tile_size=100: must be a multiple of 16")
    assert list(tmp_path.iterdir()) == []


def test_tile_checks_follow_the_model_depth():
    assert model_stride({"channels": [64, 128, 256]}) == 16
    assert model_stride({"channels": [8, 8]}) == 8
    check_tile_sizes({"tile_size": 96, "stride": 48}, {"channels": [8, 8, 8]})
    with pytest.raises(SarcompError, match=r"data.stride=40"):
        check_tile_sizes({"tile_size": 96, "stride": 40}, {"channels": [8, 8, 8]})


# ---------------------------------------------------------------- items 10, 11: the trainer says
@pytest.mark.slow
def test_trainer_prints_what_it_does(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable,
        TRAIN,
        *smoke_overrides(tiny_data),
        "trainer.max_steps=8",
        f"hydra.run.dir={run_dir}",
    ]
    result = run(cmd, tmp_path, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    first = [line.split(" - ", 1)[-1] for line in out.splitlines()[:4]]
    assert first[0] == f"run folder: {run_dir}"
    assert first[1].startswith("device: cpu") and "experiment=recipe_cpu" in first[1]
    assert re.match(r"model: [\d,]+ parameters \(widths \[8, 8, 8\], latent 8", first[2])
    assert first[3].startswith("steps: 8 of 8 to go")
    assert re.search(r"estimated time: .* for the remaining 2 steps", out)
    best = re.search(r"best validation loss [\d.]+ at step (\d+)", out)
    assert best and best.group(1) in {"2", "4", "6", "8"}
    log_text = (run_dir / "train.log").read_text()
    assert f"run folder: {run_dir}" in log_text and "best validation loss" in log_text
    # log lines start their own line: never glued after the progress bar
    for segment in re.split(r"[\r\n]", out):
        if "][sarcomp." in segment:
            assert segment.startswith("["), segment


# ---------------------------------------------------------------- item 12: evaluation
def test_evaluate_lists_matched_results_and_saves_geotiffs(smoke_run, tmp_path):
    run_dir = tmp_path / "debug=smoke,experiment=x"  # an old-style name: must still work
    shutil.copytree(smoke_run, run_dir)
    classic = {"codecs": ["jpeg"], "bits": 16, "sweep": False, "match_rates": True, "tol": 0.05}
    learned, _, paths = ev.evaluate_folder(run_dir, classic=classic, save_recon=True)
    names = [p.name for p in paths]
    assert names == ["metrics.json", "matched.json", "recon"]
    for row in learned[0]["images"]:
        saved = run_dir / "eval" / "recon" / Path(row["image"]).with_suffix(".tif").name
        with rasterio.open(saved) as out, rasterio.open(row["path"]) as src:
            assert (out.crs, out.transform, out.shape) == (src.crs, src.transform, src.shape)
            assert out.tags()["units"] == row["units"]


@pytest.mark.slow
def test_evaluate_script_prints_rate_matched_results(smoke_run, tmp_path):
    run_dir = tmp_path / "debug=smoke,experiment=x"
    shutil.copytree(smoke_run, run_dir)
    cmd = [
        sys.executable,
        "scripts/evaluate.py",
        str(run_dir),
        "classic.codecs=[jpeg]",
        "classic.sweep=false",
    ]
    result = run(cmd, REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "rate-matched" in result.stdout and "JPEG @ rates of" in result.stdout
    assert str(run_dir / "eval" / "matched.json") in result.stdout


def test_gdal_tiff_warnings_once_per_file_as_a_log_line(shared_sar, capfd, caplog, monkeypatch):
    monkeypatch.setattr(rasters, "_GDAL_REPORTED", set())
    path = shared_sar / "sentinel1_grd_cargo_chip_5258_y11247.tif"
    with caplog.at_level(logging.INFO, logger="sarcomp.data.rasters"):
        for _ in range(3):
            with open_raster(path) as ds:
                read_window(ds, BandSpec())
    assert "Warning 1" not in capfd.readouterr().err
    gdal = [r for r in caplog.records if "GDAL says" in r.getMessage()]
    assert len(gdal) == 1 and all(str(path) in r.getMessage() for r in gdal)


def test_missing_jpeg_xl_names_the_codecs_extra(monkeypatch, caplog):
    from sarcomp.evaluation import classic

    monkeypatch.setattr(classic, "available_codecs", lambda: ["jpeg"])
    with caplog.at_level(logging.WARNING):
        assert classic.classic_codecs(["jpegxl"]) == []
    assert "pip install -e '.[codecs]'" in caplog.text


# ---------------------------------------------------------------- item 13: HParams
def test_hparams_hold_model_widths_and_latent_channels(smoke_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(str(smoke_run / "tensorboard"))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["channels"].string_value == "8-8-8"
    assert hparams["latent_channels"].number_value == 8
