"""Which [0, 1] representation of complex samples should the learned codec see? (issue 29)

Measured, not assumed, for each candidate of :class:`sarcomp.data.complex_representation.ComplexRepresentation`
(I/Q scaled so that the scene's 99.5th or 99.9th amplitude percentile, or its maximum, reaches the unit
circle, the amplitude companded by ``exponent`` p = 1, 0.5, 0.25; log-amplitude + (cos, sin) of the
phase):

1. the float32 round trip (what the data path hands the codec, decoded without coding);
2. an idealised codec in that domain: every channel quantised uniformly with step Δ, the rate the
   first-order entropy of the indices (summed over channels, bits per complex sample; an ideal
   memoryless entropy coder, no context), the distortion measured after the inverse map. This ranks
   the domains for a codec whose error is spread evenly over the channels; a trained codec's
   error is not, so it is a guide for the first training, not a verdict.

Items are those of ``experiments/complex_baselines.py`` (synthetic pairs, real SLC test-band
self-pairs).

    python experiments/complex_representation.py [--pairs 3 --size 256] [--out experiments/results/complex]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from sarcomp.analysis.complex_rd import (
    crossing,
    mean_rows,
    measure,
    protocol_test_bands,
    self_pair,
    synthetic_pairs,
    table_lines,
)
from sarcomp.config import project_root
from sarcomp.data.complex_representation import ComplexRepresentation
from sarcomp.fileio import atomic_write_text, write_json
from sarcomp.metrics.interferometry import amplitude_psnr_db, phase_error_deg

CANDIDATES = {
    "iq p=1 c=p99.5": ComplexRepresentation("iq", percentile=99.5, exponent=1.0),
    "iq p=1 c=max": ComplexRepresentation("iq", percentile=100, exponent=1.0),
    "iq p=0.5 c=p99.5": ComplexRepresentation("iq", percentile=99.5, exponent=0.5),
    "iq p=0.5 c=p99.9": ComplexRepresentation("iq", percentile=99.9, exponent=0.5),
    "iq p=0.5 c=max": ComplexRepresentation("iq", percentile=100, exponent=0.5),
    "iq p=0.25 c=max": ComplexRepresentation("iq", percentile=100, exponent=0.25),
    "logpolar": ComplexRepresentation("logpolar"),
}
STEPS = tuple(2.0**-k for k in range(2, 10))
THRESHOLD_DEG = 10.0


def entropy_bits(indices: np.ndarray) -> float:
    """Total first-order entropy of an index array, in bits."""
    _, counts = np.unique(indices, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum() * indices.size)


def quantiser(rep: ComplexRepresentation, step: float):
    """The idealised codec of the module doc for one representation and step."""

    def code(s: np.ndarray) -> tuple[np.ndarray, float]:
        scaling = rep.scaling(s)
        indices = np.round(rep.to_unit(s, scaling) / step).astype(np.int64)
        bits = sum(entropy_bits(channel) for channel in indices)
        return rep.from_unit(indices * step, scaling), bits

    return code


def round_trip(items, rep: ComplexRepresentation) -> dict:
    """The float32 round trip over every acquisition: worst amplitude PSNR and phase errors."""
    psnr, weighted, worst = [], [], []
    for item in items:
        for s in (item.s1, item.s2):
            scaling = rep.scaling(s)
            back = rep.from_unit(rep.to_unit(s, scaling), scaling)
            psnr.append(amplitude_psnr_db(s, back))
            weighted.append(phase_error_deg(s, back))
            nonzero = np.abs(s) > 0
            worst.append(float(np.degrees(np.abs(np.angle(back[nonzero] * np.conj(s[nonzero])))).max()))
    return {
        "amplitude_psnr_db_min": min(psnr),
        "phase_error_deg_max": max(weighted),
        "max_abs_phase_deg": max(worst),
    }


def markdown(trips: dict, rows: list[dict], seconds: float, command: str) -> str:
    lines = [
        "# Complex representations for the learned codec (issue 29)",
        "",
        f"`{command}`: {seconds:.0f} s wall time with OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}. "
        "The script's docstring says what is measured and what it is not.",
        "",
        "## float32 round trip (no coding)",
        "",
        "| representation | amplitude PSNR dB (min) | phase error ° (max, amplitude-weighted) | max abs phase error ° (any sample) |",
        "|---|---|---|---|",
    ]
    for name, t in trips.items():
        lines.append(
            f"| {name} | {t['amplitude_psnr_db_min']:.1f} | {t['phase_error_deg_max']:.2e} | {t['max_abs_phase_deg']:.2e} |"
        )
    lines += [
        "",
        "(With c=p99.5 the brightest 0.5 % of samples saturate in amplitude, their phase kept: the finite "
        "round-trip PSNR; logpolar clips the amplitude to the [0.5, 99.5] dB percentiles.)",
        "",
        "## Uniform quantiser in each domain, first-order entropy rate",
        "",
        "| items | representation | step | bits/complex sample | amplitude PSNR dB | phase error ° | "
        "ifg phase error ° | coherence bias |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += table_lines(rows)
    lines += ["", f"## Rate at which the interferometric phase error falls below {THRESHOLD_DEG:g}°", ""]
    lines += ["| items | representation | bits/complex sample |", "|---|---|---|"]
    for group in dict.fromkeys(r["group"] for r in rows):
        for name in CANDIDATES:
            pts = [
                (r["bits_per_sample"], r["ifg_phase_error_deg"])
                for r in rows
                if (r["group"], r["codec"]) == (group, name)
            ]
            c = crossing(pts, THRESHOLD_DEG)
            text = (
                "not reached" if c["rate"] is None else f"{'≤ ' if c.get('at_lowest') else ''}{c['rate']:.2f}"
            )
            lines.append(f"| {group} | {name} | {text} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--source", type=Path, default=project_root().parent / "shared" / "sar")
    p.add_argument(
        "--manifest", type=Path, default=project_root() / "experiments" / "protocol" / "sar_splits.json"
    )
    p.add_argument(
        "--band-specs", type=Path, default=project_root() / "configs" / "bands" / "shared_sar.yaml"
    )
    p.add_argument("--out", type=Path, default=project_root() / "experiments" / "results" / "complex")
    a = p.parse_args()
    start = time.perf_counter()
    bands = protocol_test_bands(a.source, a.manifest, a.band_specs)
    items = synthetic_pairs(a.pairs, a.size) + [self_pair(name, s) for name, s in bands.items()]
    trips = {name: round_trip(items, rep) for name, rep in CANDIDATES.items()}
    codecs = [
        (name, f"1/{round(1 / step)}", quantiser(rep, step))
        for name, rep in CANDIDATES.items()
        for step in STEPS
    ]
    rows = mean_rows(measure(items, codecs))
    seconds = time.perf_counter() - start
    command = f"python experiments/complex_representation.py --pairs {a.pairs} --size {a.size}"
    a.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(a.out / "representation.md", markdown(trips, rows, seconds, command))
    write_json(
        a.out / "representation.json",
        {"command": command, "seconds": seconds, "round_trip": trips, "rows": rows},
    )
    print((a.out / "representation.md").read_text())


if __name__ == "__main__":
    main()
