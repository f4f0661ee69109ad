"""What SAR users measure after compression (issue 28): CFAR detection and reflectivity fidelity of
the shipped stride-8 curve, the variable-rate model and the classic codecs at equal rates.

    python experiments/detection.py        # → experiments/results/detection/ (about 20 min on 1 core)

1. Scenes: the attention study's real test split (``data/shared_sar_splits/test``, written by
   ``scripts/make_sar_splits.py`` when missing; ``configs/bands/shared_sar.yaml``) and 4 fresh synthetic
   scenes (seed 28, 512 px, 1/4/1/4 looks) with their ground truth and reflectivity in
   ``data/synthetic_detection/`` (``scripts/make_synthetic.py``'s generator).
2. Every operating point of ``baseline-ms-s8-*`` and of ``baseline-ms-vr-s8`` (each trained λ) coded
   with the real bitstream as ``scripts/evaluate.py model=pretrained`` codes it (128-px tiles), the
   classic codecs coded at exactly those per-scene rates and swept over their grids; every metrics
   row carries the detection metrics (:mod:`sarcomp.metrics.operator`).
3. Each RD point pooled over the scenes, the rate from which each codec keeps detection within 1
   percentage point (:mod:`sarcomp.analysis.detection`), the goal against JPEG 2000, plots, and the
   tanker chip coded at three rates with its detections (full chip of ``../shared/sar``).
"""

from __future__ import annotations

import argparse
import json
import runpy
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import rasterio
import torch
from hydra import compose, initialize_config_dir
from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

from sarcomp.analysis.detection import TOLERANCE_PP, criterion, goal, pooled, threshold
from sarcomp.codec.classic import available_codecs, build_codec, encode_at_bpp
from sarcomp.codec.container import ModelId
from sarcomp.codec.scaling import SCENE_PERCENTILES, RangeRule, coding, training_representation
from sarcomp.codec.scene import code_scene
from sarcomp.config import CONFIG_DIR, project_root, register_resolvers
from sarcomp.data.identity import file_sha256
from sarcomp.data.loaders import load_split
from sarcomp.data.synthetic import generate_dataset
from sarcomp.data.truth import load_truth, write_sums, write_truth
from sarcomp.evaluation.classic import evaluate_classic
from sarcomp.evaluation.pretrained import evaluate_pretrained, unused_scenes
from sarcomp.fileio import atomic_write_text, json_safe, write_json
from sarcomp.metrics.cfar import detect
from sarcomp.metrics.detection import DETECTOR, against_reference, against_truth, estimate_looks
from sarcomp.models.zoo import entry, load_pretrained
from sarcomp.runs import data_tag, load_results, matched_path

ROOT = project_root()
CURVES = {
    "baseline-ms-s8": ["baseline-ms-s8-l001", "baseline-ms-s8-l0015", "baseline-ms-s8-l003"]
    + ["baseline-ms-s8-l01", "baseline-ms-s8-l03"],
    "baseline-ms-vr-s8": ["baseline-ms-vr-s8"],
}
CLASSIC = ("jpeg", "jpeg2000", "jpegxl")
SYNTHETIC = {"seed": 28, "size": 512, "looks": (1, 4), "counts": {"test": 4}}
TILE = 128
CHIP = "sentinel1_grd_tanker_chip_11818_y9503.tif"
CHIP_MODELS = ("baseline-ms-s8-l001", "baseline-ms-s8-l003", "baseline-ms-s8-l03")
COLORS = {"baseline-ms-s8": "C0", "baseline-ms-vr-s8": "C1", "jpeg": "C2", "jpeg2000": "C3", "jpegxl": "C4"}


def synthetic_scenes(root: Path) -> Path:
    """The synthetic test scenes with their ground truth (kept when they hold what the generator gives)."""
    s = SYNTHETIC
    generate_dataset(root, s["counts"], s["size"], s["looks"], s["seed"])
    _, files = write_truth(root, s["counts"], s["size"], s["looks"], s["seed"], ("test",))
    write_sums(root, files)
    return root


def real_scenes() -> Path:
    root = ROOT / "data" / "shared_sar_splits"
    if not (root / "test").is_dir():
        runpy.run_path(str(ROOT / "scripts" / "make_sar_splits.py"))["main"]([])
    return root / "test"


