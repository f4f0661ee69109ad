"""Evaluate a trained codec with its real bitstream: compress, decompress, measure, per scene.

Each scene is cut into a grid of tiles (edge tiles padded, padding masked). Every tile goes
through ``model.compress`` and ``model.decompress``; the decoded tiles are stitched back and
the metrics are computed on the whole scene over its valid pixels. bpp = 8·(entropy-coded bytes
of all the scene's tiles) / (scene pixels): the latent bytes only — the tile grid and scaling,
a few bytes per scene, are not counted. Timings are per tile, median after a warm-up, with
CUDA synchronised.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from sarcomp.data.tiles import GridTiles, Scene
from sarcomp.errors import SarcompError
from sarcomp.metrics import ms_ssim, psnr, ssim

log = logging.getLogger(__name__)

METRIC_KEYS = ("bpp", "psnr", "ssim", "ms_ssim", "encode_ms", "decode_ms")


def _timed(fn: Callable[[], Any], device: torch.device) -> tuple[Any, float]:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result, (time.perf_counter() - start) * 1e3


def image_metrics(reference: np.ndarray, reconstruction: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    """PSNR, SSIM and MS-SSIM of one [0, 1] image over its valid pixels (NaN = N/A)."""
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a))[None, None]  # noqa: E731
    x, x_hat, m = to_t(reference.astype(np.float32)), to_t(reconstruction.astype(np.float32)), to_t(valid)
    return {
        "psnr": float(psnr(x, x_hat, m)),
        "ssim": float(ssim(x, x_hat, m)),
        "ms_ssim": float(ms_ssim(x, x_hat, m)),
    }


@torch.no_grad()
def evaluate_scenes(model: torch.nn.Module, scenes: Sequence[Scene], tile_size: int,
                    device: torch.device) -> list[dict[str, Any]]:
    """One row per scene: bytes, bpp, quality metrics and median per-tile encode/decode ms."""
    model = model.to(device).eval()
    rows, warmed = [], False
    for scene in scenes:
        tiles = GridTiles([scene], tile_size)
        h, w = scene.info.height, scene.info.width
        ref, rec = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
        valid = np.zeros((h, w), bool)
        n_bytes, enc_ms, dec_ms = 0, [], []
        for item in tiles:
            x = item["x"][None].to(device)
            if not warmed:
                model.decompress(**model.compress(x))
                warmed = True
            coded, t_enc = _timed(lambda: model.compress(x), device)
            out, t_dec = _timed(lambda: model.decompress(coded["strings"], coded["shape"]), device)
            n_bytes += sum(len(s) for strings in coded["strings"] for s in strings)
            enc_ms.append(t_enc)
            dec_ms.append(t_dec)
            r, c, th, tw = item["row"], item["col"], item["h"], item["w"]
            ref[r:r + th, c:c + tw] = item["x"][0, :th, :tw].numpy()
            rec[r:r + th, c:c + tw] = out["x_hat"][0, 0, :th, :tw].float().cpu().numpy()
            valid[r:r + th, c:c + tw] = item["mask"][0, :th, :tw].numpy()
        row = {
            "image": scene.path.name, "height": h, "width": w, "tiles": len(tiles),
            "bytes": n_bytes, "bpp": 8 * n_bytes / (h * w),
            **image_metrics(ref, rec, valid),
            "encode_ms": statistics.median(enc_ms), "decode_ms": statistics.median(dec_ms),
            "scaling": scene.scaling.as_dict(), "units": scene.representation.units,
        }
        log.info("%s: bpp=%.4f psnr=%.2f", row["image"], row["bpp"], row["psnr"])
        rows.append(row)
    return rows


def mean_row(rows: Sequence[dict[str, Any]], keys: Sequence[str] = METRIC_KEYS) -> dict[str, Any]:
    """Means over rows, skipping N/A (NaN) values; ``<key>_n`` says how many were defined."""
    out: dict[str, Any] = {}
    for key in keys:
        values = [r[key] for r in rows if r.get(key) is not None and not math.isnan(r[key])]
        out[key] = float(np.mean(values)) if values else math.nan
        out[f"{key}_n"] = len(values)
    return out


def exclude_training_scenes(scenes: Sequence[Scene], used: dict[str, list[dict]]) -> list[Scene]:
    """Drop scenes the run trained or validated on (by resolved path), with a warning."""
    seen = {entry["path"] for split in ("train", "val") for entry in used.get(split, [])}
    kept = [s for s in scenes if str(s.path.resolve()) not in seen]
    for s in scenes:
        if s not in kept:
            log.warning("%s: the run trained or validated on this scene; excluded from evaluation", s.path)
    if not kept:
        raise SarcompError("every evaluation scene was used in training; evaluate on other scenes")
    return kept


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def hardware() -> dict[str, Any]:
    import platform

    info = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
            "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def results_payload(name: str, rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """The metrics JSON schema shared by learned and classic codecs."""
    return {"name": name, **extra, "images": rows, "mean": mean_row(rows), "hardware": hardware()}


def resolve_out(run_dir: Path, out: str | None, data_root: str | None) -> Path:
    if out:
        return Path(out)
    suffix = "" if data_root is None else "_" + Path(data_root).resolve().name
    return run_dir / "eval" / f"metrics{suffix}.json"


def evaluate_run(run_dir: str | Path, data_cfg: Any | None = None, out: str | None = None,
                 checkpoint: str = "best", device: str = "auto") -> tuple[dict[str, Any], Path]:
    """Rebuild a run's codec, evaluate it on the test split (its own, or ``data_cfg``'s), write JSON."""
    from sarcomp.data.loaders import load_split
    from sarcomp.runs import load_run, read_scenes, write_json

    run_dir = Path(run_dir)
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    cfg, model, state = load_run(run_dir, checkpoint, dev)
    data = data_cfg if data_cfg is not None else cfg.data
    scenes = exclude_training_scenes(load_split(data, "test"), read_scenes(run_dir))
    rows = evaluate_scenes(model, scenes, int(data["tile_size"]), dev)
    payload = results_payload(
        str(cfg.get("experiment_name", run_dir.name)), rows, codec="learned", run_dir=str(run_dir),
        attention=model.attention_type, placement=model.placement, lmbda=model.lmbda,
        seed=int(cfg.seed), step=int(state["step"]), params=count_parameters(model),
        data_root=str(data["root"]),
    )
    path = resolve_out(run_dir, out, None if data_cfg is None else str(data["root"]))
    write_json(path, payload)
    return payload, path
