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

from sarcomp.analysis.detection import (
    TOLERANCE_PP,
    fmt,
    goal,
    points_table,
    pooled,
    threshold,
    threshold_table,
)
from sarcomp.analysis.render import md_table
from sarcomp.codec.classic import available_codecs, build_codec, encode_at_bpp
from sarcomp.codec.container import ModelId
from sarcomp.codec.scaling import (
    SCENE_PERCENTILES,
    RangeRule,
    coding,
    stored_scaling,
    training_representation,
)
from sarcomp.codec.scene import code_scene
from sarcomp.config import CONFIG_DIR, project_root, register_resolvers
from sarcomp.data.identity import file_sha256
from sarcomp.data.loaders import load_split
from sarcomp.data.synthetic import generate_dataset
from sarcomp.data.tiles import stitch_scene
from sarcomp.data.truth import load_truth, write_sums, write_truth
from sarcomp.evaluation.classic import evaluate_classic
from sarcomp.evaluation.pretrained import evaluate_pretrained, unused_scenes
from sarcomp.fileio import atomic_write_text, json_safe, write_json
from sarcomp.metrics.cfar import cfar_ratio, cluster, detect, margins
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


def reference_images(data: Any) -> list:
    """The test scenes as the codecs are given them (the stitched [0, 1] images of the evaluation)."""
    cfg = entry(CURVES["baseline-ms-s8"][0])["config"]
    scenes = load_split(data, "test", coding(RangeRule(), training_representation(cfg)))
    return [stitch_scene(stored_scaling(s), TILE) for s in scenes]


def intensity_of(image: Any, unit: np.ndarray) -> np.ndarray:
    rep = image.scene.representation
    return rep.to_intensity(rep.from_unit(np.clip(unit, 0, 1), image.scene.scaling))


def reference_margins(images: Sequence[Any]) -> dict[str, int]:
    """How far the detections on the uncompressed scenes clear their CFAR threshold."""
    found = []
    for im in images:
        ref = intensity_of(im, im.ref)
        looks = estimate_looks(ref, im.valid)
        ratio = cfar_ratio(ref, looks, DETECTOR, im.valid)
        found += list(margins(cluster(ratio > 1, ref, DETECTOR.merge), ratio))
    m = np.array(found)
    counts = {"below_0.5_db": int((m < 0.5).sum()), "below_1_db": int((m < 1).sum())}
    return {"detections": int(m.size), **counts, "above_3_db": int((m >= 3).sum())}


def top_of_range(images: Sequence[Any], name: str = CHIP_MODELS[-1]) -> dict[str, float]:
    """Where the uncompressed scene sits at the top of its clip range (unit value 1), what ``name``
    and JPEG 2000 at the same per-scene rate decode there: mean unit value, the largest anywhere."""
    _, model = load_pretrained(name)
    out: dict[str, list] = {"learned": [], "jpeg2000": [], "learned_max": [], "jpeg2000_max": [], "span": []}
    for im in images:
        coded = code_scene(model, im.scene, ModelId.named(name), TILE)
        bpp = 8 * len(coded.container) / coded.ref.size
        j2k = encode_at_bpp(build_codec("jpeg2000", bits=16), coded.ref.astype(np.float64), bpp).recon
        top = coded.ref >= 0.999
        for key, rec in (("learned", coded.rec), ("jpeg2000", j2k)):
            out[key].append(float(np.clip(rec, 0, 1)[top].mean()))
            out[f"{key}_max"].append(float(np.clip(rec, 0, 1).max()))
        out["span"].append(im.scene.scaling.hi - im.scene.scaling.lo)
    return {"model": name} | {k: float(np.mean(v)) for k, v in out.items()}


def curves(results: Mapping[str, Any]) -> dict[str, list[dict]]:
    """Pooled points per codec: each learned curve; each classic codec's sweep and matched points."""
    out = {c: [pooled(p["images"]) | {"kind": "learned"} for p in ps] for c, ps in results["learned"].items()}
    for p in results["sweep"]:
        out.setdefault(p["codec"], []).append(pooled(p["images"]) | {"kind": "sweep"})
    for p in results["matched"]:
        out.setdefault(p["codec"], []).append(pooled(p["images"]) | {"kind": "matched"})
    return {c: sorted(ps, key=lambda q: q["bpp"]) for c, ps in out.items()}


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
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path, lines[1:]


def set_section(name: str, data: Any, results: Mapping[str, Any], out: Path) -> tuple[dict, list[str]]:
    """Pooled points, thresholds, goals, plots and the Markdown of one set of scenes."""
    points = curves(results)
    thresholds = {c: threshold(pts) for c, pts in points.items()}
    goals = {c: goal(thresholds[c], thresholds["jpeg2000"]) for c in CURVES}
    any_point = points["jpeg2000"][0]
    files = sorted(r["image"] for r in results["sweep"][0]["images"])
    root = Path(data.root).relative_to(ROOT).as_posix()
    text = [f"## {name.capitalize()} scenes: `{root}`\n", f"{len(files)} scenes: {', '.join(files)}."]
    images = reference_images(data)
    summary = {"data_root": root, "scenes": files, "margins": reference_margins(images)}
    m = summary["margins"]
    margin_text = (
        f"Of the {m['detections']} detections on the uncompressed scenes, {m['below_1_db']} clear their CFAR "
        f"threshold by less than 1 dB ({m['below_0.5_db']} by less than 0.5 dB), {m['above_3_db']} by 3 dB or more."
    )
    if name == "synthetic":
        summary |= clip_cost(Path(data.root))
        text += [
            f"{any_point['targets']:.0f} targets; on the uncompressed scenes (the codecs' input, clipped to each "
            f"scene's 0.5–99.5 % levels) Pd {any_point['det_pd_ref']:.3f} and {any_point['det_fa_mpx_ref']:.0f} "
            f"false alarms per Mpx; on the raw scenes, before the clip, Pd {summary['det_pd_raw']:.3f} and "
            f"{summary['det_fa_mpx_raw']:.0f} per Mpx ({100 * summary['targets_above_clip']:.0f} % of the "
            "targets' noise-free peaks lie above the clip's top)."
        ]
        summary["top_of_range"] = t = top_of_range(images)
        text += [
            f"Where the uncompressed scene is at the top of its clip range, {t['model']} decodes {t['learned']:.3f} "
            f"of the range on average (its largest output anywhere: {t['learned_max']:.3f}), JPEG 2000 at the same "
            f"per-scene rates {t['jpeg2000']:.3f} (largest {t['jpeg2000_max']:.3f}); with a mean span of "
            f"{t['span']:.1f} dB that is {t['span'] * (1 - t['learned']):.2f} dB and "
            f"{t['span'] * (1 - t['jpeg2000']):.2f} dB below the top."
        ]
    text += [margin_text]
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
    text += [md_table(["panel", "detections", "F1 vs original", "|Δpeak| dB"], []), *lines, ""]
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
