"""compare: grouping by variant/λ/seed, the seed-spread rule, BD-rates, leakage, and the CLI."""

from __future__ import annotations

import json
import math
import runpy
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from sarcomp.analysis.collect import RunResult
from sarcomp.analysis.render import format_table, plan_table, render_markdown, summary_rows
from sarcomp.analysis.report import build_report
from sarcomp.analysis.stats import delta, stat
from sarcomp.errors import SarcompError
from tests.helpers import REPO

LMBDAS = (0.0035, 0.0067, 0.013, 0.025)
BASE_BPP = {0.0035: 0.2, 0.0067: 0.35, 0.013: 0.6, 0.025: 1.0}
SCENES = ["/data/test/a.tif", "/data/test/b.tif"]


def fake_run(name, attention, lmbda, seed, bpp, psnr, ssim, ms=10.0, scenes=SCENES, used=()):
    rows = [
        {
            "image": Path(s).name,
            "path": s,
            "bpp": bpp,
            "psnr": psnr,
            "ssim": ssim,
            "ms_ssim": math.nan,
            "rmse_db": 1.0,
            "enl_ratio": 1.0,
            "ratio_mean": 1.0,
            "ratio_var": 0.1,
            "mean_preservation": 1.0,
            "epi": 0.9,
            "encode_ms": ms,
            "decode_ms": ms,
        }
        for s in scenes
    ]
    payload = {
        "name": name,
        "codec": "learned",
        "plan": {"baseline": "V0", "cbam_bottleneck": "V1"}.get(name),
        "attention": attention,
        "placement": "none" if attention == "none" else "bottleneck",
        "lmbda": lmbda,
        "seed": seed,
        "params": 1000,
        "step": 10,
        "data_root": "/data",
        "tile_size": 64,
        "images": rows,
        "mean": {},
    }
    matched = [
        {
            "name": "JPEG2000 16-bit",
            "codec": "jpeg2000",
            "kind": "matched",
            "images": [{**r, "psnr": 10 * np.log10(bpp) + 30.0} for r in rows],
            "mean": {},
        }
    ]
    return RunResult(Path(f"/runs/{name}/{lmbda}/{seed}"), payload, matched, set(used))


def plan(ssim_gain=0.0, bpp_scale=1.0, rd_lmbdas=LMBDAS):
    """Baseline and one attention variant: 3 seeds at λ=0.013, one seed at the other λ."""
    runs = []
    for name, att, gain, scale in (
        ("baseline", "none", 0.0, 1.0),
        ("cbam_bottleneck", "cbam", ssim_gain, bpp_scale),
    ):
        for lm in rd_lmbdas:
            seeds = (1, 2, 3) if lm == 0.013 else (1,)
            for s in seeds:
                jitter = 0.002 * (s - 2)  # seed spread: std 0.002
                bpp = BASE_BPP[lm] * scale
                runs.append(
                    fake_run(
                        name, att, lm, s, bpp, 10 * np.log10(BASE_BPP[lm]) + 30 + jitter, 0.7 + gain + jitter
                    )
                )
    return runs


def test_stat_and_spread_rule():
    a, b = stat([1.0, 2.0, 3.0]), stat([1.5, 2.5, 3.5])
    assert a["mean"] == 2.0 and a["std"] == pytest.approx(1.0) and a["n"] == 3
    d = delta(b, a)
    assert d["delta"] == pytest.approx(0.5) and d["spread"] == pytest.approx(2.0) and not d["exceeds_spread"]
    far = delta(stat([10.0, 10.1, 9.9]), a)
    assert far["exceeds_spread"] and far["welch_p"] < 0.05
    single = delta(stat([5.0]), a)
    assert not single["exceeds_spread"] and math.isnan(single["spread"])
    assert math.isnan(stat([math.nan, math.nan])["mean"]) and stat([]).get("n") == 0


