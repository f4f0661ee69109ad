"""scripts/benchmark.py --quick: the whole path runs and writes the documented structure.

No timing assertions: speed targets are judged by the benchmark itself, not by unit tests.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from sarcomp.bench.attention_scaling import explicit_attention, growth_exponents
from sarcomp.bench.measure import peak_bytes
from sarcomp.bench.scene import measure_scene
from sarcomp.bench.settings import VARIANTS, BenchSettings
from tests.helpers import load_script


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench")
    assert load_script("scripts/benchmark.py").main(["--quick", "--out", str(out)]) == 0
    return {"out": out, "json": json.loads((out / "benchmark-cpu-quick.json").read_text())}


@pytest.mark.slow  # one quick benchmark run shared by three tests: ~10 s on 2 shared cores
def test_quick_run_writes_json_and_markdown(quick_run: dict) -> None:
    out = quick_run["out"]
    names = {p.name for p in out.iterdir()}
    assert {"benchmark-cpu-quick.json", "benchmark-cpu-quick.md"} <= names
    if torch.cuda.is_available():
        assert {"benchmark-cuda-quick.json", "benchmark-cuda-quick.md"} <= names
    md = (out / "benchmark-cpu-quick.md").read_text()
    for heading in (
        "## Training step",
        "## CBAM",
        "## Codec",
        "### Where the codec's time goes",
        "## Self-attention",
        "## Data loading",
        "## Targets",
    ):
        assert heading in md


@pytest.mark.slow  # one quick benchmark run shared by three tests: ~10 s on 2 shared cores
def test_machine_and_sections(quick_run: dict) -> None:
    r = quick_run["json"]
    assert r["machine"]["device"] == "cpu" and r["machine"]["torch"] == torch.__version__
    assert r["machine"]["cpu"] and r["command"].startswith("python scripts/benchmark.py --quick")
    train = {row["experiment"]: row for row in r["train_step"]["rows"]}
    assert set(train) == {*VARIANTS, "cbam_everywhere_formula"}
    assert train["baseline"]["ratio_to_baseline"] == 1.0
    assert all(row["tiles_per_s"] > 0 and len(row["runs_s"]) == 2 for row in train.values())
    codecs = r["codec"]["rows"]
    assert [c["codec"] for c in codecs] == list(VARIANTS)
    assert all(c["bpp"] > 0 and c["encode_mpix_s"] > 0 for c in codecs)
    assert all(c["jpeg2000"] is None or c["jpeg2000"]["decode_mpix_s"] > 0 for c in codecs)
    assert {(a["side"], a["method"]) for a in r["attention"]["rows"]} == {
        (s, m) for s in (4, 8) for m in ("fused", "explicit", "module")
    }
    assert [row["workers"] for row in r["loading"]["rows"]] == [0, 1]
    assert r["whole_scene"] == {"status": "not run: --quick"}
    cbam = r["cbam"]
    assert cbam["modules"] and all(m["fused_s"] > 0 and m["formula_s"] > 0 for m in cbam["modules"])
    assert set(cbam["profile"]) == {"baseline", "cbam_everywhere"}
    assert all(ops[0]["op"] == "total" and len(ops) > 1 for ops in cbam["profile"].values())
    assert r["train_memory"]["status"].startswith("not run")


@pytest.mark.slow  # one quick benchmark run shared by three tests: ~10 s on 2 shared cores
def test_every_target_has_a_verdict(quick_run: dict) -> None:
    targets = quick_run["json"]["targets"]
    names = " ".join(t["target"] for t in targets)
    for key in ("cbam_bottleneck", "cbam_everywhere", "selfattn_bottleneck", "JPEG 2000", "linear", "2 GB"):
        assert key in names
    assert all(t["met"] in (True, False, None) and t["figure"] for t in targets)


def test_cpu_peak_memory_sees_a_temporary() -> None:
    """A 4 MB temporary freed inside the call still shows in the peak."""
    a = torch.ones(1024, 1024)
    peak = peak_bytes(lambda: float((a * 2).sum()), torch.device("cpu"))
    assert 4 * 1024 * 1024 <= peak < 6 * 1024 * 1024


def test_explicit_attention_matches_sdpa() -> None:
    q, k, v = (torch.randn(1, 1, 50, 8) for _ in range(3))
    torch.testing.assert_close(
        explicit_attention(q, k, v), torch.nn.functional.scaled_dot_product_attention(q, k, v)
    )


def test_growth_exponents() -> None:
    rows = [{"tokens": t, "peak_bytes": b, "method": "m"} for t, b in ((100, 10), (400, 40), (1600, 640))]
    assert growth_exponents(rows, "m") == pytest.approx([1.0, 2.0])


def test_whole_scene_says_why_it_did_not_run(tmp_path: Path) -> None:
    assert measure_scene(BenchSettings.for_mode(True), 32, tmp_path) == {"status": "not run: --quick"}
    if importlib.util.find_spec("sarcomp.codec.scene") is None:
        result = measure_scene(BenchSettings(), 256, tmp_path)
        assert result == {"status": "not run: sarcomp.codec.scene absent"}


def test_codec_section_times_every_operating_point_of_shipped_models(
    tiny_data, tmp_path, monkeypatch
) -> None:
    from sarcomp.bench.codec_speed import measure_codecs
    from sarcomp.models.zoo import export_run
    from sarcomp.training.trainer import train
    from tests.helpers import compose_train, smoke_overrides

    run = tmp_path / "run"
    train(
        compose_train(smoke_overrides(tiny_data, "model.lmbdas=[0.002,0.032]", "model.lmbda=0.032"), run), run
    )
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    export_run(run, "vr", "python train.py ...", {}, zoo_dir=zoo)
    monkeypatch.setenv("SARCOMP_ZOO", str(zoo))
    settings = BenchSettings.for_mode(True, experiments=("baseline",), shipped_models=True)
    rows = measure_codecs(settings, tiny_data, torch.device("cpu"))["rows"]
    assert [r["codec"] for r in rows] == ["baseline", "zoo:vr@0.002", "zoo:vr@0.032"]
    low, high = rows[1], rows[2]
    assert low["bpp"] <= high["bpp"] and low["encode_decode_mpix_s"] > 0
    assert low["jpeg2000"] is not None and high["jpeg2000"]["encode_decode_mpix_s"] > 0


@pytest.mark.parametrize("entropy", ["factorized", "meanscale"])
def test_codec_stages_cover_each_direction_within_its_total(entropy: str) -> None:
    """The profiler ranges of compress / decompress: every stage the entropy model has, each
    timed, their sum within the pass's whole time."""
    from sarcomp.bench.codec_speed import stage_ms
    from sarcomp.models import SARCodec

    torch.manual_seed(0)
    model = SARCodec(channels=(8, 8), latent_channels=8, hyper_channels=4, entropy=entropy).eval()
    model.update(force=True)
    tiles = [torch.rand(1, 1, 32, 32) for _ in range(2)]
    stages = stage_ms(model, tiles, [model.compress(t) for t in tiles])
    hyper = ["h_a", "z coding", "h_s", "indexes"] if entropy == "meanscale" else []
    assert set(stages["encode"]) == {"g_a", *hyper, "y coding", "total"}
    assert set(stages["decode"]) == {*hyper[1:], "y coding", "g_s", "total"}
    for times in stages.values():
        parts = [ms for name, ms in times.items() if name != "total"]
        assert all(ms > 0 for ms in parts) and sum(parts) <= times["total"]
