"""Evaluate learned and classic codecs on the same scenes, with the same metrics and JSON schema.

**Scenes.** Each test scene is read as a grid of tiles (:class:`GridTiles`: edge tiles padded by
reflection, padding and nodata masked, masked pixels set to 0) and stitched back into one [0, 1]
scene image. All metrics are computed on that whole scene image over its valid pixels.

**Learned codec.** Every tile goes through the real ``model.compress`` / ``model.decompress``.
bpp = 8·(entropy-coded bytes of all the scene's tiles) / (scene pixels): latent bytes only — the
tile grid, the scaling and the per-tile string lengths (a few bytes per tile) are not counted.

**Classic codecs** (JPEG, JPEG 2000, WebP, JPEG XL, :mod:`sarcomp.codec.classic`) code the
same stitched [0, 1] scene image *whole*, as one file (their own block/tile structure inside), so
no per-tile headers penalise them. Their bpp is from the real encoded bytes, *headers included*
(JFIF / J2K codestream / RIFF / JXL codestream). JPEG 2000 and JPEG XL code 16-bit samples when
``bits=16``; JPEG and WebP are 8-bit only. Two kinds of classic results: a *rate sweep* over each
codec's parameter grid (:func:`default_sweep`), and *rate-matched* runs that code every scene at
exactly the learned run's bpp for that scene (bisection on the codec parameter,
:func:`~sarcomp.codec.classic.encode_at_bpp`).

**Metrics**, per scene (a "row") and their mean over scenes:

- ``psnr``: PSNR of the [0, 1] image, peak 1.
- ``rmse_db``: RMSE of the reconstruction in dB (the level domain): (hi − lo)·RMSE[0, 1] with
  [lo, hi] the scene's clip range. A "PSNR in dB units" with peak hi − lo would equal ``psnr``
  exactly, so the physically meaningful number is the RMSE in dB; it differs from PSNR whenever
  scenes have different clip ranges (percentile scaling). N/A for ``display8`` (no dB scale).
- ``ssim``, ``ms_ssim`` (:mod:`sarcomp.metrics.image`): MS-SSIM is N/A (NaN, with ``ms_ssim_note``)
  below 161 px or with masked pixels.
- SAR fidelity (:func:`sarcomp.metrics.sar.sar_fidelity`) in *linear intensity*: both images are
  mapped back with the scene's ``Representation.from_unit`` (amplitude squared, dB → 10^(dB/10)),
  over valid pixels. Reconstructions are clipped to [0, 1] first (as any decoder writing the
  representation would). The reference is the representation's round trip of the raster (clipped to
  [lo, hi]), so these measure the codec, not the clip range. ``enl_ratio`` (ENL of the
  reconstruction / ENL of the reference over automatically detected homogeneous 16×16 windows),
  ``ratio_mean`` and ``ratio_var`` of I/Î, ``mean_preservation`` (mean Î / mean I) and ``epi``.
  N/A for ``display8`` scenes (no linear radiometry), with ``sar_note``.
- ``bytes``, ``bpp``; ``encode_ms`` / ``decode_ms``: wall time to code the whole scene (learned:
  the sum over its tiles, each timed after a warm-up, CUDA synchronised; classic: one call), and for
  the learned codec ``encode_ms_tile`` / ``decode_ms_tile``, the median per tile.

**JSON schema**, shared by learned and classic results: a *payload* is
``{"name", "codec", ..., "images": [rows], "mean": {key: mean, key_n: count}, "hardware"}``.
A learned run's ``<run>/eval/metrics[_<tag>].json`` is one payload; classic results are
``{"results": [payloads]}`` files: ``<run>/eval/matched[_<tag>].json`` (rate-matched to that run;
``<out stem>.matched.json`` beside a custom ``out``)
and ``<folder>/eval/classic[_<tag>].json`` (the rate sweep). ``<tag>`` is the name of the data
folder when evaluating on other data than the run's own (e.g. ``_sar`` for ``../shared/sar``).
"""

from __future__ import annotations

