"""The attention study's data protocol: frozen real-SAR splits, validation that holds real SAR."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from sarcomp.data.loaders import grid_loader
from sarcomp.data.mix import training_data
from sarcomp.data.splits import check_manifest, make_splits, plan_crops, saw_test_rows
from sarcomp.errors import SarcompError
from sarcomp.models.zoo import entry
from tests.helpers import compose_train, load_script

MANIFEST = Path(__file__).resolve().parents[1] / "experiments" / "protocol" / "sar_splits.json"


def test_plan_crops_gives_development_files_no_test_band():
    crops = plan_crops({"a.tif": 100, "dev.tif": 50}, ["dev.tif"])
    by = {(c.name, c.split): c.rows for c in crops}
    assert by == {
        ("a.tif", "train"): (0, 60),
        ("a.tif", "val"): (60, 80),
        ("a.tif", "test"): (80, 100),
        ("dev.tif", "train"): (0, 40),
        ("dev.tif", "val"): (40, 50),
    }
    with pytest.raises(SarcompError, match="not in the source"):
        plan_crops({"a.tif": 100}, ["missing.tif"])
    with pytest.raises(SarcompError, match="too few"):
        plan_crops({"a.tif": 2}, [])


def test_check_manifest_names_the_changed_crop():
    frozen = {"a.tif": {"test": {"rows": [8, 10], "sha256": "x"}}}
    check_manifest(frozen, frozen)
    with pytest.raises(SarcompError, match="a.tif/test"):
        check_manifest({"a.tif": {"test": {"rows": [8, 10], "sha256": "y"}}}, frozen)


def test_shared_sar_splits_match_the_frozen_manifest(shared_sar, tmp_path):
    """The crops made from ../shared/sar are byte for byte those the study froze."""
    script = load_script("scripts/make_sar_splits.py")
    made = make_splits(shared_sar, tmp_path, script.DEVELOPMENT)
    check_manifest(made, json.loads(MANIFEST.read_text())["crops"])
    # no development file has a test band, every other file has one
    assert {n for n, s in made.items() if "test" in s} == {n for n in made} - set(script.DEVELOPMENT)
    assert sorted(p.name for p in (tmp_path / "test").iterdir()) == sorted(
        n for n in made if n not in script.DEVELOPMENT
    )


def test_study_validation_holds_real_sar_from_every_file(shared_sar, tiny_data, tmp_path):
    """With the study's data config and the recipe's cap (32 tiles), validation draws tiles from
    every real file's val band and from the synthetic scenes: never a prefix of the scene list."""
    script = load_script("scripts/make_sar_splits.py")
    make_splits(shared_sar, tmp_path / "splits", script.DEVELOPMENT)
    cfg = compose_train(
        [
            "experiment=recipe_cpu",
            "data=study",
            f"data.sources.0.root={tiny_data}",
            f"data.sources.1.root={tmp_path / 'splits'}",
            f"data.root={tmp_path / 'splits'}",
            "data.tile_size=64",  # the tiny synthetic scenes are 96 px
            "data.stride=64",
        ]
    )
    _, train, val = training_data(cfg.data, 0)
    loader = grid_loader(cfg.data, val, max_tiles=cfg.trainer.val_max_tiles)
    per_scene = Counter(val[k].path.name for k, *_ in loader.dataset.items)
    real = {p.name for p in (tmp_path / "splits" / "val").iterdir()}
    assert real <= set(per_scene), f"real val files without a tile: {real - set(per_scene)}"
    assert len(loader.dataset) == 32 and np.ptp(list(per_scene.values())) <= 1
    # validation crops are not training crops (content hashes differ)
    assert not {s.sha256 for s in train} & {s.sha256 for s in val}


def test_saw_test_rows_tells_whole_file_training_from_the_protocols_own_crops():
    frozen = json.loads(MANIFEST.read_text())["crops"]
    name = next(n for n, bands in frozen.items() if "test" in bands)
    own = {
        "train": [{"path": f"data/shared_sar_splits/train/{name}", "sha256": frozen[name]["train"]["sha256"]}]
    }
    whole = {"train": [{"path": f"../shared/sar/{name}", "sha256": "0" * 64}]}
    assert saw_test_rows(own, frozen) == [] and saw_test_rows(whole, frozen) == [name]
    # the shipped models: the per-λ stride-8 curve trained on whole files, the study-data models did not
    assert saw_test_rows(entry("baseline-ms-s8-l003")["data"], frozen)
    assert saw_test_rows(entry("fast-vr-s8")["data"], frozen) == []


