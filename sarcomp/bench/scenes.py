"""Whole scenes end to end (issue 27): ``sarcomp compress`` + ``decompress`` against OpenJPEG (and
JPEG, JPEG XL where Pillow / imagecodecs have them) on the same synthetic scene at the same bpp,
on one thread and on every core.

Each case (a codec, a thread setting, one direction after the other) runs in its own child
process (:mod:`sarcomp.bench.scene_cases`), so its peak RSS (VmHWM) is its own and process start
and model loading stay out of the time; reading the GeoTIFF and writing the output (``.sarc`` / codestream, then the decoded
GeoTIFF) are in it. sarcomp on one thread is ``OMP_NUM_THREADS=1`` with one worker (the pipeline's
reader and writer threads do I/O only); on every core it is one worker per core, each on one
PyTorch thread, which writes the same bytes. OpenJPEG's threads are its own
(``OPJ_NUM_THREADS``); Pillow's JPEG has none, so its all-core case is skipped.

The classic codecs code the [0, 1] image sarcomp codes (the ``.sarc`` header's units and clip
range) as 16-bit (JPEG 2000, JPEG XL) or 8-bit (JPEG) samples, at the bpp of each sarcomp file.
PSNR is over that [0, 1] image for every codec, so the numbers compare.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from sarcomp.bench.scene import write_synthetic_scene
from sarcomp.bench.scene_cases import CLASSIC_BITS
from sarcomp.codec.classic import available_codecs
from sarcomp.codec.container import read_header
from sarcomp.codec.pipeline import DEFAULT_BATCH
from sarcomp.data.representation import Representation, Scaling
from sarcomp.data.splits import saw_test_rows
from sarcomp.errors import SarcompError
from sarcomp.models import zoo
from sarcomp.models.autoencoder import stride_of

PROTOCOL_SPLITS = Path(__file__).resolve().parents[2] / "experiments" / "protocol" / "sar_splits.json"

CLASSIC = tuple(CLASSIC_BITS)
THREADED = {"JPEG2000": "OPJ_NUM_THREADS"}  # classic codecs with a thread setting of their own
S1_SHAPE = (16_700, 25_000)  # a Sentinel-1 IW GRD scene (rows, columns)
STRIP = 1024
QUALITY_TILE = 128  # the attention study's evaluation tile


@dataclass(frozen=True)
class SceneBench:
    """What the whole-scene section measures."""

    sizes: tuple[int, ...] = (4096, 8192)
    models: tuple[str, ...] = ()  # default: every shipped stride-8 model
    threads: tuple[int, ...] = field(default_factory=lambda: tuple(sorted({1, os.cpu_count() or 1})))
    classic: tuple[str, ...] = CLASSIC
    tile: int = 256
    batch: int = DEFAULT_BATCH
    quality_root: Path | None = None  # test split for the speed–quality plot (None: not measured)
    quick: bool = False
    sentinel1: bool = False  # also the peak RSS of compressing a Sentinel-1-sized scene
    sentinel1_shape: tuple[int, int] = S1_SHAPE  # (rows, columns); smaller only in --quick

    def chosen_models(self) -> tuple[str, ...]:
        return self.models or stride8_models()


def stride8_models() -> tuple[str, ...]:
    """The shipped models of stride 8 (the fast family), by name."""
    names = []
    for name in zoo.shipped_names(complex=False):
        channels = zoo.entry(name)["config"]["model"]["channels"]
        if stride_of(channels) == 8:
            names.append(name)
    return tuple(names)


def _child(args: dict[str, Any], threads: dict[str, str]) -> dict[str, Any]:
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "OMP_NUM_THREADS": "1", **threads}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "sarcomp.bench.scene_cases", json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise SarcompError(f"whole-scene case {args.get('model') or args.get('codec')} failed: {last}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _strips(path: Path) -> Iterator[np.ndarray]:
    with rasterio.open(path) as ds:
        for r in range(0, ds.height, STRIP):
            yield ds.read(1, window=Window(0, r, ds.width, min(STRIP, ds.height - r)))


def unit_psnr(src: Path, decoded: Path, units: str, scaling: Scaling) -> float:
    """PSNR (dB) of ``decoded`` against ``src``, both as the [0, 1] image of ``units`` and ``scaling``."""
    rep = Representation(units=units)
    total, count = 0.0, 0
    for ref, rec in zip(_strips(src), _strips(decoded), strict=True):
        a = np.clip(rep.to_unit(ref.astype(np.float64), scaling), 0, 1)
        b = np.clip(rep.to_unit(rec.astype(np.float64), scaling), 0, 1)
        total, count = total + float(((a - b) ** 2).sum()), count + a.size
    return float(10 * np.log10(1.0 / max(total / count, 1e-20)))


def _row(codec: str, threads: int, size: int, out: dict[str, Any], **extra: Any) -> dict[str, Any]:
    pixels = size * size
    seconds = out["encode_s"] + out["decode_s"]
    return {
        "codec": codec,
        "threads": threads,
        "size": size,
        "bpp": 8 * out["bytes"] / pixels,
        "encode_s": out["encode_s"],
        "decode_s": out["decode_s"],
        "encode_mpix_s": pixels / out["encode_s"] / 1e6,
        "decode_mpix_s": pixels / out["decode_s"] / 1e6 if out["decode_s"] else None,
        "mpix_s": pixels / seconds / 1e6,  # encode + decode: pixels over the two times added
        "peak_rss_mb": out["peak_rss_mb"],
        **extra,
    }


def measure_size(bench: SceneBench, size: int, work: Path, log=print) -> list[dict[str, Any]]:
    """Every codec and thread setting on one synthetic ``size``² scene."""
    work.mkdir(parents=True, exist_ok=True)
    src = write_synthetic_scene(work / f"scene_{size}.tif", size)
    rows: list[dict[str, Any]] = []
    for model in bench.chosen_models():
        digests, psnr, header = set(), None, None
        for threads in bench.threads:
            log(f"[scene {size}] {model}, {threads} thread(s)")
            sarc, out = work / f"{model}_{threads}.sarc", work / f"{model}_{threads}.tif"
            args = {"kind": "sarcomp", "model": model, "paths": [str(src), str(sarc), str(out)]}
            args.update(tile=bench.tile, batch=bench.batch, workers=threads, encode_only=False)
            result = _child(args, {})
            digests.add(hashlib.sha256(sarc.read_bytes()).hexdigest())
            if header is None:
                with open(sarc, "rb") as fh:
                    header, _ = read_header(fh, sarc.stat().st_size, sarc.name)
                psnr = unit_psnr(src, out, header.units, Scaling(header.lo, header.hi))
            rows.append(_row(model, threads, size, result, psnr=psnr))
            out.unlink()
        rows[-1]["same_bytes_all_threads"] = len(digests) == 1
        rows += _classic_rows(bench, size, src, work, header, rows[-1]["bpp"], model, log)
    return rows


def _classic_rows(
    bench: SceneBench, size: int, src: Path, work: Path, header: Any, bpp: float, model: str, log
) -> list[dict[str, Any]]:
    rows = []
    have = {name.upper() for name in available_codecs()}
    for name in bench.classic:
        if name not in have:
            rows.append({"codec": name, "size": size, "status": "skipped: codec not installed"})
            continue
        for threads in bench.threads:
            if threads > 1 and name not in THREADED:
                continue
            log(f"[scene {size}] {name} at {bpp:.3f} bpp ({model}'s), {threads} thread(s)")
            stream, out = work / f"{name}_{threads}.bin", work / f"{name}_{threads}.tif"
            args = {"kind": "classic", "codec": name, "paths": [str(src), str(stream), str(out)], "bpp": bpp}
            args.update(units=header.units, scaling=[header.lo, header.hi])
            env = {THREADED[name]: str(threads)} if name in THREADED else {}
            result = _child(args, env)
            psnr = unit_psnr(src, out, header.units, Scaling(header.lo, header.hi))
            rows.append(_row(name, threads, size, result, psnr=psnr, matched_to=model))
            out.unlink()
    return rows


def sentinel1_memory(bench: SceneBench, work: Path, log=print) -> list[dict[str, Any]]:
    """Peak RSS of compressing a Sentinel-1-sized scene (``bench.sentinel1_shape``) with the first
    model, on every core (the larger setting: more tile rows in flight)."""
    rows_n, cols_n = bench.sentinel1_shape
    src = write_synthetic_scene(work / "sentinel1.tif", cols_n, rows=rows_n)
    rows = []
    for model in bench.chosen_models()[:1]:
        log(f"[sentinel-1 {rows_n}x{cols_n}] {model}: compress, peak RSS")
        args = {"kind": "sarcomp", "model": model, "paths": [str(src), str(work / "s1.sarc"), ""]}
        args.update(tile=bench.tile, batch=bench.batch, workers=max(bench.threads), encode_only=True)
        out = _child(args, {})
        rows.append({"model": model, "shape": [rows_n, cols_n], "workers": max(bench.threads), **out})
    return rows


def test_split_data(root: Path) -> dict[str, Any]:
    """The attention study's real test set as a data config (``root``/test, shared_sar band specs)."""
    repo = Path(__file__).resolve().parents[2]
    rep = {"units": "auto", "db_range": None, "percentiles": [1.0, 99.0], "floor_db": -60.0}
    return {
        "root": str(root),
        "band_specs": str(repo / "configs" / "bands" / "shared_sar.yaml"),
        "representation": rep,
        "bands": [1],
        "iq": False,
        "complex_to": "intensity",
        "exclude": [],
        "tile_size": QUALITY_TILE,
        "stride": QUALITY_TILE,
    }


