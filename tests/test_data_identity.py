"""Data identity: scene hashes in run folders and metrics, `make data` checks existing files, pooled
comparisons on the same scenes, leakage guard by content, run folders per data folder, resume on
the same data only, val/test splits with every number of looks."""

from __future__ import annotations

import hashlib
import json
import runpy
import shutil

import numpy as np
import pytest
import rasterio
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig

from sarcomp.config import CONFIG_DIR
from sarcomp.data import synthetic as syn
from sarcomp.data.identity import check_same_scenes, file_sha256
from sarcomp.data.loaders import scene_paths
from sarcomp.errors import SarcompError
from sarcomp.evaluation.evaluate import evaluate_run
from sarcomp.runs import read_scenes
from sarcomp.training.trainer import train
from tests.helpers import REPO, compose_train, smoke_overrides


def test_file_sha256_is_the_hash_of_the_bytes(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"sar" * 1000)
    assert file_sha256(path) == hashlib.sha256(b"sar" * 1000).hexdigest()


def test_run_folder_and_metrics_record_scene_hashes(smoke_run, tiny_data):
    scenes = read_scenes(smoke_run)
    for split in ("train", "val"):
        assert scenes[split] and all(e["sha256"] == file_sha256(e["path"]) for e in scenes[split])
    payload, _ = evaluate_run(smoke_run, out=str(smoke_run / "hash_check.json"))
    test_files = {p.name: file_sha256(p) for p in scene_paths(tiny_data, "test")}
    assert {r["image"]: r["sha256"] for r in payload["images"]} == test_files


def test_copied_data_set_does_not_slip_past_the_leakage_guard(smoke_run, tiny_data, tmp_path):
    from omegaconf import OmegaConf

    from sarcomp.runs import load_run

    copy = tmp_path / "copy"
    shutil.copytree(tiny_data / "train", copy)  # other paths, same content
    cfg, _, _ = load_run(smoke_run)
    data = OmegaConf.merge(cfg.data, {"root": str(copy)})
    with pytest.raises(SarcompError, match="used in training"):
        evaluate_run(smoke_run, data, out=str(tmp_path / "x.json"))


def test_check_same_scenes_refuses_different_data():
    a = [{"image": "s0.tif", "sha256": "aa"}, {"image": "s1.tif", "sha256": "bb"}]
    check_same_scenes([("run A", a), ("run B", [dict(r) for r in a])])
    b = [{"image": "s0.tif", "sha256": "aa"}, {"image": "s1.tif", "sha256": "cc"}]
    with pytest.raises(SarcompError, match=r"s1\.tif differs between run A .* and run B"):
        check_same_scenes([("run A", a), ("run B", b)])
    with pytest.raises(SarcompError, match="run C: scene s0.tif has no sha256"):
        check_same_scenes([("run A", a), ("run C", [{"image": "s0.tif"}])])


# ------------------------------------------------------------------------ make data / generator
def test_generate_dataset_stops_on_files_that_differ(tmp_path):
    counts = {"train": 1, "test": 2}
    syn.generate_dataset(tmp_path, counts, size=32, seed=1)
    edited = syn.scene_path(tmp_path, "test", 1)
    with rasterio.open(edited, "r+") as ds:
        data = ds.read(1)
        data[0, 0] *= 2
        ds.write(data, 1)
    with pytest.raises(SarcompError, match=r"1 existing file\(s\) differ.*test/scene_0001.tif.*--overwrite"):
        syn.generate_dataset(tmp_path, counts, size=32, seed=1)
    with pytest.raises(SarcompError, match="3 existing file"):  # other seed: every file differs
        syn.generate_dataset(tmp_path, counts, size=32, seed=2)
    assert syn.generate_dataset(tmp_path, counts, size=32, seed=1, overwrite=True)
    assert syn.generate_dataset(tmp_path, counts, size=32, seed=1) == []


def test_make_data_script_stops_with_a_message_and_writes_sha256sums(tmp_path, capsys):
    main = runpy.run_path(str(REPO / "scripts" / "make_synthetic.py"))["main"]
    args = ["--root", str(tmp_path), "--size", "32", "--train", "1", "--val", "1", "--test", "2"]
    assert main(args) == 0
    sums = (tmp_path / "SHA256SUMS").read_text().splitlines()
    assert len(sums) == 4 and all(file_sha256(tmp_path / line.split()[1]) == line.split()[0] for line in sums)
    with pytest.raises(SystemExit) as exc:
        main([*args, "--seed", "9"])
    assert exc.value.code == 2 and "--overwrite" in capsys.readouterr().err


