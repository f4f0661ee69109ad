"""The issue's speed targets, each judged on this run's measurements: met, not met, or not run.

- train step against the baseline: V1 ≤ 1.05×, V2 ≤ 1.15×, V3 ≤ 1.10× (step-time ratio);
- codec encode+decode at least as fast as JPEG 2000 (OpenJPEG) on the same tiles, per variant;
- self-attention memory linear in tokens: the ``module`` row's peak grows with an exponent of at
  most 1 (+0.1 for measurement noise) between every pair of consecutive sizes;
- whole-scene compression of 8192² within 2 GB (2·10⁹ bytes, the stricter reading) peak RSS, both
  directions.
"""

from __future__ import annotations

from typing import Any

from sarcomp.bench.attention_scaling import growth_exponents

TRAIN_LIMITS = {"cbam_bottleneck": 1.05, "cbam_everywhere": 1.15, "selfattn_bottleneck": 1.10}
LINEAR_SLACK = 0.1
SCENE_RSS_LIMIT = 2e9


def _target(name: str, met: bool | None, figure: str) -> dict[str, Any]:
    return {"target": name, "met": met, "figure": figure}


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        *_train(results["train_step"]),
        *_codec(results["codec"]),
        _attention(results["attention"]),
        _scene(results["whole_scene"]),
    ]


def _train(section: dict[str, Any]) -> list[dict[str, Any]]:
    rows = {r["experiment"]: r for r in section["rows"]}
    out = []
    for name, limit in TRAIN_LIMITS.items():
        title = f"train step {name} <= {limit:.2f}x baseline"
        row = rows.get(name)
        if row is None or row["ratio_to_baseline"] is None:
            out.append(_target(title, None, "not measured"))
        else:
            ratio = row["ratio_to_baseline"]
            out.append(_target(title, ratio <= limit, f"{ratio:.3f}x"))
    return out


def _codec(section: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for row in section["rows"]:
        title = f"codec {row['codec']} encode+decode >= JPEG 2000"
        j2k = row["jpeg2000"]
        if j2k is None:
            out.append(_target(title, None, "JPEG 2000 unavailable"))
            continue
        figure = (
            f"{row['encode_decode_mpix_s']:.2f} vs {j2k['encode_decode_mpix_s']:.2f} MPixel/s "
            f"at {row['bpp']:.2f} / {j2k['bpp']:.2f} bpp"
        )
        out.append(_target(title, row["encode_decode_mpix_s"] >= j2k["encode_decode_mpix_s"], figure))
    return out


def _attention(section: dict[str, Any]) -> dict[str, Any]:
    exps = growth_exponents(section["rows"], "module")
    title = "self-attention (module) memory linear in tokens"
    if not exps:
        return _target(title, None, "fewer than two sizes")
    figure = "growth exponents " + ", ".join(f"{e:.2f}" for e in exps) + " (1 = linear, 2 = quadratic)"
    return _target(title, max(exps) <= 1 + LINEAR_SLACK, figure)


def _scene(section: dict[str, Any]) -> dict[str, Any]:
    title = "whole scene 8192^2 within 2 GB peak RSS"
    if section.get("status") != "run":
        return _target(title, None, section.get("status", "not run"))
    peaks = _rss_values(section)
    if not peaks:
        return _target(title, None, "measure_whole_scene returned no *rss* field")
    peak = max(peaks)
    figure = f"{peak / 1e9:.2f} GB peak at {section.get('size')}^2"
    return _target(title, peak <= SCENE_RSS_LIMIT if section.get("size") == 8192 else None, figure)


def _rss_values(node: Any, key: str = "") -> list[float]:
    """Every number under a key containing ``rss`` (bytes; ``*_gb``/``*_mb``/``*_kb`` keys are binary units, as ``ru_maxrss``'s KiB)."""
    if isinstance(node, dict):
        return [v for k, child in node.items() for v in _rss_values(child, str(k))]
    if isinstance(node, (int, float)) and "rss" in key.lower():
        scale = {"gb": 2**30, "mb": 2**20, "kb": 2**10}.get(key.lower()[-2:], 1.0)
        return [float(node) * scale]
    return []