def data_config(root: Path, real: bool) -> Any:
    overrides = ["data=geotiff", f"data.root={root}", f"data.tile_size={TILE}", f"data.stride={TILE}"]
    overrides += [f"data.band_specs={CONFIG_DIR / 'bands' / 'shared_sar.yaml'}"] if real else []
    overrides += [] if real else ["data.representation.units=intensity"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="eval", overrides=overrides).data


def evaluate_set(data: Any, work: Path, codecs: Sequence[str], reuse: bool = False) -> dict[str, Any]:
    """Every operating point (with its rate-matched classic codecs) and the classic sweep; with
    ``reuse``, results already in ``work`` are read back instead of coded again."""
    classic = {"codecs": list(codecs), "bits": 16, "sweep": True, "match_rates": True}
    classic |= {"match_codecs": None, "tol": 0.02}
    tag = data_tag(str(data.root))
    cpu_path = work / "cpu_seconds.json"
    cpu = json.loads(cpu_path.read_text()) if reuse and cpu_path.is_file() else {}
    new = set()
    learned: dict[str, list[dict]] = {}
    matched: list[dict] = []
    first = entry(CURVES["baseline-ms-s8"][0])
    scenes = load_split(data, "test", coding(RangeRule(), training_representation(first["config"])))
    for curve, names in CURVES.items():
        for name in names:
            scenes = unused_scenes(entry(name), scenes)
            for lmbda in entry(name)["config"]["model"].get("lmbdas") or [None]:
                out = work / f"{name}{'' if lmbda is None else f'_lmbda{lmbda:g}'}.json"
                if reuse and out.name in cpu and matched_path(out, tag).is_file():
                    (payload,), path = load_results(out), out
                else:
                    c0 = time.process_time()
                    payload, path = evaluate_pretrained(name, data, str(out), work, "cpu", classic, lmbda)
                    cpu[out.name] = time.process_time() - c0
                    new.add(out.name)
                    write_json(cpu_path, cpu)
                learned.setdefault(curve, []).append(payload)
                matched += load_results(matched_path(path, tag))
                print(f"{curve} {name} λ={payload['lmbda']:g}: {payload['mean']['bpp']:.3f} bpp", flush=True)
    if reuse and "classic.json" in cpu:
        sweep = load_results(work / "classic.json")
    else:
        c0 = time.process_time()
        sweep = evaluate_classic(scenes, TILE, codecs, 16, work / "classic.json", str(data.root))
        cpu["classic.json"] = time.process_time() - c0
        new.add("classic.json")
        write_json(cpu_path, cpu)
    cpu_new = sum(v for k, v in cpu.items() if k in new)
    return {
        "learned": learned,
        "matched": matched,
        "sweep": sweep,
        "cpu_s": sum(cpu.values()),
        "cpu_new": cpu_new,
    }


def clip_cost(root: Path) -> dict[str, float]:
    """Pd and false alarms of the detector on the raw synthetic scenes (before the codec's clip to
    the scene's 0.5–99.5 % levels), and the share of targets whose noise-free peak lies above the top."""
    rows, above, total = [], 0, 0
    for scene in sorted((root / "test").glob("scene_*.tif")):
        with rasterio.open(scene) as src:
            raw = src.read(1).astype(np.float64)
        valid = np.ones(raw.shape, bool)
        truth = load_truth(scene)
        dets = detect(raw, estimate_looks(raw, valid), DETECTOR, valid)
        pd, fa = against_truth(dets, truth.rows, truth.cols, valid)
        rows.append(
            {"det_pd": pd, "det_fa_mpx": fa, "det_targets": truth.rows.size}
            | dict.fromkeys(("height", "width"), 1)
        )
        top = np.percentile(10 * np.log10(raw), SCENE_PERCENTILES[1])
        above, total = above + int((truth.peak_db > top).sum()), total + truth.rows.size
    p = pooled(rows)
    return {"det_pd_raw": p["det_pd"], "det_fa_mpx_raw": p["det_fa_mpx"], "targets_above_clip": above / total}