import json
import logging
import math
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sarcomp.codec.classic import CODECS, Codec, available_codecs, build_codec, encode_at_bpp
from sarcomp.data.tiles import GridTiles, Scene
from sarcomp.devices import pick_device
from sarcomp.errors import SarcompError
from sarcomp.metrics import ms_ssim, psnr, ssim
from sarcomp.metrics.image import MS_SSIM_MIN_SIDE
from sarcomp.metrics.sar import sar_fidelity
from sarcomp.models.complexity import count_parameters

log = logging.getLogger(__name__)

SAR_KEYS = ("enl_ratio", "ratio_mean", "ratio_var", "mean_preservation", "epi")
METRIC_KEYS = ("bpp", "psnr", "rmse_db", "ssim", "ms_ssim", *SAR_KEYS, "encode_ms", "decode_ms")
LEARNED_KEYS = (*METRIC_KEYS, "encode_ms_tile", "decode_ms_tile")
CLASSIC_CODECS = ("jpeg", "jpeg2000", "webp", "jpegxl")
# How to install a classic codec's optional backend (pyproject.toml's extras).
INSTALL_HINTS = {"jpegxl": " (JPEG XL comes with the codecs extra: pip install -e '.[codecs]')"}

# Rate sweep grids: JPEG/WebP quality, JPEG XL Butteraugli distance; JPEG 2000 is given as nominal
# bpp (converted to OpenJPEG's compression ratio bits/bpp for the codec's bit depth).
SWEEP_GRIDS: dict[str, tuple[float, ...]] = {
    "jpeg": (2, 5, 10, 20, 30, 45, 60, 75, 85, 95),
    "jpeg2000": (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0),
    "webp": (0, 5, 15, 30, 45, 60, 75, 85, 95, 100),
    "jpegxl": (20.0, 12.0, 8.0, 5.0, 3.5, 2.5, 1.5, 1.0, 0.6, 0.3),
}


# --------------------------------------------------------------------------------------------
# Scene images and metrics


@dataclass
class SceneImage:
    """A test scene as one stitched [0, 1] image (masked pixels 0) and its validity mask."""

    scene: Scene
    ref: np.ndarray
    valid: np.ndarray

    @property
    def key(self) -> str:
        return str(self.scene.path.resolve())


def scene_tiles(scene: Scene, tile_size: int) -> GridTiles:
    return GridTiles([scene], tile_size)


def stitch_scene(scene: Scene, tile_size: int) -> SceneImage:
    """Read a scene through the same tile grid the learned codec sees, and stitch it."""
    h, w = scene.info.height, scene.info.width
    ref, valid = np.zeros((h, w), np.float32), np.zeros((h, w), bool)
    for item in scene_tiles(scene, tile_size):
        r, c, th, tw = item["row"], item["col"], item["h"], item["w"]
        ref[r : r + th, c : c + tw] = item["x"][0, :th, :tw].numpy()
        valid[r : r + th, c : c + tw] = item["mask"][0, :th, :tw].numpy()
    return SceneImage(scene, ref, valid)


def image_metrics(reference: np.ndarray, reconstruction: np.ndarray, valid: np.ndarray) -> dict[str, Any]:
    """PSNR, SSIM and MS-SSIM of one [0, 1] image over its valid pixels (NaN = N/A, with a note)."""
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a))[None, None]  # noqa: E731
    x, x_hat, m = to_t(reference.astype(np.float32)), to_t(reconstruction.astype(np.float32)), to_t(valid)
    out: dict[str, Any] = {
        "psnr": float(psnr(x, x_hat, m)),
        "ssim": float(ssim(x, x_hat, m)),
        "ms_ssim": float(ms_ssim(x, x_hat, m)),
    }
    if math.isnan(out["ms_ssim"]):
        out["ms_ssim_note"] = (
            f"N/A: image {reference.shape[0]}x{reference.shape[1]} is below {MS_SSIM_MIN_SIDE} px"
            if min(reference.shape) < MS_SSIM_MIN_SIDE
            else "N/A: the scene has masked (nodata) pixels"
        )
    return out


def linear_intensity(scene: Scene, unit: np.ndarray) -> np.ndarray | None:
    """[0, 1] back to linear intensity with the scene's representation (None for display8)."""
    rep, physical = scene.representation, scene.representation.from_unit(unit, scene.scaling)
    if rep.units == "intensity":
        return physical
    if rep.units == "amplitude":
        return physical**2
    if rep.units == "db":
        return 10.0 ** (physical / 10.0)
    return None


