"""Many rasters in one command: ``sarcomp compress IN... -o OUTDIR/ --model M [--workers N]``.

Each input is a raster or a folder (its rasters, not its sub-folders); each becomes
``OUTDIR/<name without extension>.sarc``. Every output is checked before anything is coded (the
guards of :mod:`sarcomp.codec.guard`: never over a raster, an existing ``.sarc`` only with
``--force``; two inputs that would share an output are refused), and so is the rate request, so a
mistake costs no coding. Files are coded one after another in this process, or by ``--workers``
processes that each load the model once and code one file at a time: memory is bounded by
``workers`` × (model + three bands of tile rows + the spooled strings, at most 64 MB in memory). A file
that fails (e.g. a constant raster) is reported and the others go on; the command then exits 2.
At the end a table lists every file: size, bpp, operating point, time and clipped pixels.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sarcomp.codec import guard
from sarcomp.codec.compressor import compress_one
from sarcomp.codec.loading import cached_model
from sarcomp.codec.rate import RateRequest, choose, curve_for
from sarcomp.data.rasters import list_rasters
from sarcomp.devices import pick_device
from sarcomp.errors import SarcompError
from sarcomp.host_memory import retain_freed_memory, share_one_heap

log = logging.getLogger(__name__)
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


@dataclass(frozen=True)
class Job:
    src: Path
    dst: Path


@dataclass
class Done:
    """One file's outcome: ``result`` (see :func:`~sarcomp.codec.scene.compress_file`) or ``error``."""

    job: Job
    result: dict[str, Any] | None = None
    error: str | None = None


def plan_jobs(inputs: Sequence[str | Path], out_dir: str | Path, force: bool, mkdir: bool) -> list[Job]:
    """One job per input raster (folders expanded), every output checked before any is written."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise SarcompError(f"{out_dir}: -o names an output folder, and this is a file")
    guard.check_output_folder(out_dir / "x.sarc", mkdir)
    sources: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            sources += list_rasters(item)
        elif item.exists():
            sources.append(item)
        else:
            raise SarcompError(f"{item}: input not found")
    jobs, seen, claimed = [], set(), {}
    for src in sources:
        if src.resolve() in seen:
            continue
        seen.add(src.resolve())
        dst = out_dir / f"{src.stem}.sarc"
        if dst in claimed:
            raise SarcompError(
                f"{dst}: both {claimed[dst]} and {src} would be written here (same name without extension); "
                "code them into different folders"
            )
        claimed[dst] = src
        guard.check_compress_output(src, dst, force)
        jobs.append(Job(src, dst))
    return jobs


def run_jobs(
    jobs: Sequence[Job],
    code: Callable[[Job], dict[str, Any]],
    workers: int = 1,
    on_done: Callable[[Done, int], None] | None = None,
) -> list[Done]:
    """``code(job)`` for every job, here (``workers`` 1) or in ``workers`` spawned processes
    (``code`` must then be picklable: a module-level function or a ``functools.partial`` of one);
    ``on_done(done, count)`` sees each outcome as it arrives. Returns them in job order."""
    if workers < 1:
        raise SarcompError(f"--workers {workers}: must be 1 or more")
    done: dict[Job, Done] = {}

    def finish(outcome: Done) -> None:
        done[outcome.job] = outcome
        if on_done is not None:
            on_done(outcome, len(done))

    if workers == 1 or len(jobs) == 1:
        for job in jobs:
            finish(_attempt(code, job))
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        context = multiprocessing.get_context("spawn")  # a fork after torch has run can hang
        with ProcessPoolExecutor(
            min(workers, len(jobs)), mp_context=context, initializer=_worker_start, initargs=(threads,)
        ) as pool:
            futures = [pool.submit(_attempt, code, job) for job in jobs]
            for future in as_completed(futures):
                finish(future.result())
    return [done[job] for job in jobs]


def _attempt(code: Callable[[Job], dict[str, Any]], job: Job) -> Done:
    try:
        return Done(job, result=code(job))
    except SarcompError as exc:
        return Done(job, error=str(exc))


def _worker_start(threads: int) -> None:
    """A worker process: warnings on stderr as in the command; its share of the CPU threads
    (unless OMP_NUM_THREADS says otherwise); freed memory kept for reuse (sarcomp.host_memory)."""
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(threads)
    retain_freed_memory()
    share_one_heap()


def compress_job(
    job: Job, model_ref: str | Path, settings: Any, rate: RateRequest, force: bool
) -> dict[str, Any]:
    """One job of ``sarcomp compress -o``: :func:`~sarcomp.codec.compressor.compress_one` (its output
    folder exists by then). Module-level, so that worker processes can run it."""
    return compress_one(job.src, job.dst, model_ref, settings, rate, force)


def check_rate(model_ref: str | Path, rate: RateRequest, device: str) -> None:
    """Refuse a rate request the model cannot meet (``--lmbda`` on a fixed-rate model, ``--quality``
    out of range, a curve's name alone) before any file is coded."""
    dev = pick_device(device, "--device")
    choose(rate, curve_for(model_ref, lambda: tuple(cached_model(model_ref, dev).model.lmbdas)))


def summary_table(outcomes: Sequence[Done]) -> str:
    """file, output size, bpp, operating point, coding time and clipped share of every file."""
    header = ("file", "bytes", "bpp", "model, λ", "time s", "clipped % (low/high)")
    rows = []
    for d in outcomes:
        r = d.result
        if r is None:
            rows.append((d.job.src.name, "-", "-", "not compressed (error above)", "-", "-"))
            continue
        point = f"{r['model']}, λ {r['lmbda']:g}" + (f" (q{r['quality']})" if r["quality"] else "")
        clipped = f"{100 * r['clipped_low']:.2f} / {100 * r['clipped_high']:.2f}"
        rows.append(
            (d.job.src.name, str(r["bytes"]), f"{r['bpp']:.4f}", point, f"{r['seconds']:.2f}", clipped)
        )
    ok = [d.result for d in outcomes if d.result is not None]
    if ok:
        size, pixels = sum(r["bytes"] for r in ok), sum(r["pixels"] * len(r["bands"]) for r in ok)
        seconds = sum(r["seconds"] for r in ok)
        rows.append(
            (
                f"all {len(ok)} of {len(outcomes)}",
                str(size),
                f"{8 * size / pixels:.4f}",
                "",
                f"{seconds:.2f}",
                "",
            )
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = [header, tuple("-" * w for w in widths), *rows]
    return "\n".join(
        "  ".join(c.ljust(w) if i in (0, 3) else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))
        for line in lines
    ).rstrip()
