"""The floor study end to end: code every data set, attach its bounds, write JSON, report and plot.

See :mod:`sarcomp.analysis.floor` (the bounds) and :mod:`sarcomp.analysis.floor_study` (data sets,
coding, per-rate comparison); ``experiments/rd_floor.py`` is the command line.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sarcomp.analysis import floor_study as fs
from sarcomp.analysis.floor import (
    SpeckleFloor,
    correlated_entropy_rate_bound,
    psd_upper_bound,
    shannon_lower_bound,
    speckle_entropy_bits,
)
from sarcomp.catalog import curve_of, read_manifest
from sarcomp.data.speckle import SPECKLE_CORRELATION, speckle_kernel
from sarcomp.fileio import atomic_write_text, write_json
from sarcomp.interpret.figures import save_png
from sarcomp.models.zoo import load_pretrained

SPAN_DB = 40.0  # the fixed range's width, [-30, 10] dB
DERIVATION = [
    "## The bounds (derivation and assumptions)",
    "",
    "The codecs see `Y = clip((10·log10 I − lo)/(hi − lo), 0, 1)`; the flat and synthetic sets use",
    "the synthetic data's fixed [lo, hi] = [−30, 10] dB. With `I = R·n`, `n ~ Gamma(L, 1/L)` (the",
    "generator's speckle, `sarcomp/data/speckle.py`), an unclipped pixel is `Y = c(R) + a·ln n`,",
    "`a = 10/(ln 10·(hi − lo))` = 0.1086 per neper: the normalisation's Jacobian, `log2 a` = −3.20 bits.",
    "",
    "1. Entropy. `ln n` has density `L^L/Γ(L)·exp(L z − L e^z)`, so",
    "   `h(ln n) = ln Γ(L) − L ψ(L) + L` nats (L = 1: 1 + γ = 1.577 nats) and `Var = ψ'(L)`",
    "   (L = 1: π²/6, σ = 5.57 dB). In [0, 1] units `h(Y) = h(ln n)/ln 2 + log2 a` bits.",
    "2. White speckle, one flat scene: pixels are i.i.d., and for any code (any block length, MSE D",
    "   per pixel) the rate is at least `R(D) ≥ h(Y) − ½ log2(2πe D)` (Shannon lower bound) and",
    "   `R(D) ≤ ½ log2(σ²/D)` (Gaussian bound: some code reaches it).",
    "3. Clipping puts atoms at 0 and 1 (0.1 % of the flat 0 dB scene; much more for dark classes",
    "   of the synthetic scenes). With `V ~ N(0, s²)` independent, data processing gives",
    "   `I(Y; Ŷ) ≥ I(Y + V; Ŷ) ≥ h(Y + V) − ½ log2(2πe (D + s²))`; `h(Y + V)` is computed",
    "   numerically and the best of s ∈ {3e−4, 1e−3, 3e−3, 1e−2} kept.",
    "4. Scenes, reflectivity known: given R the pixels are independent (white speckle), so a",
    "   deterministic codec spends at least `H(Ŷ) ≥ H(Ŷ | R) = I(Y; Ŷ | R) ≥ Σ_i R_i(D_i)` with mean",
    "   `D_i` = D; minimising the per-pixel bounds over the allocation is reverse water-filling over",
    "   the pixels' entropy powers `Q_i = 2^{2h_i}/(2πe)` (reflectivity binned to 0.25 dB; the",
    "   unclipped entropy does not depend on R, only the clip atoms do). This bounds the speckle",
    "   alone: a real codec must also code R, so the true floor is higher (the bound is loose by the",
    "   reflectivity's own information).",
    "5. Correlated speckle (the generator's 0.85 px Gaussian kernel on the complex field, as in the",
    "   recipe's scenes): the white bound is *not* a lower bound there (correlation lowers the",
    "   entropy rate). A valid one: `h(Y_0 | Y_past) ≥ h(Y_0 | z_past)`, and given the complex",
    "   field's past `z_0 ~ CN(μ, v)` with `v = exp(mean ln S_z)` (Kolmogorov–Szegő) and",
    "   `μ ~ CN(0, 1 − v)`; `h` of the log of a non-central χ² averaged over |μ|² gives the entropy",
    "   rate bound (infinite field, clipping ignored). It is weak: the kernel is so smooth (|K|² ≈",
    "   8e−4 at Nyquist) that the field's past predicts much of the complex value, a redundancy no",
    "   practical codec of intensity can use. The Gaussian process with the field's measured PSD is",
    "   the hardest to code, so reverse water-filling over the PSD is an upper bound on R(D).",
    "",
]
BOUND_NOTES = {
    "flat-white": "Shannon lower bound of clipped one-look log-speckle (rigorous)",
    "synth-white": "conditional bound given the reflectivity, water-filled over pixels (rigorous)",
    "flat-corr": "SLB with a lower bound on the correlated field's entropy rate (clipping ignored)",
}


@dataclass(frozen=True)
class Settings:
    """What one run codes (``experiments/rd_floor.py``'s options)."""

    models: tuple[str, ...]
    size: int = 512
    flat_count: int = 2
    synthetic: int = 8
    recipe: Path | None = None
    real_root: Path | None = None
    band_specs: Path | None = None
    tile: int = 128
    replicates: int = 500
    seed: int = 0
    j2k_grid: tuple[float, ...] = fs.J2K_GRID


def bounds(ds: fs.DataSet) -> tuple[Callable[[float], float], Callable[[float], float]] | None:
    """(lower, upper) rate bounds of a data set as functions of MSE, where the model gives them."""
    if ds.name in ("flat-white", "synth-white"):
        floor = SpeckleFloor(np.concatenate([x.ravel() for x in ds.levels_db]), _looks(ds), -30.0, 10.0)
        return floor.lower, floor.upper
    if ds.name == "flat-corr":
        h = correlated_entropy_rate_bound(speckle_kernel(SPECKLE_CORRELATION), SPAN_DB)
        units = np.stack(ds.units)
        return (lambda d: float(shannon_lower_bound(h, d))), (lambda d: psd_upper_bound(units, d))
    return None


def _looks(ds: fs.DataSet) -> np.ndarray:
    return np.concatenate([np.full(x.size, n) for x, n in zip(ds.levels_db, ds.looks)])


def run(s: Settings) -> dict[str, Any]:
    """Code every data set with the models and JPEG 2000; bounds, per-rate rows and BD-rates."""
    models = [(name, load_pretrained(name)[1]) for name in s.models]
    out: dict[str, Any] = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(s).items()}}
    out["entropy_bits"] = {f"L{n}": speckle_entropy_bits(n, SPAN_DB) for n in (1, 4)}
    out["entropy_rate_corr_lower_bits"] = correlated_entropy_rate_bound(
        speckle_kernel(SPECKLE_CORRELATION), SPAN_DB
    )
    out["sets"] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sets = fs.flat_sets(folder, s.size, s.flat_count, s.seed)
        if s.synthetic and s.recipe is not None:
            sets += fs.synthetic_sets(folder, s.recipe, s.synthetic, s.size)
        if s.real_root is not None:
            sets += fs.real_sets(folder, s.real_root, s.band_specs, s.models)
        for ds in sets:
            out["sets"][ds.name] = _one_set(ds, models, s)
            print(f"{ds.name}: {len(ds.scenes)} scene(s) coded", flush=True)
    return out