def scene_metrics(image: SceneImage, reconstruction: np.ndarray) -> dict[str, Any]:
    """Every quality metric of one reconstructed scene (see the module docstring)."""
    scene, valid = image.scene, image.valid
    rec = np.clip(reconstruction.astype(np.float64), 0.0, 1.0)
    rec = np.where(valid, rec, 0.0)
    out = image_metrics(image.ref, rec, valid)
    span = scene.scaling.hi - scene.scaling.lo
    err = (image.ref.astype(np.float64) - rec)[valid]
    out["rmse_db"] = (
        float(span * np.sqrt(np.mean(err**2))) if scene.representation.units != "display8" else math.nan
    )
    ref_i, rec_i = linear_intensity(scene, image.ref), linear_intensity(scene, rec)
    if ref_i is None or rec_i is None:
        out.update({k: math.nan for k in SAR_KEYS})
        out["sar_note"] = "N/A: display8 data has no linear radiometry"
        return out
    try:
        out.update(sar_fidelity(ref_i, rec_i, mask=valid))
    except ValueError as exc:  # e.g. no fully valid 16x16 window for the ENL
        out.update({k: math.nan for k in SAR_KEYS})
        out["sar_note"] = f"N/A: {exc}"
    return out


def _scene_record(image: SceneImage) -> dict[str, Any]:
    scene = image.scene
    return {
        "image": scene.path.name,
        "path": image.key,
        "height": scene.info.height,
        "width": scene.info.width,
        "valid_fraction": float(image.valid.mean()),
        "scaling": scene.scaling.as_dict(),
        "units": scene.representation.units,
    }


# --------------------------------------------------------------------------------------------
# The learned codec


