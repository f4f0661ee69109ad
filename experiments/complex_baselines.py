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
from sarcomp.codec.baq import baq
from sarcomp.codec.iq_jpeg2000 import jpeg2000_iq
from sarcomp.config import project_root
from sarcomp.fileio import atomic_write_text, write_json
from sarcomp.metrics.interferometry import DEFAULT_LOOKS

BAQ_BITS = (1, 2, 3, 4)  # 1 bit only to bracket the 10° crossing where 2 bits is already below
J2K_RATES = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0)  # bits per complex sample
THRESHOLD_DEG = 10.0
FAMILIES = ("BAQ", "JPEG 2000 I/Q")


def codecs() -> list:
    """(family, setting, function) of every operating point."""

    def baq_at(bits: int):
        def code(s: np.ndarray) -> tuple[np.ndarray, float]:
            result = baq(s, bits)
            return result.recon, 8.0 * result.num_bytes

        return code

    def j2k_at(rate: float):
        def code(s: np.ndarray) -> tuple[np.ndarray, float]:
            result = jpeg2000_iq(s, rate)
            return result.recon, 8.0 * result.num_bytes

        return code

    return [("BAQ", f"{b} bits", baq_at(b)) for b in BAQ_BITS] + [
        ("JPEG 2000 I/Q", f"target {r:g}", j2k_at(r)) for r in J2K_RATES
    ]


def crossings(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """Per group and family: where the interferometric phase error first goes below 10°."""
    out: dict[str, dict[str, dict]] = {}
    for group in dict.fromkeys(r["group"] for r in rows):
        for family in FAMILIES:
            pts = [
                (r["bits_per_sample"], r["ifg_phase_error_deg"])
                for r in rows
                if (r["group"], r["codec"]) == (group, family)
            ]
            out.setdefault(group, {})[family] = crossing(pts, THRESHOLD_DEG)
    return out


def describe(c: dict) -> str:
    if c["rate"] is None:
        (r, e), *_ = c["measured"]
        return f"not reached (at {r:.2f} bits: {e:.1f}°)"
    if c.get("at_lowest"):
        (r, e), *_ = c["measured"]
        return f"at or below {r:.2f} (its lowest measured rate already gives {e:.1f}°)"
    (r0, e0), (r1, e1) = c["measured"]
    return f"{c['rate']:.2f} (between {r0:.2f} bits: {e0:.1f}° and {r1:.2f} bits: {e1:.1f}°)"


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
        lines += [f"| {group} | {family} | {describe(c)} |" for family, c in families.items()]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(r["group"] for r in rows))
    fig, axes = plt.subplots(len(groups), 2, figsize=(11, 4.2 * len(groups)), squeeze=False)
    for (left, right), group in zip(axes, groups):
        for family, style in zip(FAMILIES, ("o-", "s-")):
            pts = sorted(
                (r for r in rows if (r["group"], r["codec"]) == (group, family)),
                key=lambda r: r["bits_per_sample"],
            )
            rate = [r["bits_per_sample"] for r in pts]
            left.plot(rate, [r["ifg_phase_error_deg"] for r in pts], style, label=family)
            right.plot(rate, [r["amplitude_psnr_db"] for r in pts], style, label=family)
        left.axhline(THRESHOLD_DEG, color="grey", ls="--", lw=1, label=f"{THRESHOLD_DEG:g}°")
        left.set(yscale="log", ylabel="interferometric phase error [°]", title=group)
        right.set(ylabel="amplitude PSNR [dB] (dB domain)", title=group)
        for ax in (left, right):
            ax.set_xlabel("bits per complex sample")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