def test_the_study_queue_composes_into_the_protocols_runs():
    import subprocess

    from sarcomp.analysis.study import label
    from sarcomp.runs import build_model

    script = Path(__file__).resolve().parents[1] / "experiments" / "run_attention_study.sh"
    listing = subprocess.run(
        ["bash", str(script)],
        env={"STAGE": "list", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    labels, params = Counter(), {}
    for line in listing.splitlines():
        name, *overrides = line.split()
        cfg = compose_train(overrides)
        assert cfg.trainer.max_steps == 3000 and cfg.trainer.keep_every == 1500 and cfg.trainer.resume
        assert cfg.data.sources[1].root.endswith("shared_sar_splits")  # data=study: real validation
        entry_ = {
            "plan": cfg.get("plan_id"),
            "experiment": str(cfg.experiment_name),
            "channels": list(cfg.model.channels),
            "variable_rate": bool(cfg.model.get("lmbdas")),
            "lmbda": cfg.model.lmbda,
        }
        labels[label(entry_)] += 1
        if name in ("v0wide_s1", "v2_s1"):
            params[name] = sum(p.numel() for p in build_model(cfg.model).parameters())
        if name.startswith("v3_"):
            assert cfg.model.attention.kwargs.layer_scale and cfg.model.attention.kwargs.gamma_init == 0.1
        assert "unit_start" not in (cfg.model.attention.get("kwargs") or {})  # the first round's gates
    assert all(labels[v] == 3 for v in ("V0", "V1", "V2", "V3"))  # 3 seeds per plan variant
    assert (
        labels["V0-wide"] == 1
        and sum(labels[f"{v}@{lm:g}"] for v in ("V0", "V1", "V2") for lm in (3e-4, 1e-3, 3e-3, 1e-2)) == 12
    )
    assert {"cbam_encoder", "cbam_decoder", "se_bottleneck", "eca_bottleneck", "spatial_bottleneck"} <= set(
        labels
    )
    assert abs(params["v0wide_s1"] / params["v2_s1"] - 1) < 0.001  # the capacity control matches V2


@pytest.mark.parametrize(
    "round_, ladder, variants",
    [
        ("2", [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03], ("V0", "V1", "V2", "V3")),
        ("3", [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3], ("V0", "V1", "V2")),
    ],
)
def test_the_later_rounds_queue_their_variants_on_their_ladder_with_unit_start_gates(
    round_, ladder, variants
):
    """PROTOCOL.md, amendments 2 and 3: each variant x 3 seeds on the round's λ ladder, trained at
    its top λ by default, the gated variants starting as the identity."""
    import subprocess

    from sarcomp.analysis.study import label
    from sarcomp.runs import build_model

    script = Path(__file__).resolve().parents[1] / "experiments" / "run_attention_study.sh"
    listing = subprocess.run(
        ["bash", str(script)],
        env={"STAGE": "list", "ROUND": round_, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    labels = Counter()
    for line in listing.splitlines():
        name, *overrides = line.split()
        cfg = compose_train(overrides)
        assert list(cfg.model.lmbdas) == ladder and cfg.model.lmbda == ladder[-1]
        assert cfg.trainer.max_steps == 3000
        labels[
            label(
                {
                    "plan": cfg.get("plan_id"),
                    "experiment": str(cfg.experiment_name),
                    "channels": list(cfg.model.channels),
                    "variable_rate": True,
                    "lmbda": None,
                }
            )
        ] += 1
        kwargs = cfg.model.attention.get("kwargs") or {}
        assert bool(kwargs.get("unit_start")) == name.startswith(("v1_", "v2_"))
        if name == "v2_s1":
            gates = [
                m.gate for m in build_model(cfg.model).modules() if hasattr(m, "gate") and m.gate is not None
            ]
            assert gates and all(float(g(torch.zeros(1))) == 1.0 for g in gates)
    assert labels == Counter(dict.fromkeys(variants, 3))