def _one_set(ds: fs.DataSet, models: list, s: Settings) -> dict[str, Any]:
    learned, j2k = fs.code_learned(models, ds.scenes, s.tile), fs.code_j2k(ds.scenes, s.tile, s.j2k_grid)
    (lb, la), (jb, ja) = learned.pooled(), j2k.pooled()
    item: dict[str, Any] = {
        "scenes": [sc.path.name for sc in ds.scenes],
        "pixels": int(learned.pixels.sum()),
        "learned": {"bpp": lb.tolist(), "psnr": fs.psnr(la).tolist()},
        "j2k": {"bpp": jb.tolist(), "psnr": fs.psnr(ja).tolist()},
        "bd_vs_j2k_0.25_2": fs.bd_table(j2k, learned, (0.25, 2.0), s.replicates),
    }
    pair = bounds(ds)
    if pair is not None:
        lower, upper = pair
        grid = np.logspace(-1.0, -5.0, 41)
        item["bound"] = {
            "what": BOUND_NOTES[ds.name],
            "mse": grid.tolist(),
            "lower_bpp": [lower(d) for d in grid],
            "upper_bpp": [upper(d) for d in grid],
        }
        achievable = upper if ds.name.startswith("flat") else None  # conditional: not achievable
        item["per_rate"] = fs.per_rate((jb, ja), (lb, la), lower, achievable)
    return item