def at_bpp(points: list[tuple[float, float]], target: float) -> dict[str, Any]:
    """PSNR at ``target`` bpp, linear between the (bpp, PSNR) points around it; outside them the
    nearest point, with its bpp (``at_bpp``) saying so."""
    points = sorted(points)
    for (b0, p0), (b1, p1) in zip(points, points[1:]):
        if b0 <= target <= b1 and b1 > b0:
            return {"psnr": p0 + (p1 - p0) * (target - b0) / (b1 - b0), "at_bpp": target}
    b, p = min(points, key=lambda bp: abs(bp[0] - target))
    return {"psnr": p, "at_bpp": b}


def split_quality(
    models: tuple[str, ...], classic: tuple[str, ...], root: Path, target: float = 1.0, log=print
) -> dict[str, Any]:
    """Mean bpp and PSNR on the test split per model (a variable-rate one at each trained λ) and
    each family's PSNR at ``target`` bpp (a family: the fixed-rate models of one name but their λ
    suffix, or one variable-rate model); the classic codecs at ``target`` bpp on the same images."""
    import torch

    from sarcomp.codec.classic import build_codec, encode_at_bpp
    from sarcomp.codec.modelref import resolve_model
    from sarcomp.codec.scaling import RangeRule, coding, training_representation
    from sarcomp.data.loaders import load_split
    from sarcomp.evaluation.scenes import evaluate_scenes, set_operating_point
    from sarcomp.metrics.scene import scene_metrics

    cpu, data = torch.device("cpu"), test_split_data(root)
    points: dict[str, list[dict[str, Any]]] = {}
    skipped: dict[str, str] = {}
    images = None
    frozen = json.loads(PROTOCOL_SPLITS.read_text())["crops"]
    for name in models:
        seen = saw_test_rows(zoo.entry(name).get("data") or {}, frozen)
        if seen:  # e.g. trained on whole files of ../shared/sar: these rows were training data
            skipped[name] = f"trained on the whole of {len(seen)} of these files: not a test measurement"
            log(f"[test split] {name}: skipped ({skipped[name]})")
            continue
        log(f"[test split] {name}")
        loaded = resolve_model(name, cpu)  # a copy of its own: its λ is set here
        scenes = load_split(data, "test", coding(RangeRule(), training_representation(loaded.cfg)))
        for lmbda in loaded.model.lmbdas or (None,):
            if lmbda is not None:
                set_operating_point(loaded.model, lmbda)
            rows, found = evaluate_scenes(loaded.model, scenes, QUALITY_TILE, cpu, loaded.identity)
            images = images or found
            bpp, psnr = (float(np.mean([r[k] for r in rows])) for k in ("bpp", "psnr"))
            points.setdefault(name, []).append({"lmbda": lmbda, "bpp": bpp, "psnr": psnr})
    families: dict[str, list[tuple[float, float]]] = {}
    for name, pts in points.items():
        families.setdefault(family(name), []).extend((p["bpp"], p["psnr"]) for p in pts)
    out: dict[str, Any] = {
        "root": str(root),
        "target_bpp": target,
        "points": points,
        "families": {f: at_bpp(pts, target) for f, pts in families.items()},
        "skipped": skipped,
        "classic": {},
    }
    have = {n.upper() for n in available_codecs()}
    for name in classic:
        if name not in have or images is None:
            continue
        codec = build_codec(name, bits=CLASSIC_BITS[name])
        runs = [(image, encode_at_bpp(codec, image.ref, target)) for image in images]
        out["classic"][name] = {
            "bpp": float(np.mean([r.bpp for _, r in runs])),
            "psnr": float(np.mean([scene_metrics(image, r.recon)["psnr"] for image, r in runs])),
        }
    return out


def family(name: str) -> str:
    """``baseline-ms-s8-l003`` → ``baseline-ms-s8``: the fixed-rate models of one curve."""
    return re.sub(r"-l\d+$", "", name)
