"""The attention study's report, rebuilt from a results bundle with known answers."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from sarcomp.analysis.study import write_report

LMBDAS = (0.0003, 0.001, 0.003, 0.01)
BPP = np.array([0.1, 0.4, 1.0, 1.8])


def rows(
    rate_scale: float = 1.0, psnr_shift: float = 0.0, jitter: float = 0.0, seed: int = 0
) -> list[list[dict]]:
    """Per point, per scene rows: 5 scenes of different sizes and levels."""
    rng = np.random.default_rng(seed)
    out = []
    for bpp in BPP:
        out.append(
            [
                {
                    "image": f"s{i}.tif",
                    "sha256": f"{i:064x}",
                    "height": 100 + 20 * i,
                    "width": 200,
                    "valid_fraction": 1.0,
                    "bpp": float(bpp * rate_scale),
                    "psnr": float(
                        18 + 2 * i + 6 * np.log2(bpp / 0.1) + psnr_shift + jitter * rng.standard_normal()
                    ),
                }
                for i in range(5)
            ]
        )
    return out


def learned(plan, seed, points, ablated=None, experiment="x", step=3000):
    return [
        {
            "run": f"{plan}_s{seed}",
            "experiment": experiment,
            "plan": plan,
            "seed": seed,
            "variable_rate": True,
            "channels": [48, 64],
            "data": "real",
            "step": step,
            "lmbda": lm,
            "ablated": ablated,
            "params": 1,
            "rows": r,
        }
        for lm, r in zip(LMBDAS, points)
    ]


def test_report_from_bundle_ranks_a_variant_with_known_gain(tmp_path):
    entries = []
    for seed in (1, 2, 3):
        entries += learned(None, seed, rows(jitter=0.05, seed=seed), experiment="recipe_cpu")
        entries += learned("V1", seed, rows(rate_scale=0.9, jitter=0.05, seed=10 + seed))  # 10 % fewer bits
        entries += learned("V1", seed, rows(jitter=0.05, seed=20 + seed), ablated="all")  # V0 without it
        entries += learned("V3", seed, rows(jitter=0.05, seed=30 + seed))  # no difference
    for ablated in (None, "all"):  # a fixed-λ V1 (one RD point): in the gap table, not the ablation
        fixed = learned("V1", 1, rows(rate_scale=0.9)[2:3], ablated=ablated)
        entries += [e | {"variable_rate": False, "lmbda": 0.003} for e in fixed]
    for plan, scale in ((None, 1.0), ("V2", 0.9)):  # per-λ curves (amendment 1): V2's spends 10 % fewer bits
        fixed = learned(plan, 1, rows(rate_scale=scale), experiment="recipe_cpu" if plan is None else "x")
        entries += [e | {"variable_rate": False} for e in fixed]
    classic = [
        {"codec": "jpeg2000", "data": "real", "quality": q, "rows": r}
        for q, r in enumerate(rows(psnr_shift=-0.5))
    ]
    attention = {"V1_s1": {"3000": {"g_a.4": {"channel_std": 0.1}}}}
    bundle = tmp_path / "metrics.json"
    bundle.write_text(json.dumps({"learned": entries, "classic": classic, "attention": attention}))
    written = write_report(bundle, tmp_path, [3000], replicates=100)
    summary = (tmp_path / "summary.md").read_text()
    assert "Interim" not in summary  # 3 seeds per plan variant
    assert re.search(r"\| V1 \| 3,000 \| 0\.09–1\.6\d \| 3 \|", summary)  # 10 % fewer bits than V0's
    assert "V0's curve covers 0.10–1.80 bpp" in summary
    results = json.loads((tmp_path / "results.json").read_text())["real_step3000"]
    v1 = results["against_v0"]["V1"]["bd_rate_cubic_scene"]
    assert -11.5 < v1["low"] <= v1["estimate"] <= v1["high"] < -8.5
    v3 = results["against_v0"]["V3"]["bd_rate_pchip_pixel"]
    assert v3["low"] < 0 < v3["high"]
    assert results["against_v0"]["JPEG 2000"]["delta_psnr_scene"]["estimate"] < 0
    ablation = results["ablation"]["V1 without all"]["bd_rate_cubic_scene"]
    assert ablation["estimate"] > 8  # switching it off costs the ~11 % it saved
    assert [k for k in results["ablation"] if "@" in k] == []
    per_lambda = results["per_lambda_against_v0"]
    assert list(per_lambda) == ["V2 per-λ"]  # V1's single fixed-λ model makes no curve
    assert per_lambda["V2 per-λ"]["bd_rate_cubic_scene"]["estimate"] == pytest.approx(-10.0, abs=1e-6)
    report = (tmp_path / "report.md").read_text()
    assert "| V1 | 3 |" in report and "better" in report and "no difference detected" in report
    assert "| V1@0.003 | 0.900 |" in report  # the gap table: on its variable-rate curve's rates
    assert any(p.suffix == ".png" for p in written) and (tmp_path / "bd_real.png").exists()  # the forest plot


def test_summary_is_interim_until_each_plan_variant_has_three_seeds():
    from sarcomp.analysis.study import summary

    def row(seeds: int) -> dict:
        stat = {"estimate": 1.0, "low": 0.5, "high": 1.5, "seeds": [3, seeds]}
        keys = [f"bd_rate_{m}_{w}" for m in ("cubic", "pchip") for w in ("scene", "pixel")]
        return {k: stat for k in [*keys, "delta_psnr_scene"]}

    results = {"real_step3000": {"against_v0": {"V1": row(3), "cbam_encoder": row(1)}}}
    text = summary(results, [3000])
    assert (
        "Interim" not in text and "| cbam_encoder | 3,000 | — | 1 |" in text
    )  # a one-seed sweep run is labelled
    results["real_step3000"]["against_v0"]["V2"] = row(2)
    assert "Interim: 2–3 seed(s) per plan variant" in summary(results, [3000])
    results["real_step3000"]["rd"] = {"V0": {"bpp": [0.4, 0.12, 2.1]}, "V1": {"bpp": [0.2, 0.9]}}
    text = summary(results, [3000], "results/round2/report.md")
    assert "| V1 | 3,000 | 0.20–0.90 | 3 |" in text and "V0's curve covers 0.12–2.10 bpp" in text
    assert "[`results/round2/report.md`](results/round2/report.md)" in text