def _timed(device: torch.device, fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """``fn(*args)`` and its wall time in ms (CUDA-synchronised)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = fn(*args)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result, (time.perf_counter() - start) * 1e3


@torch.no_grad()
def evaluate_scenes(
    model: torch.nn.Module,
    scenes: Sequence[Scene],
    tile_size: int,
    device: torch.device,
    on_scene: Callable[[SceneImage, np.ndarray], Any] | None = None,
) -> tuple[list[dict[str, Any]], list[SceneImage]]:
    """One row per scene (bytes, bpp, every metric, encode/decode ms; see module docstring),
    and the stitched reference images, so classic codecs can code them without a second read.
    ``on_scene(image, reconstruction)`` sees each decoded scene (e.g. to save it)."""
    model = model.to(device).eval()
    rows, images, warmed = [], [], False
    for scene in scenes:
        tiles = scene_tiles(scene, tile_size)
        h, w = scene.info.height, scene.info.width
        ref, rec = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
        valid = np.zeros((h, w), bool)
        n_bytes, enc_ms, dec_ms = 0, [], []
        for item in tiles:
            x = item["x"][None].to(device)
            if not warmed:
                model.decompress(**model.compress(x))
                warmed = True
            coded, t_enc = _timed(device, model.compress, x)
            out, t_dec = _timed(device, model.decompress, coded["strings"], coded["shape"])
            n_bytes += sum(len(s) for strings in coded["strings"] for s in strings)
            enc_ms.append(t_enc)
            dec_ms.append(t_dec)
            r, c, th, tw = item["row"], item["col"], item["h"], item["w"]
            ref[r : r + th, c : c + tw] = item["x"][0, :th, :tw].numpy()
            rec[r : r + th, c : c + tw] = out["x_hat"][0, 0, :th, :tw].float().cpu().numpy()
            valid[r : r + th, c : c + tw] = item["mask"][0, :th, :tw].numpy()
        image = SceneImage(scene, ref, valid)
        if on_scene is not None:
            on_scene(image, rec)
        row = {
            **_scene_record(image),
            "tiles": len(tiles),
            "bytes": n_bytes,
            "bpp": 8 * n_bytes / (h * w),
            **scene_metrics(image, rec),
            "encode_ms": float(sum(enc_ms)),
            "decode_ms": float(sum(dec_ms)),
            "encode_ms_tile": statistics.median(enc_ms),
            "decode_ms_tile": statistics.median(dec_ms),
        }
        log.info("%s: bpp=%.4f psnr=%.2f", row["image"], row["bpp"], row["psnr"])
        rows.append(row)
        images.append(image)
    return rows, images


# --------------------------------------------------------------------------------------------
# Classic codecs


def classic_codecs(names: Iterable[str] = CLASSIC_CODECS, bits: int = 16) -> list[Codec]:
    """Instances of the named codecs at ``bits`` where supported (else 8); missing backends skipped."""
    available, out = set(available_codecs()), []
    for name in names:
        if name.lower() not in available:
            log.warning(
                "classic codec %s is not installed; skipped%s", name, INSTALL_HINTS.get(name.lower(), "")
            )
            continue
        supported = CODECS[name.lower()].supported_bits
        out.append(build_codec(name, bits=bits if bits in supported else 8))
    return out


def codec_label(codec: Codec) -> str:
    return codec.name if codec.bits == 8 else f"{codec.name} {codec.bits}-bit"


def default_sweep(codec: Codec) -> list[float]:
    """The rate-sweep parameter grid of a codec (JPEG 2000: nominal bpp → ratio = bits / bpp)."""
    grid = SWEEP_GRIDS[codec.name.lower()]
    if codec.name == "JPEG2000":
        low, high = codec.param_range
        return [float(min(max(codec.bits / b, low), high)) for b in grid]
    return [float(p) for p in grid]


def _classic_row(codec: Codec, image: SceneImage, result) -> dict[str, Any]:
    return {
        **_scene_record(image),
        "param": float(result.param),
        "bytes": result.num_bytes,
        "bpp": result.bpp,
        **scene_metrics(image, result.recon),
        "encode_ms": 1e3 * result.encode_s,
        "decode_ms": 1e3 * result.decode_s,
    }


def _classic_payload(codec: Codec, rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return results_payload(
        codec_label(codec),
        rows,
        codec=codec.name.lower(),
        bits=codec.bits,
        param_name=codec.param_name,
        headers_counted=True,
        **extra,
    )


def classic_sweep(
    codec: Codec, images: Sequence[SceneImage], params: Sequence[float] | None = None
) -> list[dict[str, Any]]:
    """One payload per parameter value: every scene coded whole at that value."""
    payloads = []
    for param in default_sweep(codec) if params is None else params:
        rows = [_classic_row(codec, im, codec.run(im.ref.astype(np.float64), param)) for im in images]
        payloads.append(_classic_payload(codec, rows, param=float(param), kind="sweep"))
        log.info(
            "%s %s=%g: bpp=%.4f psnr=%.2f",
            codec_label(codec),
            codec.param_name,
            param,
            payloads[-1]["mean"]["bpp"],
            payloads[-1]["mean"]["psnr"],
        )
    return payloads


def classic_matched(
    codec: Codec,
    images: Sequence[SceneImage],
    target_bpp: Mapping[str, float],
    tol: float = 0.02,
    **extra: Any,
) -> dict[str, Any]:
    """Every scene coded at the bpp ``target_bpp[scene path]`` (bisection on the codec parameter)."""
    rows = []
    for im in images:
        target = target_bpp[im.key]
        result = encode_at_bpp(codec, im.ref.astype(np.float64), target, tol=tol)
        rows.append({**_classic_row(codec, im, result), "target_bpp": target})
    return _classic_payload(codec, rows, kind="matched", **extra)


# --------------------------------------------------------------------------------------------
# Payloads, run folders


def mean_row(rows: Sequence[dict[str, Any]], keys: Sequence[str] = LEARNED_KEYS) -> dict[str, Any]:
    """Means over rows, skipping N/A (NaN, missing) values; ``<key>_n`` says how many were defined."""
    out: dict[str, Any] = {}
    for key in keys:
        values = [r[key] for r in rows if r.get(key) is not None and not math.isnan(r[key])]
        if not values and not any(key in r for r in rows):
            continue
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
        raise SarcompError(
            "every evaluation scene was used in training (a flat data folder has no test split: "
            "put held-out scenes in <data folder>/test/ and the training ones in train/ and val/, "
            "or evaluate on other scenes with data=geotiff data.root=<folder>)"
        )
    return kept


def hardware() -> dict[str, Any]:
    import os
    import platform

    info = {
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def results_payload(name: str, rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """The metrics JSON schema shared by learned and classic codecs."""
    return {"name": name, **extra, "images": rows, "mean": mean_row(rows), "hardware": hardware()}


def data_tag(data_root: str | None) -> str:
    """File-name suffix for results on other data than the run's own ('' or '_<folder name>')."""
    return "" if data_root is None else "_" + Path(data_root).resolve().name


def resolve_out(run_dir: Path, out: str | None, data_root: str | None) -> Path:
    if out:
        return Path(out)
    return run_dir / "eval" / f"metrics{data_tag(data_root)}.json"


def matched_path(metrics: Path, tag: str = "") -> Path:
    """Where the rate-matched classic results go: ``matched[_<tag>].json`` beside the default
    ``metrics[_<tag>].json``, else ``<out stem>.matched.json`` beside a custom ``out``."""
    if metrics.name == f"metrics{tag}.json":
        return metrics.with_name(f"matched{tag}.json")
    return metrics.with_name(f"{metrics.stem}.matched.json")


def is_run_dir(path: Path) -> bool:
    return (path / "checkpoints").is_dir() and any((path / "checkpoints").glob("*.pt"))


def find_runs(folder: str | Path) -> list[Path]:
    """The run folder itself, or every run folder (one with checkpoints/*.pt) below a sweep folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SarcompError(f"{folder}: folder not found")
    if is_run_dir(folder):
        return [folder]
    runs = sorted({p.parent.parent for p in folder.rglob("checkpoints/*.pt")})
    if not runs:
        raise SarcompError(f"{folder}: no run folders (with checkpoints/*.pt) found")
    return runs


def _test_scenes(cfg: Any, data_cfg: Any | None, run_dir: Path) -> tuple[Any, list[Scene]]:
    from sarcomp.data.loaders import load_split
    from sarcomp.runs import read_scenes

    data = data_cfg if data_cfg is not None else cfg.data
    return data, exclude_training_scenes(load_split(data, "test"), read_scenes(run_dir))


def evaluate_run(
    run_dir: str | Path,
    data_cfg: Any | None = None,
    out: str | None = None,
    checkpoint: str = "best",
    device: str = "auto",
    classic: Mapping[str, Any] | None = None,
    save_recon: bool = False,
) -> tuple[dict[str, Any], Path]:
    """Rebuild a run's codec, evaluate it on the test split (its own, or ``data_cfg``'s), write JSON.

    With ``classic`` (keys ``codecs``, ``bits``, ``match_rates``, ``match_codecs``, ``tol``; see
    configs/eval.yaml),
    also code each scene with the classic codecs at this run's per-scene rates and write them to
    ``matched[_<tag>].json`` beside the metrics file. ``save_recon`` writes the decoded scenes as
    GeoTIFF to :func:`recon_folder` (:mod:`sarcomp.evaluation.recon`).
    """
    from sarcomp.evaluation.recon import save_reconstruction
    from sarcomp.fileio import write_json
    from sarcomp.runs import load_run

    run_dir = Path(run_dir)
    dev = pick_device(device)
    cfg, model, state = load_run(run_dir, checkpoint, dev)
    data, scenes = _test_scenes(cfg, data_cfg, run_dir)
    tag = data_tag(None if data_cfg is None else str(data["root"]))
    recon = recon_folder(run_dir, tag)
    save = (lambda im, rec: save_reconstruction(recon, im.scene, rec, im.valid)) if save_recon else None
    rows, images = evaluate_scenes(model, scenes, int(data["tile_size"]), dev, on_scene=save)
    payload = results_payload(
        str(cfg.get("experiment_name", run_dir.name)),
        rows,
        codec="learned",
        run_dir=str(run_dir),
        attention=model.attention_type,
        placement=model.placement,
        lmbda=model.lmbda,
        seed=int(cfg.seed),
        step=int(state["step"]),
        params=count_parameters(model),
        data_root=str(data["root"]),
        tile_size=int(data["tile_size"]),
        checkpoint=checkpoint,
    )
    path = resolve_out(run_dir, out, None if data_cfg is None else str(data["root"]))
    write_json(path, payload)
    match = matched_codecs(classic)
    if match:
        targets = {r["path"]: r["bpp"] for r in rows}
        results = [
            classic_matched(
                codec,
                images,
                targets,
                tol=float(classic.get("tol", 0.02)),
                matched_to=str(run_dir),
                lmbda=model.lmbda,
                seed=int(cfg.seed),
            )
            for codec in classic_codecs(match, int(classic.get("bits", 16)))
        ]
        write_json(matched_path(path, tag), {"results": results})
    return payload, path


def matched_codecs(classic: Mapping[str, Any] | None) -> list[str]:
    """The codecs to code at each run's rates (none when ``classic.match_rates`` is off)."""
    if not classic or not classic.get("match_rates"):
        return []
    return list(classic.get("match_codecs") or classic.get("codecs") or [])