def test_report_groups_seeds_marks_spread_and_bd_rate():
    report = build_report(plan(ssim_gain=0.05, bpp_scale=0.5), [])
    assert report["table_lmbda"] == 0.013 and report["baseline"] == "baseline"
    base, cbam = report["variants"]
    assert base["label"] == "V0 baseline" and cbam["label"] == "V1 cbam_bottleneck"
    assert base["table"]["seeds"] == [1, 2, 3] and len(base["points"]) == 4
    ssim = cbam["table"]["metrics"]["ssim"]
    assert ssim["mean"] == pytest.approx(0.75) and ssim["std"] == pytest.approx(0.002)
    assert cbam["deltas"]["ssim"]["exceeds_spread"] and cbam["deltas"]["ssim"]["delta"] == pytest.approx(0.05)
    assert not cbam["deltas"]["time"]["exceeds_spread"]
    # the same PSNR at half the rate: BD-rate -50 % against the baseline, and against JPEG 2000
    # (rate-matched anchor: PSNR = 10 log10(bpp) + 30, i.e. the baseline curve)
    assert cbam["bd"]["vs_baseline"]["bd_rate"] == pytest.approx(-50.0, abs=0.5)
    assert cbam["bd"]["vs_jpeg2000"]["anchor"] == "rate-matched"
    assert base["bd"]["vs_jpeg2000"]["bd_rate"] == pytest.approx(0.0, abs=0.5)
    table = plan_table(report)
    assert table.splitlines()[0] == (
        "| Variant | Attention | Placement | Seeds | Params | bpp | PSNR | SSIM | MS-SSIM | "
        "ΔSSIM vs baseline | encode ms | decode ms | Δtime vs baseline |"
    )
    assert "+0.0500 †" in table and "0.7500 ± 0.0020" in table and "N/A" in table  # MS-SSIM N/A
    assert "better than the baseline beyond the seed spread: V1 cbam_bottleneck" in render_markdown(report)


def test_noise_level_gain_is_not_marked_and_verdict_says_so():
    report = build_report(plan(ssim_gain=0.001), [])
    assert not report["variants"][1]["deltas"]["ssim"]["exceeds_spread"]
    assert "attention does not measurably help" in render_markdown(report)


def test_bd_needs_four_points_for_cubic_and_labels_pchip():
    runs = plan(rd_lmbdas=(0.0035, 0.013, 0.025))
    cubic = build_report(runs, [])["variants"][1]["bd"]["vs_baseline"]
    assert "na" in cubic and "needs 4" in cubic["na"]
    pchip = build_report(runs, [], bd_method="pchip")
    assert pchip["variants"][1]["bd"]["vs_baseline"]["bd_rate"] == pytest.approx(0.0, abs=1e-6)
    assert "(pchip)" in render_markdown(pchip)


def test_scenes_any_run_trained_on_are_excluded():
    runs = plan()
    runs[0] = fake_run("baseline", "none", 0.0035, 1, 0.2, 23.0, 0.7, used={SCENES[1]})
    report = build_report(runs, [])
    assert report["images"] == [SCENES[0]] and report["excluded_images"] == [SCENES[1]]
    assert any("trained or validated" in n for n in report["notes"])


