"""Bad input ends in one line naming the file and the problem, with no partial output."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sarcomp.data.rasters import BandSpec
from sarcomp.data.representation import Representation
from sarcomp.data.tiles import GridTiles, RandomTiles, Scene
from sarcomp.errors import RasterError, SarcompError
from sarcomp.runs import checkpoint_path
from sarcomp.training.trainer import Trainer, train
from tests.forked import run_forked
from tests.helpers import REPO, compose_train, smoke_overrides, write_tif

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def copy_data(tiny_data: Path, root: Path) -> Path:
    """tiny_data's train and val scenes in a folder of our own, to spoil."""
    for split in ("train", "val"):
        shutil.copytree(tiny_data / split, root / split)
    return root


def truncate(path: Path, fraction: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def speckle(shape=(96, 96), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).gamma(1.0, 0.05, shape).astype(np.float32)


def assert_no_outputs(run_dir: Path) -> None:
    left = sorted(p.name for p in run_dir.iterdir()) if run_dir.exists() else []
    assert not {"checkpoints", "tensorboard", "scenes.json"} & set(left), left


def fails(data_root: Path, run_dir: Path, *overrides: str) -> str:
    """Train and expect a SarcompError; return its message after the common checks."""
    with pytest.raises(SarcompError) as err:
        train(compose_train(smoke_overrides(data_root, *overrides), run_dir), run_dir)
    message = str(err.value)
    assert "\n" not in message, message
    assert_no_outputs(run_dir)
    return message


# ---------------------------------------------------------------- data files
def spoil_missing(train_dir):
    (train_dir / "gone.tif").symlink_to(train_dir / "deleted-meanwhile.tif")
    return "gone.tif: file not found"


def spoil_not_raster(train_dir):
    (train_dir / "notes.tif").write_text("field notes, not an image")
    return "notes.tif: not a readable raster"


def spoil_truncated(train_dir):
    truncate(write_tif(train_dir / "cut.tif", speckle()), 0.5)
    return "cut.tif: read failed, file truncated or corrupt"


def spoil_all_nodata(train_dir):
    write_tif(train_dir / "void.tif", np.full((96, 96), -99, np.float32), nodata=-99)
    return "void.tif: all pixels are nodata"


def spoil_empty(train_dir):
    for path in train_dir.iterdir():
        path.unlink()
    return "train: no raster files"


@pytest.mark.parametrize(
    "spoil",
    [spoil_missing, spoil_not_raster, spoil_truncated, spoil_all_nodata, spoil_empty],
    ids=lambda f: f.__name__[6:],
)
def test_bad_data_file(spoil, tiny_data, tmp_path):
    root = copy_data(tiny_data, tmp_path / "data")
    expected = spoil(root / "train")
    assert expected in fails(root, tmp_path / "run")


def test_missing_data_folder(tmp_path):
    assert "nowhere: data folder does not exist" in fails(tmp_path / "nowhere", tmp_path / "run")


def test_complex_data_where_real_is_needed(tiny_data, tmp_path):
    root = copy_data(tiny_data, tmp_path / "data")
    slc = speckle() + 1j * speckle(seed=1)
    write_tif(root / "train" / "slc.tif", slc.astype(np.complex64))
    message = fails(root, tmp_path / "run", "data.representation.units=db")
    assert "slc.tif: complex data, but representation.units=db needs real values" in message
    assert "slc.tif: complex data" in fails(root, tmp_path / "run", "data.complex_to=error")


def test_band_out_of_range(tiny_data, tmp_path):
    assert "band 3 out of range (file has 1 band(s))" in fails(tiny_data, tmp_path / "run", "data.bands=[3]")


def test_every_training_image_smaller_than_a_tile(tiny_data, tmp_path):
    root = copy_data(tiny_data, tmp_path / "data")
    for path in (root / "train").iterdir():
        write_tif(path, speckle((20, 24)))
    message = fails(root, tmp_path / "run")
    assert "no training scene is at least 32x32 pixels" in message and "(20x24)" in message


@pytest.mark.parametrize(
    "key,valid",
    [("type", "cbam, cbam_residual, eca"), ("placement", "none, bottleneck, encoder, decoder, everywhere")],
)
def test_unknown_attention_names_list_the_valid_ones(key, valid, tiny_data, tmp_path):
    message = fails(tiny_data, tmp_path / "run", f"model.attention.{key}=nope")
    assert f"model.attention.{key}: unknown" in message and "'nope'" in message and valid in message


def test_checkpoint_from_another_model_configuration(tiny_data, tmp_path):
    run = tmp_path / "run"
    train(compose_train(smoke_overrides(tiny_data, "trainer.max_steps=2"), run), run)
    before = checkpoint_path(run).read_bytes()
    with pytest.raises(SarcompError) as err:
        train(
            compose_train(
                smoke_overrides(
                    tiny_data, "trainer.max_steps=2", "trainer.resume=true", "model.latent_channels=16"
                ),
                run,
            ),
            run,
        )
    message = str(err.value)
    assert "\n" not in message and str(checkpoint_path(run)) in message
    assert "checkpoint from another model configuration (model.latent_channels: 8 -> 16)" in message
    assert checkpoint_path(run).read_bytes() == before  # nothing overwritten


# ---------------------------------------------------------------- handled, not fatal
def test_nan_pixels_and_small_images_warn_and_train(tiny_data, tmp_path, caplog):
    root = copy_data(tiny_data, tmp_path / "data")
    holes = speckle()
    holes[10:30, 10:30], holes[50, 50] = np.nan, np.inf
    write_tif(root / "train" / "holes.tif", holes)
    write_tif(root / "train" / "tiny.tif", speckle((20, 24)))
    caplog.set_level(logging.WARNING)
    run = tmp_path / "run"
    train(compose_train(smoke_overrides(root, "trainer.max_steps=2"), run), run)
    assert checkpoint_path(run).is_file()
    assert "holes.tif: 401 of 9216 pixels read for statistics (4.35%) are nodata/NaN/inf" in caplog.text
    assert "tiny.tif: 20x24 is smaller than one 32 tile, skipped for training" in caplog.text
    # evaluation pads the small image instead, and masks the padding and the NaN pixels
    scenes = [Scene.load(root / "train" / n, BandSpec(), Representation()) for n in ("tiny.tif", "holes.tif")]
    grid = GridTiles(scenes, tile_size=32)
    small = grid[0]
    assert small["x"].shape == (1, 32, 32) and small["mask"].sum() == 20 * 24
    assert torch.isfinite(grid[len(grid) - 1]["x"]).all()


def test_a_validation_scene_smaller_than_a_tile_is_said_and_not_scored_as_zero_ssim(
    tiny_data, tmp_path, caplog
):
    """Issue 24: a validation scene thinner than SSIM's 11-px window once logged ssim=0.0000 (its
    N/A tiles counted as 0); now the scene is named and SSIM averages the tiles where it is defined."""
    root = copy_data(tiny_data, tmp_path / "data")
    for old in (root / "val").iterdir():
        old.unlink()
    write_tif(root / "val" / "strip.tif", speckle((8, 48)))
    caplog.set_level(logging.WARNING)
    run = tmp_path / "run"
    val = train(compose_train(smoke_overrides(root, "trainer.max_steps=2"), run), run)
    assert "strip.tif: validation scene of 8x48 px is smaller than data.tile_size=32" in caplog.text
    assert "SSIM is N/A for it" in caplog.text
    assert math.isnan(val["ssim"]) and math.isfinite(val["psnr"])
    write_tif(root / "val" / "square.tif", speckle((40, 40), seed=3))  # one whole tile, three slivers
    run = tmp_path / "run2"
    every_tile = smoke_overrides(root, "trainer.max_steps=2", "trainer.val_max_tiles=null")
    val = train(compose_train(every_tile, run), run)
    assert 0 < val["ssim"] <= 1  # the whole tile's SSIM, not diluted by the N/A slivers


def test_an_all_zero_raster_is_refused_at_compress(tmp_path, capsys):
    from sarcomp.codec.commands import main

    blank = write_tif(tmp_path / "blank.tif", np.zeros((64, 64), np.float32))
    with pytest.raises(SystemExit) as exc:
        main(
            ["compress", str(blank), str(tmp_path / "blank.sarc"), "--model", "baseline-ms-s8-l01", "--quiet"]
        )
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert "blank.tif: every valid pixel has the same value" in err and "constant, e.g. all zero" in err
    assert not (tmp_path / "blank.sarc").exists()


def test_truncated_file_in_a_dataloader_worker(tiny_data, tmp_path):
    """Statistics read fine, then the file is cut: the tile read in a worker fails in one line,
    and the new run folder is left without partial outputs."""
    root = copy_data(tiny_data, tmp_path / "data")
    run = tmp_path / "run"
    trainer = Trainer(compose_train(smoke_overrides(root, "data.num_workers=1"), run), run)
    for path in (root / "train").iterdir():
        truncate(path, 0.3)
    with pytest.raises(RasterError) as err:
        trainer.fit()
    # (where GDAL put the TIFF directory decides whether opening or reading the window fails)
    problem = r"(read failed, file truncated or corrupt|not a readable raster) \("
    message = str(err.value)
    assert "\n" not in message and re.match(rf"{root / 'train'}/scene_\d+\.tif: {problem}", message)
    assert_no_outputs(run)
    del err, trainer  # let the loader's worker go
    # the same through a bare DataLoader
    scenes = [Scene.load(p, BandSpec(), Representation()) for p in sorted((tiny_data / "train").iterdir())]
    cut = copy_data(tiny_data, tmp_path / "cut")
    scenes = [dataclasses.replace(s, path=cut / "train" / s.path.name) for s in scenes]
    for path in (cut / "train").iterdir():
        truncate(path, 0.3)
    loader = iter(DataLoader(RandomTiles(scenes, 32, 4), batch_size=2, num_workers=1))
    with pytest.raises(RasterError) as err:
        next(loader)
    assert "\n" not in str(err.value) and re.match(
        rf"{cut / 'train'}/scene_\d+\.tif: {problem}", str(err.value)
    )
    del loader


# ---------------------------------------------------------------- the command line
@pytest.mark.slow  # the command line end to end (tests.forked)
def test_command_line_errors_are_one_line_with_exit_2(tiny_data, tmp_path):
    unknown = run_forked([sys.executable, "train.py", "experiment=nope"], REPO, ENV, timeout=120)
    assert unknown.returncode == 2
    experiments = sorted(p.stem for p in (REPO / "configs" / "experiment").glob("*.yaml"))
    assert {"baseline", "cbam_bottleneck", "recipe_cpu"} <= set(experiments)
    assert unknown.stderr.strip().splitlines() == [
        f"error: experiment=nope: unknown experiment; valid: {', '.join(experiments)}"
    ]

    root = copy_data(tiny_data, tmp_path / "data")
    spoil_truncated(root / "train")
    run = tmp_path / "run"
    cut = run_forked(
        [sys.executable, "train.py", *smoke_overrides(root), f"hydra.run.dir={run}"], REPO, ENV, 300
    )
    assert cut.returncode == 2
    last = cut.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {root / 'train' / 'cut.tif'}: read failed, file truncated or corrupt (")
    assert not run.exists()  # not even Hydra's .hydra/ and train.log