def curves(results: Mapping[str, Any]) -> dict[str, list[dict]]:
    """Pooled points per codec: each learned curve; each classic codec's sweep and matched points."""
    out = {c: [pooled(p["images"]) | {"kind": "learned"} for p in ps] for c, ps in results["learned"].items()}
    for p in results["sweep"]:
        out.setdefault(p["codec"], []).append(pooled(p["images"]) | {"kind": "sweep"})
    for p in results["matched"]:
        out.setdefault(p["codec"], []).append(pooled(p["images"]) | {"kind": "matched"})
    return {c: sorted(ps, key=lambda q: q["bpp"]) for c, ps in out.items()}


def fmt(value: Any, spec: str) -> str:
    ok = isinstance(value, (int, float)) and np.isfinite(value)
    return format(value, spec) if ok else "N/A"


def threshold_table(points: Mapping[str, list[dict]], thresholds: Mapping[str, dict]) -> str:
    head = ["codec", "points (bpp range)", "detection kept from", "highest rate that fails below it"]
    head += ["interpolated crossing", "criterion there", "ΔFA / Mpx there", "|Δpeak| dB", "shift px"]
    head += ["refl. PSNR (original)"]
    rows = []
    for codec, pts in points.items():
        t = thresholds[codec]
        at = next((p for p in pts if p["bpp"] == t["bpp"]), None) or {}
        kept = {"not kept": "not kept (up to the highest rate)", "kept at every rate": "≤ "}.get(
            t["status"], ""
        )
        name, value = criterion(at) if at else ("", float("nan"))
        rows.append(
            [codec, f"{len(pts)} ({pts[0]['bpp']:.2f}–{pts[-1]['bpp']:.2f})"]
            + [kept + (fmt(t["bpp"], ".3f") + " bpp" if t["bpp"] is not None else "")]
            + [fmt(t["below"], ".3f"), fmt(t["interpolated"], ".3f")]
            + [f"{name} {fmt(value, '+.2f' if name.startswith('Δ') else '.3f')}" if at else "—"]
            + [fmt(at.get("det_fa_change"), "+.0f"), fmt(at.get("det_peak_err_db"), ".2f")]
            + [fmt(at.get("det_shift_px"), ".2f")]
            + [f"{fmt(at.get('refl_psnr'), '.2f')} ({fmt(at.get('refl_psnr_ref'), '.2f')})"]
        )
    return md(head, rows)


def points_table(points: Mapping[str, list[dict]]) -> str:
    head = ["codec", "kind", "bpp", "PSNR", "Pd", "ΔPd pp", "FA/Mpx", "ΔFA/Mpx", "F1", "|Δpeak| dB"]
    head += ["Δpeak dB", "shift px", "refl. PSNR", "refl. RMSE dB"]
    keys = [("bpp", ".3f"), ("psnr", ".2f"), ("det_pd", ".3f"), ("det_pd_change", "+.2f")]
    keys += [("det_fa_mpx", ".0f"), ("det_fa_change", "+.0f"), ("det_f1", ".3f")]
    keys += [("det_peak_err_db", ".2f"), ("det_peak_bias_db", "+.2f"), ("det_shift_px", ".2f")]
    keys += [("refl_psnr", ".2f"), ("refl_rmse_db", ".2f")]
    scale = {"det_pd_change": 100.0}
    rows = [
        [codec, p["kind"], *(fmt(p.get(k, np.nan) * scale.get(k, 1.0), f) for k, f in keys)]
        for codec, pts in points.items()
        for p in pts
    ]
    return md(head, rows)