def test_compare_cli_on_a_smoke_sweep(smoke_run, tmp_path, monkeypatch):
    sweep = tmp_path / "sweep"
    shutil.copytree(
        smoke_run, sweep / "experiment=baseline", ignore=shutil.ignore_patterns("eval", "tensorboard")
    )
    out = tmp_path / "results" / "smoke.md"
    argv = ["compare.py", str(sweep), "--out", str(out), "--codecs", "jpeg2000"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as info:
        runpy.run_path(str(REPO / "scripts" / "compare.py"), run_name="__main__")
    assert info.value.code == 0
    text = out.read_text()
    assert "| Variant | Attention | Placement |" in text and "JPEG2000 16-bit" in text
    assert "## Detection and reflectivity fidelity" in text and "| original (uncompressed) | — |" in text
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["variants"][0]["bd"]["vs_jpeg2000"]["na"].startswith("1 RD point")
    assert report["variants"][0]["table"]["metrics"]["det_f1"]["n"] == 1  # no ground truth in the smoke data
    assert report["variants"][0]["table"]["metrics"]["det_pd"]["n"] == 0
    assert {Path(p).name for p in report["outputs"]["plots"]} >= {"smoke_rd_psnr.png", "smoke_rd_ssim.png"}
    assert not (tmp_path / "results" / "smoke_rd_ms_ssim.png").exists()  # 96 px: MS-SSIM N/A, no plot
    assert all(Path(p).stat().st_size > 1000 for p in report["outputs"]["plots"])
    assert list((tmp_path / "results" / "tensorboard").glob("events.out.tfevents.*"))  # beside the report
    assert not (sweep / "compare").exists()  # nothing written into the compared folders but eval/
    assert (sweep / "eval" / "classic.json").is_file()


def test_bd_rate_and_bd_psnr_are_na_separately():
    from sarcomp.analysis.stats import bd

    rates = [0.2, 0.4, 0.8, 1.6]
    anchor = (rates, [30.0, 32.0, 34.0, 36.0])
    worse = bd(anchor, (rates, [20.0, 22.0, 24.0, 26.0]))  # same rates, 10 dB worse: no PSNR overlap
    assert worse["bd_psnr"] == pytest.approx(-10.0) and "PSNR ranges do not overlap" in worse["bd_rate_na"]
    far = bd(anchor, ([4.0, 5.0, 6.0, 7.0], [33.0, 34.0, 35.0, 36.0]))  # no rate overlap
    assert "bd_rate" in far and "rate ranges do not overlap" in far["bd_psnr_na"]


def test_non_monotone_rd_curve_is_flagged():
    runs = plan()
    for r in runs:
        if r.payload["name"] == "cbam_bottleneck" and r.payload["lmbda"] == 0.025:
            for row in r.payload["images"]:
                row["bpp"] = 0.1  # the highest λ at the lowest rate
    report = build_report(runs, [])
    assert report["variants"][0]["monotone"] and not report["variants"][1]["monotone"]
    assert "V1 cbam_bottleneck ‡" in render_markdown(report)


def test_exclude_on_request_is_named():
    report = build_report(plan(), [], exclude=["b.*"])
    assert report["images"] == [SCENES[0]] and report["excluded_on_request"] == [SCENES[1]]
    assert any("excluded on request" in n for n in report["notes"])


def test_bd_is_na_when_a_curve_is_not_monotone_or_too_narrow():
    from sarcomp.analysis.stats import bd

    rates = [0.2, 0.4, 0.8, 1.6]
    good = (rates, [30.0, 32.0, 34.0, 36.0])
    dipping = (rates, [30.0, 33.0, 32.0, 36.0])
    assert "anchor curve is not monotone" in bd(dipping, good)["na"]  # the anchor is checked too
    assert "test curve is not monotone" in bd(good, dipping)["na"]
    narrow = ([1.0, 1.1, 1.2, 1.3], [30.0, 30.5, 31.0, 31.5])
    assert "less than ×1.5 in rate" in bd(good, narrow)["na"]
    assert "bd_rate" in bd(good, (rates, [29.0, 31.0, 33.0, 35.0]))


def test_bd_table_leads_with_the_fit_free_delta_at_equal_rate():
    report = build_report(plan(), [])
    cbam = report["variants"][1]
    assert cbam["dpsnr_vs_jpeg2000"]["n"] == len(LMBDAS)
    header = next(line for line in render_markdown(report).splitlines() if "BD-rate vs baseline" in line)
    assert header.index("ΔPSNR vs JPEG 2000 at equal rate") < header.index("BD-rate vs baseline")


def test_runs_differing_only_in_budget_are_both_kept_labelled_and_warned():
    short = fake_run("baseline", "none", 0.013, 1, 0.5, 20.0, 0.5)
    long = fake_run("baseline", "none", 0.013, 1, 0.4, 21.0, 0.6)
    short.payload["step"], long.payload["step"] = 4, 60
    long.run_dir = Path("/runs/long")
    report = build_report([short, long], [])
    assert sorted(v["variant"] for v in report["variants"]) == ["baseline [4 steps]", "baseline [60 steps]"]
    assert any("differ in steps: 4, 60" in w for w in report["warnings"])


def test_runs_of_one_budget_stay_one_variant_whatever_step_their_best_checkpoint_is():
    # λ=0.0035's best validation came at step 200 of 400: still a 400-step run of the same variant
    early = fake_run("cbam_bottleneck", "cbam", 0.0035, 1, 0.3, 18.0, 0.4)
    late = fake_run("cbam_bottleneck", "cbam", 0.013, 1, 0.5, 19.0, 0.5)
    early.payload.update(step=200, max_steps=400)
    late.payload.update(step=400, max_steps=400)
    report = build_report([early, late], [])
    assert [v["variant"] for v in report["variants"]] == ["cbam_bottleneck"]
    assert report["steps"] == [400] and not any("differ in steps" in w for w in report["warnings"])


def test_identical_runs_are_refused_not_dropped():
    a = fake_run("baseline", "none", 0.013, 1, 0.5, 20.0, 0.5)
    b = fake_run("baseline", "none", 0.013, 1, 0.5, 20.0, 0.5)
    b.run_dir = Path("/runs/copy")
    with pytest.raises(SarcompError, match="/runs/copy.*same experiment"):
        build_report([a, b], [])


def test_timings_from_other_machines_or_times_are_warned():
    a = fake_run("baseline", "none", 0.013, 1, 0.5, 20.0, 0.5)
    b = fake_run("cbam_bottleneck", "cbam", 0.013, 1, 0.5, 20.0, 0.5)
    a.payload.update(hardware={"cpu": "x86", "threads": 2}, evaluated_at="2026-01-01T00:00:00+00:00")
    b.payload.update(hardware={"cpu": "x86", "threads": 8}, evaluated_at="2026-01-02T00:00:00+00:00")
    warnings = build_report([a, b], [])["warnings"]
    assert any("different machines" in w for w in warnings) and any("different times" in w for w in warnings)


def test_ratio_axes_are_logarithmic():
    from sarcomp.analysis.plots import rd_figure

    report = build_report(plan(), [])
    assert rd_figure(report, "enl_ratio", "ENL ratio").axes[0].get_yscale() == "log"
    assert rd_figure(report, "ratio_var", "ratio var").axes[0].get_yscale() == "log"
    assert rd_figure(report, "psnr", "PSNR").axes[0].get_yscale() == "linear"


def test_probe_section_joins_the_report(monkeypatch):
    """The localisation probe runs on one run per variant at the table λ (the probe itself is tested
    in test_interpret.py; here only the wiring, with its rows stubbed)."""
    import sarcomp.interpret.probe as probe
    from sarcomp.analysis.compare import probe_section

    seen = []
    monkeypatch.setattr(probe, "probe_rows", lambda runs, cfg: seen.extend(runs) or [{"variant": "original"}])
    report = build_report(plan(), [])
    text = probe_section(report)
    assert "Does localisation survive compression?" in text and report["probe"] == [{"variant": "original"}]
    assert seen == ["/runs/baseline/0.013/1", "/runs/cbam_bottleneck/0.013/1"]


def test_a_spread_is_printed_without_a_sign():
    from sarcomp.analysis.render import _pm

    assert _pm({"mean": -1.98, "std": 0.52, "n": 4}, "+.2f") == "-1.98 ± 0.52"
    assert _pm({"mean": 0.5, "std": 0.1, "n": 1}, "+.2f") == "+0.50"  # one value: no spread


def test_terminal_table_says_when_a_mean_covers_fewer_scenes():
    """Issue 24: MS-SSIM and RMSE dB averaged over 5 of 6 scenes say so; the matched label names the
    run folder, not its whole path."""
    payload = {
        "name": "JPEG",
        "kind": "matched",
        "matched_to": "/very/long/path/to/outputs/train/runs/experiment-baseline_data-1f0c2a9e",
        "images": [{}] * 6,
        "mean": {"bpp": 0.9, "bpp_n": 6, "psnr": 25.0, "psnr_n": 6, "ms_ssim": 0.97, "ms_ssim_n": 5},
    }
    text = format_table(summary_rows([payload]))
    row = text.splitlines()[2]
    assert "0.9700 (5/6)" in row and "25.00 (" not in row
    assert "JPEG @ rates of experiment-baseline_data-1f0c2a9e" in row and "/very/long" not in row
    assert text.splitlines()[-1].startswith("x (n/N): mean over the n of N scenes")
    full = {**payload, "mean": {**payload["mean"], "ms_ssim_n": 6}}
    assert "(n/N)" not in format_table(summary_rows([full]))
