"""``compare``: collect evaluated runs, build the report, write Markdown, JSON, plots, TensorBoard."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sarcomp.analysis.collect import collect
from sarcomp.analysis.plots import plot_rd
from sarcomp.analysis.render import render_markdown
from sarcomp.analysis.report import build_report
from sarcomp.analysis.tensorboard import write_tensorboard
from sarcomp.fileio import atomic_write_text, json_safe, write_json
from sarcomp.interpret import probe


def compare(
    folders: Sequence[str | Path],
    out: str | Path,
    tag: str = "",
    lmbda: float | None = None,
    baseline: str | None = "baseline",
    bd_method: str = "cubic",
    evaluate: bool = True,
    classic: Mapping[str, Any] | None = None,
    tensorboard: str | Path | None = None,
    title: str | None = None,
    device: str = "auto",
    exclude: Sequence[str] = (),
    exclude_reason: str = "",
    probe: bool = False,
) -> dict[str, Any]:
    """Write ``out`` (.md), the JSON beside it, one RD plot per metric, and the TensorBoard text
    (default ``<out folder>/tensorboard``, beside the report, never inside a compared run)."""
    out = Path(out)
    if out.suffix != ".md":
        out = out.with_suffix(".md")
    out.parent.mkdir(parents=True, exist_ok=True)
    runs, sweep, notes = collect(folders, tag, evaluate, classic, device)
    report = build_report(runs, sweep, tag, lmbda, baseline, bd_method, notes, exclude, exclude_reason)
    plots = plot_rd(report, out.with_suffix(""))
    markdown = render_markdown(report, plots, title)
    if probe:
        markdown += "\n" + probe_section(report)
    tb = Path(tensorboard) if tensorboard else out.parent / "tensorboard"
    report["outputs"] = {
        "markdown": str(out),
        "json": str(out.with_suffix(".json")),
        "plots": [str(p) for p in plots],
        "tensorboard": str(tb),
    }
    atomic_write_text(out, markdown)
    write_json(out.with_suffix(".json"), json_safe(report))
    write_tensorboard(tb, markdown, plots, out.stem)
    return report


def probe_section(report: dict[str, Any]) -> str:
    """The localisation probe (:mod:`sarcomp.interpret.probe`) on one run per variant at the table λ
    (its first seed), against bpp; also stored as ``report["probe"]``. Minutes on a CPU."""
    runs = [v["table"]["runs"][0] for v in report["variants"] if v["table"] is not None]
    cfg = probe.ProbeConfig()
    report["probe"] = probe.probe_rows(runs, cfg)
    return probe.probe_markdown(report["probe"], cfg) + "\n"