def recon_folder(run_dir: Path, tag: str = "") -> Path:
    """Where ``save_recon=true`` writes a run's decoded scenes: ``<run>/eval/recon[_<tag>]/``."""
    return run_dir / "eval" / f"recon{tag}"


def evaluate_classic(
    scenes: Sequence[Scene],
    tile_size: int,
    codec_names: Iterable[str] = CLASSIC_CODECS,
    bits: int = 16,
    out: str | Path | None = None,
    data_root: str | None = None,
) -> list[dict[str, Any]]:
    """The classic rate sweep on ``scenes`` (each coded whole); written to ``out`` if given."""
    from sarcomp.fileio import write_json

    images = [stitch_scene(s, tile_size) for s in scenes]
    results = [p for codec in classic_codecs(codec_names, bits) for p in classic_sweep(codec, images)]
    for p in results:
        p.update(data_root=data_root, tile_size=tile_size)
    if out is not None:
        write_json(out, {"results": results})
    return results


def evaluate_folder(
    folder: str | Path,
    data_cfg: Any | None = None,
    out: str | None = None,
    checkpoint: str = "best",
    device: str = "auto",
    classic: Mapping[str, Any] | None = None,
    save_recon: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Path]]:
    """Evaluate one run or every run of a sweep folder; then the classic rate sweep, once.

    Returns (learned payloads, classic sweep payloads, written paths: metrics, ``matched*.json``,
    reconstruction folders and the sweep's ``classic*.json``). ``out`` is only allowed
    for a single run. The classic sweep (``classic.sweep``) uses the scenes that none of the
    runs trained on and goes to ``<folder>/eval/classic[_<tag>].json``.
    """
    from sarcomp.runs import load_run, read_scenes

    folder = Path(folder)
    runs = find_runs(folder)
    if out and len(runs) > 1:
        raise SarcompError(f"{folder}: out= names one file, but the folder holds {len(runs)} runs")
    learned, paths = [], []
    for run in runs:
        log.info("evaluating %s", run)
        payload, path = evaluate_run(
            run, data_cfg, out if len(runs) == 1 else None, checkpoint, device, classic, save_recon
        )
        learned.append(payload)
        paths.append(path)
        tag = data_tag(None if data_cfg is None else str(data_cfg["root"]))
        if matched_codecs(classic):
            paths.append(matched_path(path, tag))
        if save_recon:
            paths.append(recon_folder(run, tag))
    sweep: list[dict[str, Any]] = []
    if classic and classic.get("sweep") and classic.get("codecs"):
        cfg, _, _ = load_run(runs[0], checkpoint)
        data, scenes = _test_scenes(cfg, data_cfg, runs[0])
        used = {
            "train": [e for r in runs for e in read_scenes(r).get("train", [])],
            "val": [e for r in runs for e in read_scenes(r).get("val", [])],
        }
        scenes = exclude_training_scenes(scenes, used)
        tag = data_tag(None if data_cfg is None else str(data["root"]))
        path = folder / "eval" / f"classic{tag}.json"
        sweep = evaluate_classic(
            scenes,
            int(data["tile_size"]),
            classic["codecs"],
            int(classic.get("bits", 16)),
            path,
            str(data["root"]),
        )
        paths.append(path)
    return learned, sweep, paths


def load_results(path: str | Path) -> list[dict[str, Any]]:
    """Payloads from a metrics file: one payload, or ``{"results": [payloads]}``."""
    data = json.loads(Path(path).read_text())
    return list(data["results"]) if "results" in data else [data]