def test_val_and_test_splits_hold_every_number_of_looks(tmp_path):
    syn.generate_dataset(tmp_path, {"val": 2, "test": 4}, size=32, looks=(1, 4), seed=0)
    for split, n in (("val", 2), ("test", 4)):
        looks = []
        for i in range(n):
            with rasterio.open(syn.scene_path(tmp_path, split, i)) as ds:
                looks.append(int(ds.tags()["LOOKS"]))
        assert looks == [1, 4] * (n // 2)
    # the default data set: 4 test scenes, 1-look and 4-look
    assert [syn.scene_looks((1, 4), "test", i, syn.scene_seed(0, "test", i)) for i in range(4)] == [
        1,
        4,
        1,
        4,
    ]


# ------------------------------------------------------------------------ flat folders
@pytest.mark.parametrize("n", [2, 3, 4, 5, 7])
def test_flat_folder_never_validates_on_a_training_scene(tmp_path, n):
    for i in range(n):
        syn.write_scene(tmp_path / f"s{i}.tif", np.full((8, 8), i + 1, np.float32), {}, i)
    train_files, val_files = scene_paths(tmp_path, "train"), scene_paths(tmp_path, "val")
    assert val_files and train_files and not set(train_files) & set(val_files)
    assert sorted(train_files + val_files) == sorted(tmp_path.glob("*.tif"))


def test_flat_folder_with_one_scene_is_refused(tmp_path):
    syn.write_scene(tmp_path / "only.tif", np.ones((8, 8), np.float32), {}, 0)
    with pytest.raises(SarcompError, match="at least 2 scenes"):
        scene_paths(tmp_path, "train")


def test_training_refuses_a_validation_scene_copied_from_training(tiny_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    shutil.copy(root / "train" / "scene_0000.tif", root / "val" / "copy.tif")
    with pytest.raises(SarcompError, match="same content as training scene"):
        train(compose_train(smoke_overrides(root), tmp_path / "run"), tmp_path / "run")


# ------------------------------------------------------------------------ run folders and resume
def _run_dir(overrides: list[str]) -> str:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return str(cfg.hydra.run.dir)


def test_two_data_folders_never_share_a_run_folder(tmp_path):
    a = _run_dir(["experiment=baseline", f"data.root={tmp_path / 'a'}"])
    b = _run_dir(["experiment=baseline", f"data.root={tmp_path / 'b'}"])
    again = _run_dir(["experiment=baseline", f"data.root={tmp_path / 'x' / '..' / 'a'}"])
    assert a != b and a == again  # the resolved folder names the run
    assert "data.root" not in a and str(tmp_path) not in a


def test_resume_refuses_a_run_trained_on_other_data(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    train(compose_train(smoke_overrides(root), run_dir), run_dir)
    syn.write_scene(
        root / "train" / "scene_0001.tif", np.random.default_rng(0).gamma(1, 1, (96, 96)).astype("f4"), {}, 1
    )
    resume = smoke_overrides(root, "trainer.resume=true", "trainer.max_steps=6")
    with pytest.raises(SarcompError, match="trained on other train data.*scene_0001.tif"):
        train(compose_train(resume, run_dir), run_dir)
    saved = json.loads((run_dir / "scenes.json").read_text())
    assert len(saved["train"]) == 3  # the run folder is left as it was


def test_compare_refuses_to_pool_runs_evaluated_on_different_scene_files(smoke_run, tmp_path):
    from sarcomp.analysis.collect import collect

    payload, _ = evaluate_run(smoke_run, out=str(tmp_path / "m.json"))
    runs = []
    for name, digest in (("a", None), ("b", "0" * 64)):
        run = tmp_path / name
        shutil.copytree(smoke_run, run, ignore=shutil.ignore_patterns("eval"))
        rows = [dict(r) for r in payload["images"]]
        if digest:
            rows[1]["sha256"] = digest  # same file name, other content
        (run / "eval").mkdir()
        (run / "eval" / "metrics.json").write_text(json.dumps({**payload, "images": rows}))
        runs.append(run)
    collect([runs[0], runs[0]], evaluate=False)  # the same scenes pool fine
    with pytest.raises(SarcompError, match=rf"scene {rows[1]['image']} differs between .*a .* and .*b"):
        collect(runs, evaluate=False)
