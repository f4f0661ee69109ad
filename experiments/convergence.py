"""Validation RD against steps for one or more runs, from their TensorBoard event files.

Prints, per run, each validation's step, val loss, bpp (and bpp of y and z with a hyperprior),
PSNR and SSIM, and the loss gain since the previous validation; "more steps stop paying" at the
first validation after which no later one improves the loss by more than ``--tol`` (relative).

    python experiments/convergence.py <run folder> [...] [--tol 0.01] [--per-lambda]
    python experiments/convergence.py <run folder> --against <other run folder>

A variable-rate model's ``val/*`` are the means over its λ; ``--per-lambda`` prints each λ's own
curve (``val_lmbda_<λ>/*``) after it. ``--against`` compares two variable-rate runs on validation
(both trained with the same validation set): per λ of each run at its last validation, the fit-free
ΔPSNR at equal rate against the other run's last-validation points (the decision rule of
``experiment=highrate_cpu``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from sarcomp.analysis.bootstrap import delta_psnr_at_equal_rate

KEYS = ("loss", "bpp", "bpp_y", "bpp_z", "psnr", "ssim")


def events(run_dir: str | Path) -> EventAccumulator:
    """A run's TensorBoard scalars, loaded."""
    acc = EventAccumulator(str(Path(run_dir) / "tensorboard"))
    acc.Reload()
    return acc


def validation_curve(run_dir: str | Path | EventAccumulator, prefix: str = "val") -> list[dict[str, float]]:
    """One dict per validation step: ``step`` and each ``<prefix>/<key>`` logged."""
    acc = run_dir if isinstance(run_dir, EventAccumulator) else events(run_dir)
    tags = set(acc.Tags()["scalars"])
    rows: dict[int, dict[str, float]] = {}
    for key in KEYS:
        if f"{prefix}/{key}" in tags:
            for event in acc.Scalars(f"{prefix}/{key}"):
                rows.setdefault(event.step, {"step": event.step})[key] = event.value
    return [rows[s] for s in sorted(rows)]


def lambda_prefixes(run_dir: str | Path | EventAccumulator) -> list[str]:
    """The ``val_lmbda_<λ>`` prefixes a variable-rate run logged, in λ order."""
    acc = run_dir if isinstance(run_dir, EventAccumulator) else events(run_dir)
    found = {t.split("/")[0] for t in acc.Tags()["scalars"] if t.startswith("val_lmbda_")}
    return sorted(found, key=lambda p: float(p.removeprefix("val_lmbda_")))


def plateau_step(curve: list[dict[str, float]], tol: float) -> int | None:
    """First validation step after which the loss never improves by more than ``tol`` (relative)."""
    for i, row in enumerate(curve):
        if all(later["loss"] >= row["loss"] * (1 - tol) for later in curve[i + 1 :]):
            return int(row["step"]) if i + 1 < len(curve) else None
    return None


def last_points(run_dir: str | Path | EventAccumulator) -> list[tuple[float, int, float, float]]:
    """(λ, step, bpp, PSNR) of each λ of a variable-rate run at its last validation."""
    acc = run_dir if isinstance(run_dir, EventAccumulator) else events(run_dir)
    points = []
    for prefix in lambda_prefixes(acc):
        last = validation_curve(acc, prefix)[-1]
        points.append(
            (float(prefix.removeprefix("val_lmbda_")), int(last["step"]), last["bpp"], last["psnr"])
        )
    return points


def _rate_psnr(points: list[tuple[float, int, float, float]]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([p[2] for p in points]), np.array([p[3] for p in points])


def against(run: str | Path, other: str | Path) -> list[tuple[str, float, int, float, float, float]]:
    """Both runs' last-validation points, each with its fit-free ΔPSNR at equal rate against the
    other run's points (NaN outside the other's rates): (run, λ, step, bpp, PSNR, ΔPSNR)."""
    mine, theirs = last_points(run), last_points(other)
    rows = []
    for name, test, anchor in ((str(run), mine, theirs), (str(other), theirs, mine)):
        if not test or not anchor:
            raise SystemExit(f"{name if not test else other}: no per-λ validation (not a variable-rate run?)")
        deltas = delta_psnr_at_equal_rate(_rate_psnr(anchor), _rate_psnr(test))
        rows += [(name, *p, float(d)) for p, d in zip(test, deltas)]
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--tol", type=float, default=0.01)
    p.add_argument("--per-lambda", action="store_true", help="each λ of a variable-rate run too")
    p.add_argument("--against", default=None, help="another variable-rate run: ΔPSNR at equal rate per λ")
    a = p.parse_args()
    if a.against:
        print("| run | λ | step | bpp | PSNR | ΔPSNR vs the other run (dB) |\n|---|---|---|---|---|---|")
        for run in a.runs:
            for name, lmbda, step, bpp, psnr, d in against(run, a.against):
                cell = "N/A (outside its rates)" if np.isnan(d) else f"{d:+.2f}"
                print(f"| {name} | {lmbda:g} | {step} | {bpp:.3f} | {psnr:.2f} | {cell} |")
        return
    for run in a.runs:
        acc = events(run)
        for prefix in ["val", *(lambda_prefixes(acc) if a.per_lambda else [])]:
            print_curve(f"{run} ({prefix})", validation_curve(acc, prefix), a.tol)


def print_curve(title: str, curve: list[dict[str, float]], tol: float) -> None:
    keys = [k for k in KEYS if curve and k in curve[0]]
    print(f"\n{title}\n| step | " + " | ".join(keys) + " | Δloss |")
    print("|---" * (len(keys) + 2) + "|")
    previous = None
    for row in curve:
        gain = "" if previous is None else f"{100 * (row['loss'] / previous - 1):+.1f} %"
        print(f"| {int(row['step'])} | " + " | ".join(f"{row[k]:.4f}" for k in keys) + f" | {gain} |")
        previous = row["loss"]
    stop = plateau_step(curve, tol)
    print(
        f"more steps stop paying after step {stop} (no later loss gain > {100 * tol:g} %)"
        if stop
        else f"still improving by > {100 * tol:g} % at the last validation: train longer"
    )


if __name__ == "__main__":
    main()
