"""A shipped model against JPEG 2000 on the frozen test split, with bootstrap intervals (issue 27).

    python experiments/fast_model_rd.py                       # fast-vr-s8 (the fast model family)
    python experiments/fast_model_rd.py --model <shipped name> --out experiments/results/<folder>

The model is coded at the attention study's seven evaluation λ inside its trained range, scene by
scene through the real bitstream, on the protocol's real test crops (experiments/PROTOCOL.md) coded
as the study codes them; JPEG 2000 (16-bit, its rate sweep) on the same scenes. BD-rate (cubic and
pchip; scene- and pixel-weighted; over the whole common range and 0.25–2 bpp) and the fit-free
ΔPSNR at equal rate, each with its 95 % bootstrap interval over scenes (one training seed:
:func:`sarcomp.analysis.study.compare`). A model that trained on any of these scenes' rows outside
the protocol's train band is refused (:func:`sarcomp.data.splits.saw_test_rows`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf

from sarcomp.analysis.study import compare, scene_rd, verdict
from sarcomp.cli import run_cli
from sarcomp.codec.scaling import RangeRule, coding, training_representation
from sarcomp.config import register_resolvers
from sarcomp.data.loaders import load_split
from sarcomp.data.splits import saw_test_rows
from sarcomp.errors import SarcompError
from sarcomp.evaluation.classic import evaluate_classic
from sarcomp.evaluation.pretrained import evaluate_pretrained
from sarcomp.fileio import atomic_write_text, write_json
from sarcomp.models.zoo import entry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attention_study import EVAL_LMBDAS, ROOT, test_data  # noqa: E402  (the study's test set)

STATS = (
    ("bd_rate_cubic_scene", "BD-rate, cubic, scene-weighted", "%"),
    ("bd_rate_pchip_scene", "BD-rate, pchip, scene-weighted", "%"),
    ("bd_rate_cubic_pixel", "BD-rate, cubic, pixel-weighted", "%"),
    ("bd_rate_pchip_pixel", "BD-rate, pchip, pixel-weighted", "%"),
    ("bd_rate_cubic_scene_window", "BD-rate, cubic, 0.25–2 bpp, scene-weighted", "%"),
    ("delta_psnr_scene", "ΔPSNR at equal rate (fit-free), scene-weighted", "dB"),
)


def run(model: str, out: Path) -> dict:
    """Code the test split with ``model`` and JPEG 2000; the comparison with its intervals."""
    item = entry(model)
    frozen = json.loads((ROOT / "experiments" / "protocol" / "sar_splits.json").read_text())["crops"]
    seen = saw_test_rows(item.get("data") or {}, frozen)
    if seen:
        raise SarcompError(
            f"{model} trained on rows of the test files outside the protocol's: {', '.join(seen)}"
        )
    data = OmegaConf.create(test_data("real"))
    trained = item["config"]["model"].get("lmbdas") or [item["config"]["model"]["lmbda"]]
    lmbdas = [lm for lm in EVAL_LMBDAS if min(trained) <= lm <= max(trained)]
    learned = []
    with tempfile.TemporaryDirectory() as tmp:
        for lmbda in lmbdas:
            payload, _ = evaluate_pretrained(model, data, f"{tmp}/l{lmbda:g}.json", tmp, "cpu", lmbda=lmbda)
            learned.append(payload["images"])
    rule = coding(RangeRule(), training_representation(item["config"]))
    scenes = load_split(data, "test", rule)
    sweep = evaluate_classic(scenes, int(data.tile_size), ["jpeg2000"], 16, data_root=str(data.root))
    sweep.sort(key=lambda p: p["mean"]["bpp"])
    anchor, test = [scene_rd([p["images"] for p in sweep])], [scene_rd(learned)]
    stats = compare(anchor, test)
    return {
        "model": model,
        "lmbdas": lmbdas,
        "scenes": sorted(r["image"] for r in learned[0]),
        "points": [
            {"lmbda": lm, "bpp": _mean(rows, "bpp"), "psnr": _mean(rows, "psnr")}
            for lm, rows in zip(lmbdas, learned)
        ],
        "jpeg2000": [{"bpp": p["mean"]["bpp"], "psnr": p["mean"]["psnr"]} for p in sweep],
        "stats": stats,
        "verdict": verdict(stats),
    }


def _mean(rows: list[dict], key: str) -> float:
    return sum(r[key] for r in rows) / len(rows)


def markdown(result: dict, command: str, seconds: float) -> str:
    lines = [
        f"# {result['model']} against JPEG 2000 on the frozen test split",
        "",
        f"`{command}` ({seconds:.0f} s). Scenes ({len(result['scenes'])}): {', '.join(result['scenes'])}. "
        "One training seed: the intervals are over scenes only.",
        "",
        "| statistic (model against JPEG 2000) | value | 95 % interval |",
        "|---|---|---|",
    ]
    for key, text, unit in STATS:
        s = result["stats"][key]
        lines.append(f"| {text} | {s['estimate']:+.2f} {unit} | [{s['low']:+.2f}, {s['high']:+.2f}] |")
    lines += [
        "",
        f"Verdict over both fits and weightings: **{result['verdict']}** (negative BD-rate: fewer bits).",
    ]
    lines += ["", "| λ | bpp | PSNR dB |", "|---|---|---|"]
    lines += [f"| {p['lmbda']:g} | {p['bpp']:.3f} | {p['psnr']:.2f} |" for p in result["points"]]
    lines += ["", "| JPEG 2000 bpp | PSNR dB |", "|---|---|"]
    lines += [f"| {p['bpp']:.3f} | {p['psnr']:.2f} |" for p in result["jpeg2000"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    register_resolvers()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="fast-vr-s8")
    p.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "fast_model")
    a = p.parse_args(argv)
    start = time.perf_counter()
    result = run(a.model, a.out)
    command = "python experiments/fast_model_rd.py" + (
        "" if a.model == "fast-vr-s8" else f" --model {a.model}"
    )
    a.out.mkdir(parents=True, exist_ok=True)
    write_json(a.out / "rd.json", result | {"command": command})
    atomic_write_text(a.out / "rd.md", markdown(result, command, time.perf_counter() - start))
    print((a.out / "rd.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