def md(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def plot_set(points: Mapping[str, list[dict]], panels: Sequence[tuple[str, str, str]], path: Path) -> Path:
    """One panel per (metric, reference metric or '', label) against bpp, every codec."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6.0 * len(panels), 4.6))
    for ax, (key, ref, label) in zip(np.atleast_1d(axes), panels):
        for codec, pts in points.items():
            color = COLORS.get(codec)
            main = [p for p in pts if p["kind"] in ("learned", "sweep")]
            style = "-o" if main and main[0]["kind"] == "learned" else "--."
            ax.plot([p["bpp"] for p in main], [p[key] for p in main], style, color=color, label=codec)
            extra = [p for p in pts if p["kind"] == "matched"]
            ax.plot([p["bpp"] for p in extra], [p[key] for p in extra], "o", mfc="none", color=color)
        if ref:
            value = next(p[ref] for pts in points.values() for p in pts)
            ax.axhline(value, color="k", lw=1, label="original (uncompressed)")
            if key == "det_pd":
                ax.axhspan(value - TOLERANCE_PP / 100, value + TOLERANCE_PP / 100, color="k", alpha=0.1)
        if key == "det_f1":
            ax.axhline(1 - TOLERANCE_PP / 100, color="k", lw=1, ls=":", label="1 pp below 1")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator([0.05, 0.1, 0.2, 0.5, 1, 2, 5]))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("bpp")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def chip_figure(out: Path) -> tuple[Path, list[str]]:
    """The full tanker chip: original and decoded at three rates (learned, JPEG 2000 at the same
    bpp), OS-CFAR detections circled; the test crop's rows outlined."""
    source = ROOT.parent / "shared" / "sar" / CHIP
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / CHIP).symlink_to(source)
        data = data_config(Path(tmp), real=True)
        cfg, _ = load_pretrained(CHIP_MODELS[0])
        (scene,) = load_split(data, "test", coding(RangeRule(), training_representation(cfg)))
        rep, sc = scene.representation, scene.scaling
        intensity = lambda u: rep.to_intensity(rep.from_unit(u, sc))  # noqa: E731
        panels = []
        for name in CHIP_MODELS:
            _, model = load_pretrained(name)
            coded = code_scene(model, scene, ModelId.named(name), TILE)
            bpp = 8 * len(coded.container) / coded.ref.size
            j2k = encode_at_bpp(build_codec("jpeg2000", bits=16), coded.ref.astype(np.float64), bpp)
            panels.append((name, bpp, coded.rec, j2k.bpp, j2k.recon))
        ref, valid = coded.ref, coded.valid
    looks = estimate_looks(intensity(ref), valid)
    original = detect(intensity(ref), looks, DETECTOR, valid)
    fig, axes = plt.subplots(2, 4, figsize=(15, 8.8))
    test_rows = (round(0.8 * ref.shape[0]), ref.shape[0])

    def show(ax, unit, title):
        dets = detect(intensity(np.clip(unit, 0, 1)), looks, DETECTOR, valid)
        score = against_reference(original, dets)
        ax.imshow(np.clip(unit, 0, 1), cmap="gray", vmin=0, vmax=1)
        ax.scatter(dets.cols, dets.rows, s=90, facecolors="none", edgecolors="r", lw=1.2)
        ax.scatter(original.cols, original.rows, s=12, marker="+", color="c", lw=0.8)
        ax.add_patch(plt.Rectangle((-0.5, test_rows[0] - 0.5), ref.shape[1], test_rows[1] - test_rows[0],
                                   fill=False, ec="y", ls="--", lw=1))  # fmt: skip
        ax.set_title(
            f"{title}\n{dets.count} detections, F1 vs original {fmt(score['det_f1'], '.2f')}", fontsize=9
        )
        ax.set_axis_off()
        lines.append(
            f"| {title} | {dets.count} | {fmt(score['det_f1'], '.3f')} | {fmt(score['det_peak_err_db'], '.2f')} |"
        )

    for row in range(2):
        show(axes[row, 0], ref, "original")
    for col, (name, bpp, rec, j2k_bpp, j2k_rec) in enumerate(panels, start=1):
        show(axes[0, col], rec, f"{name} {bpp:.2f} bpp")
        show(axes[1, col], j2k_rec, f"JPEG 2000 16-bit {j2k_bpp:.2f} bpp")
    fig.suptitle(
        f"{CHIP} (full chip, sha256 {file_sha256(source)[:12]}; rows below the dashed line: the test crop). "
        "Red circles: OS-CFAR detections; cyan +: those on the original",
        fontsize=9,
    )
    fig.tight_layout()
    path = out / "ship_chip.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path, lines[1:]


