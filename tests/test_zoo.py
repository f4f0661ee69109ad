"""The model zoo: manifest, hash check, weights_only loading, evaluation without a run folder."""

from __future__ import annotations

import json
import os
import sys

import pytest
import torch

from sarcomp.errors import SarcompError
from sarcomp.models.zoo import entry, export_run, load_pretrained, sha256, shipped_names
from sarcomp.runs import load_run
from sarcomp.training.trainer import train
from tests.forked import run_forked
from tests.helpers import REPO, compose_train, encoder_reconstruction, smoke_overrides


@pytest.fixture(scope="module")
def zoo(smoke_run, tmp_path_factory):
    """A temporary zoo holding the smoke run (untrained: for the mechanics only) in half precision."""
    root = tmp_path_factory.mktemp("zoo")
    export_run(smoke_run, "tiny", "python train.py debug=smoke", {"note": "test"}, zoo_dir=root)
    return root


def round_trip(model, x, portable: bool = True):
    """Decoded tile and what the encoder reconstructs (portable: around the integer h_s's means;
    float path: the eval forward, clamped as ``decompress`` clamps: a g_s without an output
    sigmoid, the linear-path codec's, reaches outside [0, 1])."""
    out = model.compress(x, portable=portable)
    decoded = model.decompress(out["strings"], out["shape"], portable=portable)["x_hat"]
    if portable:
        return decoded, encoder_reconstruction(model, x)
    with torch.no_grad():
        return decoded, model(x)["x_hat"].clamp(0, 1)


def test_export_writes_manifest_with_hash_config_command_and_data(zoo, smoke_run):
    assert shipped_names(zoo) == ["tiny"]
    item = entry("tiny", zoo)
    assert item["sha256"] == sha256(zoo / item["file"]) and item["half"] is True
    assert item["command"] == "python train.py debug=smoke" and item["config"]["model"]["channels"] == [
        8,
        8,
        8,
    ]
    assert {"train", "val"} <= set(item["data"]) and item["curve"] == "tiny"  # its own RD curve
    stored = torch.load(zoo / item["file"], weights_only=True)["model"]
    assert all(v.dtype == torch.float16 for v in stored.values() if v.is_floating_point())


def test_re_export_replaces_the_entry_in_its_place(smoke_run, tmp_path):
    for name in ("first", "second", "first"):
        export_run(smoke_run, name, f"python train.py debug=smoke  # {name}", {}, zoo_dir=tmp_path)
    assert shipped_names(tmp_path) == ["first", "second"]
    assert entry("first", tmp_path)["sha256"] == sha256(tmp_path / "first.pt")


def test_load_pretrained_decodes_its_own_bitstream_and_matches_the_run(zoo, smoke_run):
    cfg, model = load_pretrained("tiny", zoo_dir=zoo)
    assert not model.training and cfg.model.latent_channels == 8
    x = torch.rand(1, 1, 64, 48)
    decoded, expected = round_trip(model, x)
    torch.testing.assert_close(decoded, expected, atol=1e-5, rtol=0)
    _, original, _ = load_run(smoke_run)
    for (name, a), b in zip(original.named_parameters(), model.parameters()):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3, msg=name)  # fp16 storage


def test_unknown_name_is_one_line_listing_shipped_names(zoo):
    with pytest.raises(SarcompError) as err:
        load_pretrained("nope", zoo_dir=zoo)
    assert str(err.value) == "unknown pretrained model 'nope'; shipped: tiny"


def test_a_file_that_fails_its_hash_is_refused(zoo, tmp_path):
    import shutil

    bad = tmp_path / "zoo"
    shutil.copytree(zoo, bad)
    with open(bad / "tiny.pt", "ab") as f:
        f.write(b"\0")
    with pytest.raises(SarcompError, match="differs from the manifest's .*refused"):
        load_pretrained("tiny", zoo_dir=bad)


class NotATensor:
    pass


def test_loading_is_weights_only(zoo, tmp_path):
    """A file holding code objects is refused even when its hash matches the manifest."""
    torch.save({"model": {}, "payload": NotATensor()}, tmp_path / "evil.pt")
    item = dict(entry("tiny", zoo), file="evil.pt", sha256=sha256(tmp_path / "evil.pt"))
    (tmp_path / "manifest.json").write_text(json.dumps({"models": [item]}))
    with pytest.raises(SarcompError, match="unreadable weights"):
        load_pretrained("tiny", zoo_dir=tmp_path)


