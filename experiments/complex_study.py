"""RD of a trained complex codec beside BAQ and JPEG 2000 on I/Q (issue 29).

The run (``python train.py experiment=complex_cpu``, ``model=complex``) codes every acquisition
through the real ``.sarc`` container (:func:`sarcomp.evaluation.complex_eval.array_codec`: the
bits are the container less its metadata) at each operating point (a variable-rate model's
trained λ, or ``--lmbdas``); the baselines code the same items: BAQ at 2, 3 and 4 bits per I and Q,
and JPEG 2000 on I/Q at its rate grid **and at the learned codec's mean rates** (equal bits per
complex sample). Items, metrics and the 10° crossing as in ``experiments/complex_baselines.py``
(:mod:`sarcomp.analysis.complex_rd`): the synthetic interferometric pairs (seed 0, known phase and
coherence; not in any training split) and self-pairs of the real SLC test bands of
``experiments/PROTOCOL.md``. Writes ``complex_study.{md,json}`` and ``complex_study_rd.png``.

    python experiments/complex_study.py <run folder> [--checkpoint best] [--pairs 3 --size 512]
        [--lmbdas 0.005 0.015 ...] [--tile 256] [--out experiments/results/complex]
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
from sarcomp.cli import run_cli
from sarcomp.codec.complex_files import complex_form
from sarcomp.codec.container import ModelId
from sarcomp.codec.modelref import model_hash, resolve_model
from sarcomp.config import project_root
from sarcomp.errors import SarcompError
from sarcomp.evaluation.complex_eval import array_codec
from sarcomp.fileio import atomic_write_text, write_json
from sarcomp.metrics.interferometry import DEFAULT_LOOKS
from sarcomp.runs import load_run

BAQ_BITS = (2, 3, 4)
J2K_RATES = (2.0, 3.0, 4.0, 6.0, 8.0)  # bits per complex sample, beside the learned codec's rates
THRESHOLD_DEG = 10.0
LEARNED = "learned (complex)"
FAMILIES = (LEARNED, "BAQ", "JPEG 2000 I/Q")


def learned_codecs(run: str, checkpoint: str, lmbdas: list[float] | None, tile: int) -> tuple[list, dict]:
    """(family, setting, function) per operating point of the model, and what it is: ``run`` is a
    run folder (at ``checkpoint``) or a shipped model's name (``complex-vr-s8``)."""
    if Path(run).is_dir():
        cfg, model, state = load_run(Path(run), checkpoint, "cpu")
        step: int | None = int(state["step"])
    else:
        loaded = resolve_model(run)
        cfg, model, step, checkpoint = loaded.cfg, loaded.model, None, "shipped"
    form = complex_form(cfg)
    if form is None:
        raise SarcompError(
            f"{run}: not a complex run (train it with model=complex, e.g. experiment=complex_cpu)"
        )
    points = lmbdas or list(getattr(model, "lmbdas", ())) or [float(model.lmbda)]
    variable = bool(getattr(model, "lmbdas", ()))
    identity = ModelId.hashed(model_hash(cfg, model))
    codecs = [
        (LEARNED, f"λ {lm:g}", array_codec(model, identity, form, tile, "cpu", lm if variable else None))
        for lm in points
    ]
    about = {"run": str(run), "step": step, "checkpoint": checkpoint, "lmbdas": points}
    return codecs, about


def matched_j2k(rows: list[dict]) -> list[float]:
    """The learned codec's mean rates (over all items), as JPEG 2000 targets."""
    return sorted({round(r["bits_per_sample"], 2) for r in rows if r["codec"] == LEARNED})


def markdown(rows: list[dict], about: dict, cross: dict, seconds: float, command: str) -> str:
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    step = "" if about["step"] is None else f" (step {about['step']})"
    lines = [
        "# A learned complex codec beside BAQ and JPEG 2000 on I/Q (issue 29)",
        "",
        f"`{command}`: {seconds:.0f} s wall time (OMP_NUM_THREADS={threads}). Run `{about['run']}`, "
        f"checkpoint {about['checkpoint']}{step}, λ {', '.join(f'{v:g}' for v in about['lmbdas'])}.",
        "",
        "Each acquisition is coded on its own. The learned codec's bits are the `.sarc` container "
        "without metadata; BAQ's and JPEG 2000's their payloads. JPEG 2000 is also coded at the learned "
        "codec's mean rates (equal bits per complex sample). Self-pairs of the real test bands have "
        "coherence 1 (optimistic). "
        f"Interferogram: {DEFAULT_LOOKS[0]}x{DEFAULT_LOOKS[1]} looks.",
        "",
        "| items | codec | setting | bits/complex sample | amplitude PSNR dB | phase error ° | "
        "ifg phase error ° | coherence bias |",
        "|---|---|---|---|---|---|---|---|",
        *table_lines(rows),
        "",
        f"## Rate at which the interferometric phase error goes below {THRESHOLD_DEG:g}°",
        "",
        "| items | codec | rate (bits per complex sample) |",
        "|---|---|---|",
    ]
    for group, families in cross.items():
        lines += [f"| {group} | {family} | {describe_crossing(c)} |" for family, c in families.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="a run folder trained with model=complex, or a shipped complex model")
    p.add_argument("--checkpoint", default="best")
    p.add_argument(
        "--lmbdas", type=float, nargs="+", default=None, help="operating points (default: trained λ)"
    )
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--pairs", type=int, default=3, help="synthetic pairs (bowl, topo, bowl+topo)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--source", type=Path, default=project_root().parent / "shared" / "sar")
    p.add_argument("--manifest", type=Path, default=project_root() / "experiments/protocol/sar_splits.json")
    p.add_argument("--band-specs", type=Path, default=project_root() / "configs/bands/shared_sar.yaml")
    p.add_argument("--out", type=Path, default=project_root() / "experiments/results/complex")
    a = p.parse_args()
    start = time.perf_counter()
    learned, about = run_cli(learned_codecs, a.run, a.checkpoint, a.lmbdas, a.tile)
    bands = run_cli(protocol_test_bands, a.source, a.manifest, a.band_specs)
    items = synthetic_pairs(a.pairs, a.size) + [self_pair(name, s) for name, s in bands.items()]
    per_item = measure(items, learned)
    matched = [r for r in matched_j2k(mean_rows(per_item)) if r not in J2K_RATES]
    per_item += measure(items, baseline_codecs(BAQ_BITS, sorted({*J2K_RATES, *matched})))
    rows = mean_rows(per_item)
    cross = family_crossings(rows, FAMILIES, THRESHOLD_DEG)
    seconds = time.perf_counter() - start
    command = f"python experiments/complex_study.py {a.run} --pairs {a.pairs} --size {a.size} --tile {a.tile}"
    a.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(a.out / "complex_study.md", markdown(rows, about, cross, seconds, command))
    payload = {"command": command, "seconds": seconds, **about, "rows": rows, "per_item": per_item}
    write_json(a.out / "complex_study.json", payload | {"crossings": cross, "matched_j2k": matched})
    plot_rd(rows, a.out / "complex_study_rd.png", FAMILIES, THRESHOLD_DEG)
    print((a.out / "complex_study.md").read_text())


if __name__ == "__main__":
    main()
