"""Whole-scene compression (8192² by default): MPixel/s and peak RSS of compress and decompress.

:func:`measure_whole_scene` writes a synthetic scene strip by strip and runs ``sarcomp``'s
``compress_file``/``decompress_file`` on it in child processes (so each peak RSS is that
direction's own). Without ``--scene-model`` it codes with a freshly initialised baseline saved as a checkpoint in the
work folder: speed and memory do not depend on training, the bpp does (it is not a trained one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from omegaconf import OmegaConf
from rasterio.transform import from_origin
from rasterio.windows import Window

from sarcomp.bench.settings import BASELINE, BenchSettings, compose_experiment
from sarcomp.errors import SarcompError
from sarcomp.runs import build_model, config_to_text, save_checkpoint


def untrained_checkpoint(settings: BenchSettings, workdir: Path) -> Path:
    """A checkpoint (config + weights) of a freshly initialised baseline."""
    cfg = compose_experiment(BASELINE, settings.overrides)
    path = Path(workdir) / "untrained_baseline.pt"
    config = config_to_text(OmegaConf.create({"model": cfg.model}))  # the model is all a decoder needs
    save_checkpoint(path, {"model": build_model(cfg.model).state_dict(), "config": config})
    return path


def measure_scene(settings: BenchSettings, tile: int, workdir: Path) -> dict[str, Any]:
    """The codec's measurement, or ``{"status": "not run: <why>"}``."""
    if settings.whole_scene_size is None:
        return {"status": "not run: --quick"}
    model = settings.whole_scene_model
    note = "given model"
    if model is None:
        model, note = str(untrained_checkpoint(settings, workdir)), "untrained baseline (bpp not meaningful)"
    result = dict(measure_whole_scene(settings.whole_scene_size, model, tile, Path(workdir) / "whole_scene"))
    return {"status": "run", "model_note": note, **result}


def write_synthetic_scene(
    path: str | Path, size: int, seed: int = 0, strip: int = 512, rows: int | None = None
) -> Path:
    """A ``rows`` (default ``size``) × ``size`` float32 intensity GeoTIFF (smooth texture × 1-look
    speckle), written in strips so that it never sits in memory whole."""
    path = Path(path)
    height = size if rows is None else int(rows)
    rng = np.random.default_rng(seed)
    profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "width": size,
        "height": height,
        "count": 1,
        "crs": "EPSG:32633",
        "transform": from_origin(500000.0, 4600000.0, 10.0, 10.0),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "BIGTIFF": "IF_SAFER",
    }
    cols = np.arange(size, dtype=np.float32)
    with rasterio.open(path, "w", **profile) as ds:
        for r in range(0, height, strip):
            n = min(strip, height - r)
            rr = (r + np.arange(n, dtype=np.float32))[:, None]
            texture = 0.1 * (1.5 + np.sin(rr / 37.0) * np.cos(cols[None, :] / 53.0))
            speckle = rng.gamma(1.0, 1.0, (n, size)).astype(np.float32)
            ds.write((texture * speckle)[None], window=Window(0, r, size, n))
    return path


_CHILD = """
import json, resource, sys, time
from sarcomp.codec.scene import compress_file
from sarcomp.codec.decompressor import decompress_file
args = json.loads(sys.argv[1])
fn = compress_file if args.pop("direction") == "compress" else decompress_file
out = fn(*args.pop("paths"), progress=False, force=True, **args)  # the benchmark rewrites its own files
try:  # VmHWM is this process's own peak; ru_maxrss also counts the parent's RSS at spawn
    with open("/proc/self/status") as fh:
        out["peak_rss_mb"] = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:")) / 1024
except (OSError, StopIteration):
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def _run_child(args: dict[str, Any]) -> dict[str, Any]:
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(args)], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode:
        raise SarcompError(f"{args['direction']} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_whole_scene(
    size: int, model_ref: str | Path, tile: int, workdir: str | Path, device: str = "auto"
) -> dict[str, Any]:
    """Write a synthetic ``size``² GeoTIFF, compress and decompress it in child processes; return
    MPixel/s (coding time, model loading excluded) and peak RSS (the child's own VmHWM) per
    direction, and the file's bpp."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    tif, sarc, out = (
        workdir / f"scene_{size}.tif",
        workdir / f"scene_{size}.sarc",
        workdir / f"decoded_{size}.tif",
    )
    write_synthetic_scene(tif, size)
    model_ref = str(Path(model_ref).resolve()) if Path(model_ref).exists() else str(model_ref)
    enc = _run_child(
        {"direction": "compress", "paths": [str(tif), str(sarc), model_ref], "tile": tile, "device": device}
    )
    dec = _run_child(
        {"direction": "decompress", "paths": [str(sarc), str(out)], "model": model_ref, "device": device}
    )
    pixels = size * size
    return {
        "size": size,
        "tile": tile,
        "model": model_ref,
        "bpp": enc["bpp"],
        "billed_bpp": enc["billed_bpp"],
        "compress_mpix_s": pixels / enc["seconds"] / 1e6,
        "decompress_mpix_s": pixels / dec["seconds"] / 1e6,
        "compress_peak_rss_mb": enc["peak_rss_mb"],
        "decompress_peak_rss_mb": dec["peak_rss_mb"],
        "compress_s": enc["seconds"],
        "decompress_s": dec["seconds"],
    }