def report_lines(result: dict[str, Any], command: str) -> list[str]:
    """The report's Markdown (tables only; the derivation is in the module docstrings)."""
    e = result["entropy_bits"]
    lines = [
        "# Where the floor is: speckle against the shipped codecs and JPEG 2000 (issue 26, step 3)",
        "",
        f"`{command}`",
        "",
        "Rates are real encoded bytes (learned: `.sarc` container; JPEG 2000: 16-bit codestream);",
        "PSNR on the [0, 1] image the codecs see, pooled over a set's scenes (total bits / pixels,",
        "total squared error / valid pixels). Learned curve: "
        + ", ".join(f"`{m}`" for m in result["settings"]["models"])
        + ".",
        "",
        f"Closed form, [−30, 10] dB range: h(Y) = {e['L1']:.3f} bits (L = 1), {e['L4']:.3f} bits (L = 4);"
        f" entropy-rate lower bound of the correlated one-look field: "
        f"{result['entropy_rate_corr_lower_bits']:.3f} bits.",
        "",
        *[
            f"- `{name}`: {', '.join(item['scenes'])}"
            for name, item in result["sets"].items()
            if name.startswith("real")
        ],
        "",
        "Real scenes: those of the `--real` folder no coded model trained or validated on (by path "
        "and SHA-256).",
        "",
        "## BD-rate of the learned curve against JPEG 2000 (0.25–2 bpp)",
        "",
        "| data set | scenes | cubic | pchip |",
        "|---|---|---|---|",
    ]
    for name, item in result["sets"].items():
        cells = [_bd_cell(item["bd_vs_j2k_0.25_2"][m]) for m in ("cubic", "pchip")]
        lines.append(f"| {name} | {len(item['scenes'])} | {cells[0]} | {cells[1]} |")
    lines += [
        "",
        "## Distance from the floor, per rate",
        "",
        "Excess: the codec's rate over the floor's at the codec's own quality. Best saving: the rate",
        "change against JPEG 2000 that the floor still allows at JPEG 2000's quality (no codec can do",
        "better); achievable (flat sets): the saving of a code at the Gaussian upper bound, which some",
        "code reaches (Shannon); learned saving: what the learned curve achieves there; left: the",
        "further saving beyond the learned curve's (percentage points) that the floor does not rule",
        "out (at most) and that the Gaussian bound shows some code reaches (at least). Empty:",
        "outside the measured points, or the lower bound is 0 bpp there (it says nothing).",
        "",
        "| data set | bpp | PSNR floor | PSNR J2K | PSNR learned | excess J2K | excess learned |"
        " best saving vs J2K | achievable saving | learned saving vs J2K | left, at most | left, at least |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, item in result["sets"].items():
        for r in item.get("per_rate", []):
            lines.append(
                f"| {name} | {r['bpp']:g} | {r['psnr_floor']:.2f} | {_f(r['psnr_j2k'], '.2f')} | "
                f"{_f(r['psnr_learned'], '.2f')} | {_f(r['excess_j2k_pct'], '+.0f', ' %')} | "
                f"{_f(r['excess_learned_pct'], '+.0f', ' %')} | "
                f"{_f(r.get('best_saving_pct', math.nan), '+.1f', ' %')} | "
                f"{_f(r.get('achievable_saving_pct', math.nan), '+.1f', ' %')} | "
                f"{_f(r.get('learned_saving_pct', math.nan), '+.1f', ' %')} | "
                f"{_f(_left(r, 'best_saving_pct'), '+.1f', ' pp')} | "
                f"{_f(_left(r, 'achievable_saving_pct'), '+.1f', ' pp')} |"
            )
    lines += ["", "Bounds: " + "; ".join(f"{k}: {v}" for k, v in BOUND_NOTES.items()) + ".", ""]
    return lines + DERIVATION + ["![RD and bounds](rd.png)", ""]


def _left(row: dict[str, Any], key: str) -> float:
    """Saving (``key``: the floor's, or the achievable one) beyond the learned curve's."""
    best, got = row.get(key), row.get("learned_saving_pct")
    return math.nan if best is None or got is None else best - got


def _f(value: float | None, spec: str, unit: str = "") -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:{spec}}{unit}"


def _bd_cell(entry: dict[str, Any]) -> str:
    if entry.get("bd_rate") is None:
        return f"N/A ({entry.get('na')})"
    interval = f" [{entry['low']:+.1f}, {entry['high']:+.1f}]" if "low" in entry else ""
    return f"{entry['bd_rate']:+.1f} %{interval}"


def plot(result: dict[str, Any], path: Path) -> Path:
    """PSNR against bpp per data set: JPEG 2000, the learned curve, and the bounds where known."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["sets"])
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        item = result["sets"][name]
        for key, style in (("j2k", "s-"), ("learned", "o-")):
            ax.plot(
                item[key]["bpp"], item[key]["psnr"], style, label="JPEG 2000" if key == "j2k" else "learned"
            )
        if "bound" in item:
            b = item["bound"]
            q = -10 * np.log10(b["mse"])
            ax.plot(b["lower_bpp"], q, "k--", label="floor (rate lower bound)")
            label = "Gaussian bound given R" if name.startswith("synth") else "Gaussian upper bound"
            ax.plot(b["upper_bpp"], q, "k:", label=label)
        measured = item["j2k"]["psnr"] + item["learned"]["psnr"]
        ax.set(title=name, xlabel="bpp", ylabel="PSNR [dB] on [0, 1]", xscale="log", xlim=(0.08, 6))
        ax.set_ylim(min(measured) - 1.0, max(measured) + 6.0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)
    return path


def write(result: dict[str, Any], out: Path, command: str) -> list[Path]:
    """``out``/{floor.json, report.md, rd.png}; ``command`` is stored in the JSON."""
    result = {**result, "command": command}
    write_json(out / "floor.json", result)
    atomic_write_text(out / "report.md", "\n".join(report_lines(result, command)))
    return [out / "floor.json", out / "report.md", plot(result, out / "rd.png")]


def default_models(curve: str = "baseline-ms-s8") -> tuple[str, ...]:
    """The shipped per-λ models of one curve, lowest rate first."""
    items = [i for i in read_manifest()[1] if curve_of(i) == curve and not i["config"]["model"].get("lmbdas")]
    return tuple(i["name"] for i in sorted(items, key=lambda i: i["config"]["model"]["lmbda"]))
