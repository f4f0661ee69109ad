"""Cheap checks that the docs say what the code does (issue 24, part 5): the flat data folder's
test split, sweep folder names, the run-name example and the ``sarcomp`` options in README.md."""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml

import sarcomp.data.loaders as loaders
from sarcomp.codec.commands import _parser
from sarcomp.config import CONFIG_DIR, run_name
from sarcomp.data.loaders import scene_paths
from sarcomp.data.rasters import BandSpec
from sarcomp.data.representation import Representation
from sarcomp.data.tiles import Scene
from sarcomp.errors import SarcompError
from sarcomp.evaluation.scenes import exclude_training_scenes
from tests.helpers import REPO, write_tif

README = (REPO / "README.md").read_text()
FLAT = "the whole folder is the test split"


def _flat(text: str) -> str:
    return " ".join(text.replace("*", "").split())


def test_a_flat_folder_is_split_as_the_docs_say(tmp_path):
    for i in range(6):
        write_tif(tmp_path / f"s{i}.tif", np.ones((16, 16), np.float32))
    train, val, test = (scene_paths(tmp_path, split) for split in ("train", "val", "test"))
    assert [p.name for p in val] == ["s4.tif"] and len(train) == 5 and not set(train) & set(val)
    assert test == sorted(train + val)  # the whole folder; evaluation then drops the run's scenes
    scenes = [Scene.load(p, BandSpec(), Representation()) for p in test]
    with pytest.raises(SarcompError) as refused:
        exclude_training_scenes(scenes, {str(p.resolve()) for p in test})
    geotiff = (CONFIG_DIR / "data" / "geotiff.yaml").read_text().replace("#", " ")
    for doc in (README, geotiff, loaders.__doc__, str(refused.value)):
        assert FLAT in _flat(doc), doc[:300]
        assert "has no test split" not in doc


def test_sweep_jobs_are_documented_with_the_data_hash():
    hydra = yaml.safe_load((CONFIG_DIR / "hydra" / "default.yaml").read_text())
    for node in (hydra["run"]["dir"], hydra["sweep"]["subdir"]):
        assert "data.root" in node and ("run_folder" in node or "sweep_folder" in node)
    assert "multiruns/<time>/<what it varied>_data-<8 hex>" in README


def test_the_readmes_run_name_example_is_what_run_name_gives():
    (short,) = re.findall(r"`(data\.band_specs-shared_sar\.yaml-h[0-9a-f]{6})`", README)
    assert run_name("data.band_specs-configs/bands/shared_sar.yaml") == short


def test_every_sarcomp_option_in_the_readme_exists():
    parsers = _parser()._subparsers._group_actions[0].choices  # compress, decompress, info
    found = 0
    for command, rest in re.findall(r"^sarcomp (compress|decompress|info)\b(.*)$", README, flags=re.M):
        known = {s for action in parsers[command]._actions for s in action.option_strings}
        for option in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", rest):
            assert option in known, f"README: sarcomp {command} {option} is not an option"
            found += 1
    assert found >= 10
