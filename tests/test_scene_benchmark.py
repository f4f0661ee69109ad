"""scripts/benchmark.py --scenes: the whole-scene section runs end to end on a tiny scene and writes
its JSON and Markdown; its judging, interpolation and plot work on given numbers.

No timing assertions: the benchmark judges its targets itself.
"""

from __future__ import annotations

import json
import math

import pytest

from sarcomp.bench.scenes import at_bpp, family, stride8_models
from sarcomp.bench.scenes_report import judge, markdown, plot
from tests.helpers import load_script


@pytest.mark.slow  # four child processes on tiny scenes: ~40 s on 2 shared cores
def test_quick_scene_section_writes_json_and_markdown(tmp_path):
    script = load_script("scripts/benchmark.py")
    out = tmp_path / "bench"
    args = ["--scenes", "--quick", "--sentinel1", "--out", str(out), "--test-split", str(tmp_path / "absent")]
    assert script.main(args) == 0
    result = json.loads((out / "scenes-quick.json").read_text())
    rows = {r["codec"]: r for r in result["scenes"]}
    model = rows["baseline-ms-s8-l003"]
    assert model["size"] == 256 and model["threads"] == 1 and model["same_bytes_all_threads"]
    j2k = rows["JPEG2000"]
    assert j2k["matched_to"] == "baseline-ms-s8-l003" and abs(j2k["bpp"] - model["bpp"]) < 0.3 * model["bpp"]
    for r in (model, j2k):
        assert r["mpix_s"] > 0 and r["peak_rss_mb"] > 10 and math.isfinite(r["psnr"]) and r["psnr"] > 10
    assert result["quality"] is None and not (out / "scenes-quick_speed_quality.png").exists()
    (s1,) = result["sentinel1"]
    assert s1["shape"] == [200, 300] and s1["peak_rss_mb"] > 10 and s1["bytes"] > 0
    md = (out / "scenes-quick.md").read_text()
    assert "## 256 × 256" in md and "## Targets" in md and "quick" in md


def test_psnr_at_a_bpp_is_interpolated_or_the_nearest_point_says_where():
    assert at_bpp([(0.5, 20.0), (1.5, 30.0)], 1.0) == {"psnr": 25.0, "at_bpp": 1.0}
    assert at_bpp([(1.2, 30.0), (2.0, 33.0)], 1.0) == {"psnr": 30.0, "at_bpp": 1.2}
    assert (
        family("baseline-ms-s8-l003") == "baseline-ms-s8"
        and family("baseline-ms-vr-s8") == "baseline-ms-vr-s8"
    )


def test_the_shipped_stride_8_models_are_the_default():
    names = stride8_models()
    assert "baseline-ms-s8-l003" in names and "baseline-ms-vr-s8" in names and "baseline-ms-vr" not in names


def _results() -> dict:
    def row(codec, threads, mpix, rss=900.0, **extra):
        return {
            "codec": codec,
            "threads": threads,
            "size": 8192,
            "bpp": 1.0,
            "psnr": 25.0,
            "encode_mpix_s": 2 * mpix,
            "decode_mpix_s": 2 * mpix,
            "mpix_s": mpix,
            "peak_rss_mb": rss,
            **extra,
        }

    scenes = [
        row("baseline-ms-s8-l003", 1, 1.0, same_bytes_all_threads=True),
        row("baseline-ms-s8-l003", 2, 2.5, rss=1200.0),
        row("JPEG2000", 1, 2.0, rss=300.0, matched_to="baseline-ms-s8-l003"),
        row("JPEG2000", 2, 2.2, rss=300.0, matched_to="baseline-ms-s8-l003"),
        {"codec": "JPEGXL", "size": 8192, "status": "skipped: codec not installed"},
    ]
    quality = {
        "root": "data/shared_sar_splits",
        "target_bpp": 1.0,
        "points": {},
        "families": {"baseline-ms-s8": {"psnr": 24.0, "at_bpp": 1.0}},
        "classic": {"JPEG2000": {"psnr": 22.0, "bpp": 1.0}},
    }
    return {
        "command": "python scripts/benchmark.py --scenes",
        "mode": "full",
        "note": "",
        "started_utc": "2026-12-07 03:00",
        "elapsed_s": 1.0,
        "machine": {"cpu": "test cpu", "cpu_count": 2, "torch": "x"},
        "settings": {"tile": 256, "batch": 8},
        "scenes": scenes,
        "sentinel1": [
            {
                "model": "baseline-ms-s8-l003",
                "shape": [16700, 25000],
                "workers": 2,
                "peak_rss_mb": 1500.0,
                "encode_s": 9.0,
            }
        ],
        "quality": quality,
    }


def test_targets_are_judged_per_thread_count_and_for_memory(tmp_path):
    results = _results()
    targets = {t["target"]: t for t in judge(results)}
    one = next(t for name, t in targets.items() if "1 thread" in name)
    two = next(t for name, t in targets.items() if "2 thread" in name)
    assert one["met"] is False and two["met"] is True and "2.50 vs 2.20" in two["figure"]
    assert targets["8192² peak RSS ≤ 1100 MB"]["met"] is False
    assert next(t for name, t in targets.items() if "Sentinel-1" in name)["met"] is True
    results["targets"] = judge(results)
    md = markdown(results)
    assert "skipped: codec not installed" in md and "**not met**" in md and "PSNR at 1 bpp" in md
    assert plot(results, tmp_path / "plot.png").stat().st_size > 1000


def test_bad_thread_counts_are_one_line_errors(tmp_path, capsys):
    script = load_script("scripts/benchmark.py")
    with pytest.raises(SystemExit) as exc:
        script.main(["--scenes", "--threads", "1,x", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "--threads 1,x: comma-separated" in capsys.readouterr().err
