"""The attention study's evaluation and report (experiments/PROTOCOL.md, issue 22).

    python experiments/attention_study.py evaluate outputs/attention_study --steps 1500 3000
    python experiments/attention_study.py collect outputs/attention_study --out experiments/results/attention_study
    python experiments/attention_study.py report --out experiments/results/attention_study

The second round (PROTOCOL.md, amendment 2) passes its folders, its ten evaluation λ and its
section of experiments/README.md (``run_attention_study.sh`` with ``ROUND=2`` does).

``evaluate`` codes the test split with the real bitstream: the real one (the frozen bottom
bands) with every finished run at each kept checkpoint and each evaluation λ (seven in the first round, ten in the second), the
synthetic one (the recipe's 8 test scenes of 512², secondary) at the last checkpoint and the
trained λ; the attention runs also with their modules switched off (all, and each alone) at the
last checkpoint; and JPEG 2000 over its rate grid. Files already written are kept (rerunning
resumes). ``collect`` gathers the per-scene rows into one committed bundle (``metrics.json``);
``report`` rebuilds every table and plot from that bundle alone, so a fresh clone regenerates them
without the run folders.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from sarcomp.analysis.study import update_section, write_report
from sarcomp.cli import run_cli
from sarcomp.config import project_root, register_resolvers
from sarcomp.evaluation.evaluate import classic_sweep_for_runs, evaluate_run
from sarcomp.fileio import write_json
from sarcomp.models.attention_probe import attention_modules
from sarcomp.runs import classic_path, data_tag, find_runs, load_run, run_config
from sarcomp.training.attention_log import read_attention_log

ROOT = Path(__file__).resolve().parents[1]  # the checkout: configs, experiments/results
DATA = project_root() / "data"  # data/ and outputs/ ($SARCOMP_ROOT, else the checkout)
EVAL_LMBDAS = (0.0003, 0.00055, 0.001, 0.0017, 0.003, 0.0055, 0.01)
ROW_KEYS = (
    "image",
    "sha256",
    "height",
    "width",
    "valid_fraction",
    "bpp",
    "psnr",
    "ssim",
    "ms_ssim",
    "rmse_db",
)
log = logging.getLogger("attention_study")


def test_data(which: str) -> dict:
    """The two test sets as data configs: ``real`` (frozen row bands) and ``synthetic``."""
    common = {
        "bands": [1],
        "iq": False,
        "complex_to": "intensity",
        "exclude": [],
        "tile_size": 128,
        "stride": 128,
    }
    if which == "real":
        rep = {"units": "auto", "db_range": None, "percentiles": [1.0, 99.0], "floor_db": -60.0}
        return common | {
            "root": str(DATA / "shared_sar_splits"),
            "band_specs": str(ROOT / "configs" / "bands" / "shared_sar.yaml"),
            "representation": rep,
        }
    rep = {"units": "intensity", "db_range": [-30.0, 10.0], "percentiles": None, "floor_db": -60.0}
    return common | {
        "root": str(DATA / "synthetic_recipe"),
        "band_specs": None,
        "representation": rep,
    }


def _study_file(run: Path, data: str, step: int, lmbda: float | None, ablated: str | None) -> Path:
    parts = [data, f"step{step}", "own" if lmbda is None else f"l{lmbda:g}"] + (
        [f"off-{ablated}"] if ablated else []
    )
    return run / "eval" / "study" / ("_".join(parts) + ".json")


def evaluate(out: Path, steps: Sequence[int], eval_lmbdas: Sequence[float] = EVAL_LMBDAS) -> None:
    """Every evaluation of the study that is not on disk yet (module docstring); variable-rate
    models are coded at each of ``eval_lmbdas`` on the real test split."""
    runs = [r for r in find_runs(out) if all((r / "checkpoints" / f"step_{s}.pt").exists() for s in steps)]
    for which in ("real", "synthetic"):
        data = OmegaConf.create(test_data(which))
        for run in runs:
            cfg = run_config(run, f"step_{steps[-1]}")
            lmbdas = tuple(eval_lmbdas) if cfg.model.get("lmbdas") else (None,)
            if which == "synthetic":  # 8 scenes of 512²: the trained λ at the last step only
                lmbdas = tuple(cfg.model.lmbdas) if cfg.model.get("lmbdas") else lmbdas
            _, model, _ = load_run(run, f"step_{steps[-1]}")
            modules = list(attention_modules(model))
            for step in steps if which == "real" else steps[-1:]:
                switches: list[str | None] = [None]
                if which == "real" and step == steps[-1] and modules and cfg.model.get("lmbdas"):
                    switches += ["all", *modules] if len(modules) > 1 else ["all"]
                for ablated in switches:
                    for lmbda in lmbdas:
                        path = _study_file(run, which, step, lmbda, ablated)
                        if path.exists():
                            continue
                        evaluate_run(
                            run,
                            data,
                            str(path),
                            f"step_{step}",
                            "cpu",
                            lmbda=lmbda,
                            ablate=None if ablated is None else ([ablated] if ablated != "all" else ["all"]),
                        )
        if runs and not classic_path(out, data_tag(data.root)).exists():  # coded as the runs' scenes are
            classic = {"codecs": ["jpeg2000"], "bits": 16, "sweep": True}
            classic_sweep_for_runs(runs, out, classic, data, f"step_{steps[-1]}")


def _rows(payload: dict) -> list[dict]:
    return [{k: r.get(k) for k in ROW_KEYS} for r in payload["images"]]


def collect(out: Path, dest: Path) -> Path:
    """One bundle of every study result (per-scene rows), and the runs' attention trajectories."""
    learned = []
    for run in find_runs(out):
        cfg = run_config(run, "last")
        for path in sorted((run / "eval" / "study").glob("*.json")):
            data, step, point, *off = path.stem.split("_", 3)
            payload = json.loads(path.read_text())
            learned.append(
                {
                    "run": run.name,
                    "experiment": str(cfg.get("experiment_name")),
                    "plan": cfg.get("plan_id"),
                    "seed": int(cfg.seed),
                    "variable_rate": bool(cfg.model.get("lmbdas")),
                    "channels": list(cfg.model.channels),
                    "data": data,
                    "step": int(step.removeprefix("step")),
                    "lmbda": payload["lmbda"],
                    "ablated": off[0].removeprefix("off-") if off else None,
                    "params": payload.get("params"),
                    "rows": _rows(payload),
                }
            )
    classic = []
    for which in ("real", "synthetic"):
        path = classic_path(out, data_tag(test_data(which)["root"]))
        if path.exists():
            for p in json.loads(path.read_text())["results"]:
                classic.append(
                    {"codec": p["codec"], "data": which, "quality": p.get("param"), "rows": _rows(p)}
                )
    attention = {run.name: read_attention_log(run) for run in find_runs(out)}
    bundle = dest / "metrics.json"
    write_json(bundle, {"learned": learned, "classic": classic, "attention": attention})
    return bundle


def main(argv: Sequence[str] | None = None) -> int:
    register_resolvers()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("stage", choices=["evaluate", "collect", "report"])
    p.add_argument("folder", nargs="?", type=Path, default=project_root() / "outputs" / "attention_study")
    p.add_argument("--steps", type=int, nargs="+", default=[1500, 3000])
    p.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "attention_study")
    p.add_argument(
        "--lmbdas", type=float, nargs="+", default=list(EVAL_LMBDAS), help="evaluation λ (evaluate)"
    )
    p.add_argument("--section", default="attention-study", help="experiments/README.md section (report)")
    args = p.parse_args(argv)
    if args.stage == "evaluate":
        evaluate(args.folder, args.steps, args.lmbdas)
    elif args.stage == "collect":
        print(collect(args.folder, args.out))
    else:
        for path in write_report(args.out / "metrics.json", args.out, args.steps):
            print(path)
        update_section(
            ROOT / "experiments" / "README.md", (args.out / "summary.md").read_text(), args.section
        )
        print(ROOT / "experiments" / "README.md")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