@pytest.mark.slow
def test_evaluate_script_runs_a_pretrained_model_without_run_folder(zoo, tiny_data, tmp_path):
    out = tmp_path / "m.json"
    cmd = [
        sys.executable,
        "scripts/evaluate.py",
        "model=pretrained",
        "name=tiny",
        "data=geotiff",
        f"data.root={tiny_data}",
        "data.tile_size=32",
        f"out={out}",
        "classic.codecs=[jpeg]",
        "classic.sweep=false",
    ]
    env = {**os.environ, "SARCOMP_ZOO": str(zoo), "PYTHONPATH": str(REPO)}
    result = run_forked(cmd, REPO, env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    payload = json.loads(out.read_text())
    assert payload["pretrained"] == "tiny" and len(payload["images"]) == 2  # the test split only
    assert (tmp_path / "m.matched.json").is_file()
    # issue 24: the classic codecs at the model's rates are printed and every written file listed
    assert "rate-matched" in result.stdout and "JPEG @ rates of pretrained:tiny" in result.stdout
    listed = result.stdout[result.stdout.index("files written") :]
    assert str(out) in listed and str(tmp_path / "m.matched.json") in listed
    bad = run_forked([*cmd[:3], "name=nope", *cmd[4:]], REPO, env)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1] == (
        "error: unknown pretrained model 'nope'; shipped: tiny"
    )


def test_variable_rate_model_is_evaluated_at_the_chosen_lmbda(tiny_data, tmp_path):
    from sarcomp.evaluation.pretrained import evaluate_pretrained

    run = tmp_path / "run"
    overrides = smoke_overrides(tiny_data, "model.lmbdas=[0.002,0.032]", "model.lmbda=0.032")
    train(compose_train(overrides, run), run)
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    export_run(run, "vr", "python train.py ...", {}, zoo_dir=zoo, half=False)
    cfg = compose_train(smoke_overrides(tiny_data)).data
    low, path_low = evaluate_pretrained("vr", cfg, None, tmp_path / "logs", "cpu", None, 0.002, zoo)
    high, path_high = evaluate_pretrained("vr", cfg, None, tmp_path / "logs", "cpu", None, 0.032, zoo)
    assert path_low.name == f"metrics_{tiny_data.name}_lmbda0.002.json" and path_low != path_high
    assert low["lmbda"] == 0.002 and high["lmbda"] == 0.032
    with pytest.raises(SarcompError, match="outside the trained range"):
        evaluate_pretrained("vr", cfg, None, tmp_path / "logs", "cpu", None, 0.1, zoo)


@pytest.mark.parametrize("name", shipped_names(complex=False))
def test_every_shipped_model_loads_and_decodes_its_own_bitstream(name):
    """At every operating point (each λ of a variable-rate model), on a tile of odd size."""
    cfg, model = load_pretrained(name)
    for lmbda in cfg.model.get("lmbdas") or [cfg.model.lmbda]:
        model.set_lmbda(lmbda)
        torch.manual_seed(0)
        for portable in (True, False):  # version 2, and version 1 (the float path)
            decoded, expected = round_trip(model, torch.rand(1, 1, 96, 144), portable)
            torch.testing.assert_close(decoded, expected, atol=1e-5, rtol=0, msg=f"{name} at λ={lmbda}")


def test_the_zoo_ships_a_complex_model_apart_from_the_real_ones():
    complex_names = shipped_names(complex=True)
    assert complex_names and not set(complex_names) & set(shipped_names(complex=False))
    assert set(complex_names) | set(shipped_names(complex=False)) == set(shipped_names())


@pytest.mark.parametrize("name", shipped_names(complex=True))
def test_every_shipped_complex_model_decodes_its_own_bitstream(name):
    """I and Q in, at every operating point, on the portable path."""
    cfg, model = load_pretrained(name)
    assert int(cfg.model.in_channels) == 2
    for lmbda in cfg.model.get("lmbdas") or [cfg.model.lmbda]:
        model.set_lmbda(lmbda)
        torch.manual_seed(0)
        decoded, expected = round_trip(model, torch.rand(1, 2, 64, 80))
        torch.testing.assert_close(decoded, expected, atol=1e-5, rtol=0, msg=f"{name} at λ={lmbda}")
