"""RD curves of the complex (SLC) baselines of issue 29: BAQ 1-4 bits and JPEG 2000 on I/Q.

Both acquisitions of every pair are coded independently (:mod:`sarcomp.analysis.complex_rd`):
the synthetic interferometric pairs of ``scripts/make_complex_synthetic.py`` (seed 0, known phase
and coherence) and self-pairs of the real SLC test bands of ``experiments/PROTOCOL.md`` (cut from
``../shared/sar`` and checked against the frozen manifest). Per codec setting: bits per complex
sample (real payload bytes: BAQ's packed indices and scales, JPEG 2000's two codestreams and
scale), amplitude PSNR in the dB domain, amplitude-weighted phase error, and, on the
interferogram multilooked over 5 x 5 blocks, the phase error (coherence-weighted) and coherence
bias against the uncompressed pair. Writes ``complex_baselines.{md,json}`` and
``complex_baselines_rd.png`` and says at which rate each codec goes below 10° of
interferometric phase error (interpolated between measured points).

    python experiments/complex_baselines.py [--pairs 3 --size 512] [--out experiments/results/complex]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from sarcomp.analysis.complex_rd import (
    baseline_codecs,
    describe_crossing,
    family_crossings,
    mean_rows,
    measure,
    plot_rd,
    protocol_test_bands,
    self_pair,
    synthetic_pairs,
    table_lines,
)
from sarcomp.config import project_root
from sarcomp.fileio import atomic_write_text, write_json
from sarcomp.metrics.interferometry import DEFAULT_LOOKS

BAQ_BITS = (1, 2, 3, 4)  # 1 bit only to bracket the 10° crossing where 2 bits is already below
J2K_RATES = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0)  # bits per complex sample
THRESHOLD_DEG = 10.0
FAMILIES = ("BAQ", "JPEG 2000 I/Q")


def codecs() -> list:
    """(family, setting, function) of every operating point."""
    return baseline_codecs(BAQ_BITS, J2K_RATES)


def crossings(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """Per group and family: where the interferometric phase error first goes below 10°."""
    return family_crossings(rows, FAMILIES, THRESHOLD_DEG)


def markdown(rows: list[dict], items: dict[str, list[str]], cross: dict, seconds: float, command: str) -> str:
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    lines = [
        "# Complex (SLC) baselines: BAQ and JPEG 2000 on I/Q (issue 29)",
        "",
        f"`{command}`: {seconds:.0f} s wall time (OMP_NUM_THREADS={threads}). No learned complex codec is "
        "in this table: none has been trained yet.",
        "",
        "Items (each acquisition coded on its own; means over items):",
        "",
    ]
    lines += [f"- {group}: {', '.join(names)}" for group, names in items.items()]
    lines += [
        "",
        "A self-pair is a real test band and its copy with a one-fringe subsidence bowl: real amplitude "
        "and speckle, but coherence 1 (no temporal decorrelation), so its interferometric errors are "
        "lower than a real pair's would be. The real bands are small (JPEG 2000's two codestream "
        "headers are part of their rate).",
        "",
        "Rate: bits per complex sample, real payload bytes. Amplitude PSNR: dB domain, clipped to the "
        "reference's [0.5, 99.5] percentiles. Phase error: amplitude-weighted circular RMS, single look. "
        f"Interferogram: {DEFAULT_LOOKS[0]}x{DEFAULT_LOOKS[1]} looks; its phase error is weighted by the "
        "uncompressed pair's coherence; coherence bias = mean(γ coded − γ uncompressed).",
        "",
        "| items | codec | setting | bits/complex sample | amplitude PSNR dB | phase error ° | "
        "ifg phase error ° | coherence bias |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += table_lines(rows)
    lines += [
        "",
        f"## Rate at which the interferometric phase error goes below {THRESHOLD_DEG:g}°",
        "",
        "Linear interpolation between the two measured points that bracket it (bits per complex sample).",
        "",
        "| items | codec | rate |",
        "|---|---|---|",
    ]
    for group, families in cross.items():
        lines += [f"| {group} | {family} | {describe_crossing(c)} |" for family, c in families.items()]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    plot_rd(rows, path, FAMILIES, THRESHOLD_DEG)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=3, help="synthetic pairs (bowl, topo, bowl+topo)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--source", type=Path, default=project_root().parent / "shared" / "sar")
    p.add_argument("--manifest", type=Path, default=project_root() / "experiments/protocol/sar_splits.json")
    p.add_argument("--band-specs", type=Path, default=project_root() / "configs/bands/shared_sar.yaml")
    p.add_argument("--out", type=Path, default=project_root() / "experiments/results/complex")
    a = p.parse_args()
    start = time.perf_counter()
    bands = protocol_test_bands(a.source, a.manifest, a.band_specs)
    items = synthetic_pairs(a.pairs, a.size) + [self_pair(name, s) for name, s in bands.items()]
    per_item = measure(items, codecs())
    rows = mean_rows(per_item)
    cross = crossings(rows)
    seconds = time.perf_counter() - start
    names: dict[str, list[str]] = {}
    for item in items:
        names.setdefault(item.group, []).append(f"{item.name} {item.s1.shape[0]}x{item.s1.shape[1]}")
    command = f"python experiments/complex_baselines.py --pairs {a.pairs} --size {a.size}"
    a.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(a.out / "complex_baselines.md", markdown(rows, names, cross, seconds, command))
    write_json(
        a.out / "complex_baselines.json",
        {"command": command, "seconds": seconds, "rows": rows, "per_item": per_item, "crossings": cross},
    )
    plot(rows, a.out / "complex_baselines_rd.png")
    print((a.out / "complex_baselines.md").read_text())


if __name__ == "__main__":
    main()
