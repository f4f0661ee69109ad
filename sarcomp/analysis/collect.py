"""Collecting evaluated runs and the classic rate sweep, restricted to common, unused test scenes.

Input: run folders and sweep folders (every run folder below them), each evaluated by
``scripts/evaluate.py`` (paths in :mod:`sarcomp.runs`). Missing results on the runs' own test split
are computed on the fly (``evaluate=True``). Only scenes that *no* compared run trained or validated
on are used (the union of every run's ``scenes.json``), and only those evaluated for every run and
classic result, so all numbers are on one common set of scenes; means are recomputed over it.
Runs (and the classic sweep) whose test scenes differ by SHA-256 are refused, never pooled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sarcomp.data.identity import check_same_scenes
from sarcomp.errors import SarcompError
from sarcomp.evaluation.evaluate import classic_sweep_for_runs, evaluate_run
from sarcomp.evaluation.results import LEARNED_KEYS, mean_row
from sarcomp.runs import (
    classic_path,
    find_runs,
    has_metrics,
    is_run_dir,
    load_results,
    matched_path,
    metrics_path,
    run_config,
    used_scene_paths,
)


@dataclass
class RunResult:
    run_dir: Path
    payload: dict[str, Any]
    matched: list[dict[str, Any]] = field(default_factory=list)
    used: set[str] = field(default_factory=set)  # scene paths the run trained or validated on


def _run_dirs(folders: Iterable[str | Path]) -> list[Path]:
    seen: dict[Path, None] = {}
    for folder in folders:
        folder = Path(folder)
        if folder.is_dir() and not is_run_dir(folder) and has_metrics(folder):
            seen[folder] = None  # an evaluated run whose checkpoints were removed
            continue
        for run in find_runs(folder):
            seen[run] = None
    return list(seen)


def collect(
    folders: Sequence[str | Path],
    tag: str = "",
    evaluate: bool = True,
    classic: Mapping[str, Any] | None = None,
    device: str = "auto",
) -> tuple[list[RunResult], list[dict[str, Any]], list[str]]:
    """Load (or compute) every run's results and the classic rate sweep; returns notes too.

    ``classic``: the ``classic`` node of ``configs/eval.yaml``, used for results computed here
    (``None``: learned codecs only)."""
    classic = dict(classic or {})
    notes: list[str] = []
    runs: list[RunResult] = []
    for run in _run_dirs(folders):
        path = metrics_path(run, tag)
        if not path.is_file():
            if tag or not evaluate:
                raise SarcompError(
                    f"{path} not found: run `python scripts/evaluate.py run_dir={run}`"
                    + (" data=geotiff data.root=<the data folder>" if tag else "")
                )
            evaluate_run(run, classic=classic, device=device)
        payload = load_results(path)[0]
        if "max_steps" not in payload and is_run_dir(run):  # results from before the field existed
            payload["max_steps"] = int(run_config(run).trainer.max_steps)
        matched_file = matched_path(path, tag)
        matched = load_results(matched_file) if matched_file.is_file() else []
        used = used_scene_paths([run])
        runs.append(RunResult(run, payload, matched, used))
    if not runs:
        raise SarcompError("no runs to compare")
    sweep: list[dict[str, Any]] = []
    candidates = [classic_path(f, tag) for f in folders] + [classic_path(r.run_dir, tag) for r in runs]
    found = [p for p in dict.fromkeys(candidates) if p.is_file()]
    if found:
        sweep = load_results(found[0])
        if len(found) > 1:
            notes.append(f"classic rate sweep from {found[0]} (ignoring {len(found) - 1} other file(s))")
    elif not tag and evaluate and classic.get("sweep") and classic.get("codecs"):
        folder = Path(folders[0])
        sweep, _ = classic_sweep_for_runs(
            [r.run_dir for r in runs], folder if folder.is_dir() else runs[0].run_dir, classic
        )
    else:
        notes.append("no classic rate sweep found: run scripts/evaluate.py on the folder")
    check_same_scenes(
        [(str(r.run_dir), r.payload["images"]) for r in runs] + [(p["name"], p["images"]) for p in sweep]
    )
    return runs, sweep, notes


def _row_key(row: Mapping[str, Any]) -> str:
    return str(row.get("path") or row["image"])


def restrict(payload: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """The payload with only the rows of ``keys`` and its mean recomputed over them."""
    rows = [r for r in payload["images"] if _row_key(r) in keys]
    return {**payload, "images": rows, "mean": mean_row(rows, LEARNED_KEYS)}


def common_images(
    runs: Sequence[RunResult], sweep: Sequence[dict[str, Any]]
) -> tuple[set[str], list[str], list[str]]:
    """(scene keys every result has and no run trained on, excluded keys, notes)."""
    notes: list[str] = []
    used = set().union(*(r.used for r in runs))
    learned = [{_row_key(row) for row in r.payload["images"]} for r in runs]
    everything = set().union(*learned)
    leaked = sorted(k for k in everything if k in used)
    for k in leaked:
        notes.append(f"{k}: some compared run trained or validated on this scene; excluded")
    keys = set.intersection(*learned) - used
    uneven = sorted(everything - used - keys)
    if uneven:
        notes.append(f"{len(uneven)} scene(s) not evaluated for every run; excluded: {', '.join(uneven)}")
    for p in sweep:
        have = {_row_key(row) for row in p["images"]}
        if not keys <= have:
            missing = sorted(keys - have)
            notes.append(f"classic {p['name']} lacks {len(missing)} scene(s); excluded: {', '.join(missing)}")
            keys &= have
    if not keys:
        raise SarcompError("no test scene is common to every result and unused by every run")
    return keys, leaked, notes
