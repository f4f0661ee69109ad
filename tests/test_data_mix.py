"""Weighted training mixes (data=mix) and scenes held back with data.exclude."""

from __future__ import annotations

import json

import numpy as np
import pytest
from omegaconf import open_dict

from sarcomp.data.loaders import scene_paths
from sarcomp.data.mix import MixedTiles, source_configs, training_data
from sarcomp.data.synthetic import generate_dataset
from sarcomp.errors import SarcompError
from sarcomp.training.trainer import train
from tests.helpers import compose_train, smoke_overrides


@pytest.fixture(scope="module")
def flat_data(tmp_path_factory):
    """A flat folder of 5 small scenes (no split folders), another seed than tiny_data."""
    root = tmp_path_factory.mktemp("flat")
    generate_dataset(root / "tmp", counts={"train": 5}, size=64, seed=7)
    for i, path in enumerate(sorted((root / "tmp" / "train").glob("*.tif"))):
        path.rename(root / f"real_{i}.tif")
    return root


def mix_cfg(tiny_data, flat_data, weights=(0.5, 0.5), *extra):
    return compose_train(
        smoke_overrides(
            tiny_data,
            "data=mix",
            f"data.sources.0.root={tiny_data}",
            f"data.sources.1.root={flat_data}",
            f"data.sources.0.weight={weights[0]}",
            f"data.sources.1.weight={weights[1]}",
            *extra,
        )
    )


def test_sources_merge_over_the_data_config(tiny_data, flat_data):
    sources = source_configs(mix_cfg(tiny_data, flat_data).data)
    assert [w for _, w in sources] == [0.5, 0.5]
    assert sources[0][0].representation.units == "intensity" and sources[0][0].tile_size == 32
    assert sources[1][0].representation.percentiles == [1.0, 99.0] and sources[1][0].root == str(flat_data)


def test_crops_come_from_each_source_by_weight_deterministically(tiny_data, flat_data):
    cfg = mix_cfg(tiny_data, flat_data, (0.8, 0.2), "data.train_samples=400")
    dataset, train_scenes, val_scenes = training_data(cfg.data, seed=1)
    assert isinstance(dataset, MixedTiles)
    assert len(train_scenes) == 3 + 4 and len(val_scenes) == 1 + 1  # flat: every 5th scene to val
    rng_picks = [
        int(np.random.default_rng((1, 0, i, 1)).choice(2, p=dataset.weights)) for i in range(len(dataset))
    ]
    assert 0.7 < rng_picks.count(0) / len(rng_picks) < 0.9
    a, b = dataset[5]["x"], dataset[5]["x"]
    assert (a == b).all()
    dataset.epoch = 1
    assert all(s.epoch == 1 for s in dataset.sources) and not (dataset[5]["x"] == a).all()


def test_training_on_a_mix_records_every_source_scene(tiny_data, flat_data, tmp_path):
    cfg = mix_cfg(tiny_data, flat_data)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    train(cfg, tmp_path)
    scenes = json.loads((tmp_path / "scenes.json").read_text())
    paths = [e["path"] for e in scenes["train"]]
    assert any("real_" in p for p in paths) and any("scene_" in p for p in paths)


def test_exclude_holds_scenes_back_before_the_flat_split(flat_data):
    all_train = scene_paths(flat_data, "train")
    kept = scene_paths(flat_data, "train", exclude=["real_0*", "real_1*"])
    assert [p.name for p in kept] == ["real_2.tif", "real_3.tif"]  # fewer than 5: the last one validates
    assert len(all_train) == 4 and scene_paths(flat_data, "test", exclude=["real_0*"])[0].name == "real_1.tif"


def test_bad_sources_are_one_line_errors(tiny_data, flat_data):
    cfg = mix_cfg(tiny_data, flat_data, (0.5, 0.0))
    with pytest.raises(SarcompError, match=r"data.sources\[1\]: needs a root and a weight > 0"):
        training_data(cfg.data, seed=0)
    cfg = mix_cfg(tiny_data, flat_data, (0.5, 0.5), "data.sources.1.exclude=[real_*]")
    with pytest.raises(SarcompError, match="needs at least 2 scenes .* it has 0"):
        training_data(cfg.data, seed=0)