def set_section(name: str, data: Any, results: Mapping[str, Any], out: Path) -> tuple[dict, list[str]]:
    """Pooled points, thresholds, goals, plots and the Markdown of one set of scenes."""
    points = curves(results)
    thresholds = {c: threshold(pts) for c, pts in points.items()}
    goals = {c: goal(thresholds[c], thresholds["jpeg2000"]) for c in CURVES}
    any_point = points["jpeg2000"][0]
    files = sorted(r["image"] for r in results["sweep"][0]["images"])
    text = [f"## {name.capitalize()} scenes: `{data.root}`\n", f"{len(files)} scenes: {', '.join(files)}."]
    summary = {"data_root": str(data.root), "scenes": files}
    if name == "synthetic":
        summary |= clip_cost(Path(data.root))
        text += [
            f"{any_point['targets']:.0f} targets; on the uncompressed scenes (the codecs' input, clipped to each "
            f"scene's 0.5–99.5 % levels) Pd {any_point['det_pd_ref']:.3f} and {any_point['det_fa_mpx_ref']:.0f} "
            f"false alarms per Mpx; on the raw scenes, before the clip, Pd {summary['det_pd_raw']:.3f} and "
            f"{summary['det_fa_mpx_raw']:.0f} per Mpx ({100 * summary['targets_above_clip']:.0f} % of the "
            "targets' noise-free peaks lie above the clip's top)."
        ]
    else:
        text += [
            f"{any_point['ref_detections']:.0f} detections on the uncompressed scenes (the codecs' input)."
        ]
    text += ["", threshold_table(points, thresholds), ""]
    text += [
        f"- goal for {c} (keeps detection at a lower rate than JPEG 2000): **{v}** ({why})"
        for c, (v, why) in goals.items()
    ]
    text += ["", "<details><summary>every point</summary>\n", points_table(points), "\n</details>\n"]
    panels = [("det_pd", "det_pd_ref", "Pd against the generator's targets")]
    panels += [("det_fa_mpx", "det_fa_mpx_ref", "false alarms per Mpx")]
    if name == "real":
        panels = [("det_f1", "", "detection F1 vs original"), ("det_peak_err_db", "", "|Δpeak| dB (pairs)")]
    plot_set(points, panels, out / f"detection_{name}.png")
    text += [f"![{name}](detection_{name}.png)\n"]
    if name == "synthetic":
        refl = [("refl_psnr", "refl_psnr_ref", "PSNR vs noise-free reflectivity (5×5 multilook)")]
        plot_set(points, refl, out / "reflectivity_synthetic.png")
        text += ["![reflectivity](reflectivity_synthetic.png)\n"]
    return summary | {"points": points, "thresholds": thresholds, "goal": goals}, text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "detection")
    p.add_argument("--work", type=Path, default=ROOT / "outputs" / "detection")
    p.add_argument("--reuse", action="store_true", help="read back evaluations already in --work")
    a = p.parse_args()
    register_resolvers()
    torch.set_num_threads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    codecs = [c for c in CLASSIC if c in available_codecs()]
    sets = {
        "synthetic": data_config(synthetic_scenes(ROOT / "data" / "synthetic_detection"), real=False),
        "real": data_config(real_scenes(), real=True),
    }
    a.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"codecs": codecs, "missing": [c for c in CLASSIC if c not in codecs]}
    text = [
        "# Detection and reflectivity fidelity (issue 28)\n",
        "Command: `python experiments/detection.py`\n",
    ]
    evaluation_cpu, reused_cpu = 0.0, 0.0
    for name, data in sets.items():
        results = evaluate_set(data, a.work / name, codecs, a.reuse)
        evaluation_cpu += results["cpu_s"]
        reused_cpu += results["cpu_s"] - results["cpu_new"]
        report[name], section = set_section(name, data, results, a.out)
        text += section
    chip, lines = chip_figure(a.out)
    text += ["## Tanker chip\n", f"![tanker chip]({chip.name})\n"]
    text += [md(["panel", "detections", "F1 vs original", "|Δpeak| dB"], []), *lines, ""]
    total = time.process_time() - c0 + reused_cpu
    report |= {"cpu_s": total, "evaluation_cpu_s": evaluation_cpu, "wall_s": time.perf_counter() - t0}
    text += [
        f"CPU time {total / 60:.1f} min ({evaluation_cpu / 60:.1f} min coding and scoring, summed over the "
        f"evaluations as they ran{'; some read back with --reuse' if reused_cpu else ''}); this run's wall time "
        f"{report['wall_s'] / 60:.1f} min; torch threads 1."
    ]
    if report["missing"]:
        text += [f"Not installed, so not measured: {', '.join(report['missing'])}."]
    write_json(a.out / "detection.json", json_safe(report))
    atomic_write_text(a.out / "detection.md", "\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
