"""Choose λ per target rate from a variable-rate run's *validation* curves (never the test scenes).

A variable-rate run (``model.lmbdas=[...]``) logs ``val_lmbda_<λ>/bpp`` at each validation. This
reads the last validation, interpolates log λ against log bpp (piecewise linear, bpp must rise with
λ) and prints the λ that lands on each target rate, for per-λ recipes (``model.lmbda=...``) or for
choosing the operating points of the variable-rate model itself (``lmbda=`` at evaluation).
Validate on scenes like those you will report (e.g. ``data=mix`` with real rasters whose held-back
scenes are the report's), but never on the reported scenes themselves.

    python experiments/calibrate_lambda.py <run folder> [--targets 0.25 0.5 1 2]
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

TAG = re.compile(r"^val_lmbda_(?P<lmbda>[0-9.e+-]+)/bpp$")


def validation_rates(run_dir: str | Path) -> dict[float, float]:
    """λ -> validation bpp at the last logged step."""
    acc = EventAccumulator(str(Path(run_dir) / "tensorboard"))
    acc.Reload()
    rates = {}
    for tag in acc.Tags()["scalars"]:
        m = TAG.match(tag)
        if m:
            rates[float(m["lmbda"])] = acc.Scalars(tag)[-1].value
    if len(rates) < 2:
        raise SystemExit(f"{run_dir}: no val_lmbda_<λ>/bpp curves (not a variable-rate run?)")
    return dict(sorted(rates.items()))


def lambda_for(rates: dict[float, float], target: float) -> float | None:
    """λ whose interpolated validation rate is ``target`` (None outside the trained range)."""
    lam, bpp = np.log(list(rates)), np.log(list(rates.values()))
    if np.any(np.diff(bpp) <= 0):
        raise SystemExit(f"validation bpp does not rise with λ: {rates}")
    if not bpp[0] <= math.log(target) <= bpp[-1]:
        return None
    return float(math.exp(np.interp(math.log(target), bpp, lam)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument("--targets", type=float, nargs="+", default=[0.25, 0.5, 1.0, 2.0])
    a = p.parse_args()
    rates = validation_rates(a.run_dir)
    print("validation rates:", ", ".join(f"λ={k:g}: {v:.3f} bpp" for k, v in rates.items()))
    for target in a.targets:
        lmbda = lambda_for(rates, target)
        print(f"  {target:g} bpp: " + (f"λ = {lmbda:.4g}" if lmbda else "outside the trained λ range"))


if __name__ == "__main__":
    main()
