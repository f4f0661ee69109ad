"""Explain one tile of a codec: every figure of :mod:`sarcomp.interpret` and a JSON summary.

:func:`explain_tile` makes the figures; :func:`explain_run` loads a run folder and a raster
(the script ``scripts/explain.py``); :func:`log_validation_figures` is the trainer's cheap hook.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from sarcomp.codec.scene import pad_multiple
from sarcomp.errors import SarcompError
from sarcomp.fileio import write_json
from sarcomp.interpret import figures
from sarcomp.interpret.bits import bits_and_error
from sarcomp.interpret.gradcam import (
    DistortionTarget,
    RateTarget,
    augmented_grad_cam,
    default_layers,
    grad_cam,
)
from sarcomp.interpret.hooks import query_attention, record_gates, upsample
from sarcomp.interpret.rise import rise
from sarcomp.models.autoencoder import STRIDE


@dataclass(frozen=True)
class ExplainOptions:
    """What to compute. ``roi``: (row, col, height, width) of the distortion target, default a
    square of a quarter of the tile side centred on the brightest pixel; ``queries``: (row, col)
    self-attention queries, default the brightest pixel, the centre and the upper-left quarter."""

    roi: tuple[int, int, int, int] | None = None
    queries: tuple[tuple[int, int], ...] | None = None
    rise_masks: int = 256
    rise_batch: int = 16
    rise_cells: int = 8
    augmented: bool = True
    rise: bool = True
    distribution: bool = True
    seed: int = 0


def _brightest(x: Tensor) -> tuple[int, int]:
    smooth = torch.nn.functional.avg_pool2d(x[:1, :1].float(), 5, 1, 2)
    idx = int(smooth.flatten().argmax())
    return idx // x.shape[-1], idx % x.shape[-1]


def default_roi(x: Tensor) -> tuple[int, int, int, int]:
    h, w = x.shape[-2:]
    r, c = _brightest(x)
    bh, bw = max(h // 4, 1), max(w // 4, 1)
    return min(max(r - bh // 2, 0), h - bh), min(max(c - bw // 2, 0), w - bw), bh, bw


def roi_mask(x: Tensor, roi: tuple[int, int, int, int]) -> Tensor:
    r, c, h, w = roi
    if h < 1 or w < 1 or r < 0 or c < 0 or r + h > x.shape[-2] or c + w > x.shape[-1]:
        raise SarcompError(f"roi {roi} is not inside the {tuple(x.shape[-2:])} tile")
    m = torch.zeros_like(x[:1, :1], dtype=torch.float32)
    m[..., r : r + h, c : c + w] = 1
    return m


def _channel_weights(model: nn.Module, tiles: Tensor, batch: int = 16) -> dict[str, Tensor]:
    """Channel gate weights ``[N, C]`` of every tile."""
    parts: dict[str, list[Tensor]] = {}
    with torch.no_grad():
        for start in range(0, tiles.shape[0], batch):
            with record_gates(model) as rec:
                model(tiles[start : start + batch])
            for name, w in rec.channel.items():
                parts.setdefault(name, []).append(w.cpu())
    return {name: torch.cat(ws) for name, ws in parts.items()}


def _stats(maps: dict[str, Tensor]) -> dict[str, dict[str, float]]:
    return {n: {"max": float(m.max()), "mean": float(m.mean())} for n, m in maps.items()}


def explain_tile(
    model: nn.Module,
    x: Tensor,
    tiles: Tensor | None = None,
    opts: ExplainOptions | None = None,
    label: str = "",
) -> tuple[dict[str, Figure], dict[str, Any]]:
    """Figures (by file stem) and a summary for one tile ``x`` ``[1, 1, H, W]`` in [0, 1].

    ``tiles`` ``[N, 1, h, w]`` give the channel-weight distribution (default: ``x`` alone).
    Raw Grad-CAM maps are in the target's units (squared error in [0, 1] units per unit of
    activation, bits), so their maxima in the summary compare across variants.
    """
    opts = opts or ExplainOptions()
    model.eval()
    stride = pad_multiple(model)
    if x.shape[-1] % stride or x.shape[-2] % stride:
        raise SarcompError(f"tile {tuple(x.shape[-2:])} is not a multiple of the model's stride {stride}")
    size = tuple(x.shape[-2:])
    image = x[0, 0]
    prefix = f"{label}: " if label else ""
    figs: dict[str, Figure] = {}
    summary: dict[str, Any] = {"tile": list(size)}

    with torch.no_grad(), record_gates(model) as rec:
        out = model(x)
    if rec.spatial:
        maps = {n: upsample(m, size)[0, 0] for n, m in rec.spatial.items()}
        figs["attention_spatial"] = figures.spatial_maps_figure(image, maps, prefix + "spatial attention")
    if rec.channel:
        figs["channel_weights"] = figures.channel_weights_figure(
            {n: w[0] for n, w in rec.channel.items()}, prefix + "channel weights of this tile"
        )
    if rec.channel and opts.distribution:
        dist = _channel_weights(model, tiles if tiles is not None else x)
        figs["channel_distribution"] = figures.channel_distribution_figure(
            dist, prefix + "channel weights over tiles"
        )
        summary["channel_weights"] = {
            n: {"min": float(w.min()), "max": float(w.max())} for n, w in dist.items()
        }
    if rec.qk:
        r0, c0 = _brightest(x)
        queries = opts.queries or ((r0, c0), (size[0] // 2, size[1] // 2), (size[0] // 4, size[1] // 4))
        maps = {}
        for name, (q, k, heads) in rec.qk.items():
            fh, fw = size[0] // q.shape[-2], size[1] // q.shape[-1]
            cells = [(min(r // fh, q.shape[-2] - 1), min(c // fw, q.shape[-1] - 1)) for r, c in queries]
            maps[name] = upsample(query_attention(q, k, heads, cells), size)[0]
        figs["self_attention"] = figures.query_attention_figure(
            image, maps, queries, prefix + "self-attention weights of query pixels"
        )
    if rec.theta:
        summary["stn_theta"] = {n: t[0].tolist() for n, t in rec.theta.items()}

    bits, err = bits_and_error(model, x)
    figs["bits"] = figures.bits_figure(
        image, out["x_hat"][0, 0].clamp(0, 1), bits[0, 0], err[0, 0], prefix + "where the bits go"
    )
    summary["bpp_estimated"] = float(bits.mean())
    summary["mse"] = float(err.mean())

    layers = default_layers(model)
    roi = opts.roi or default_roi(x)
    distortion = DistortionTarget(roi_mask(x, roi))
    cam_d = grad_cam(model, x, layers, distortion)
    cam_r = grad_cam(model, x, layers, RateTarget())
    figs["gradcam_distortion"] = figures.cam_figure(
        image,
        {n: m[0, 0] for n, m in cam_d.items()},
        prefix + f"Grad-CAM, target: MSE in ROI {roi}",
        "a.u.",
        roi,
    )
    figs["gradcam_rate"] = figures.cam_figure(
        image, {n: m[0, 0] for n, m in cam_r.items()}, prefix + "Grad-CAM, target: rate (bits)", "a.u.", None
    )
    summary["roi"] = list(roi)
    summary["gradcam_distortion"] = _stats(cam_d)
    summary["gradcam_rate"] = _stats(cam_r)
    compare = {f"Grad-CAM {n}": m[0, 0] for n, m in cam_d.items()}
    if opts.augmented:
        aug = augmented_grad_cam(model, x, layers, distortion)
        compare |= {f"augmented {n}": m[0, 0] for n, m in aug.items()}
        summary["augmented_gradcam_distortion"] = _stats(aug)
    if opts.rise:
        r = rise(
            model, x, opts.rise_masks, opts.rise_batch, opts.rise_cells, seed=opts.seed, roi=distortion.roi
        )
        compare[f"RISE ({opts.rise_masks} masks)"] = r[0, 0]
        summary["rise"] = {"masks": opts.rise_masks, **_stats({"map": r})["map"]}
    if len(compare) > len(cam_d):
        figs["importance_compare"] = figures.compare_figure(
            image, compare, prefix + "distortion in ROI: Grad-CAM, augmented Grad-CAM, RISE", roi
        )
    return figs, summary


def write_figures(figs: dict[str, Figure], summary: dict[str, Any], out: str | Path) -> list[Path]:
    """PNGs (and ``explain.json``) in ``out``; returns the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [figures.save_png(fig, out / f"{name}.png") for name, fig in figs.items()]
    write_json(out / "explain.json", summary)
    return [*paths, out / "explain.json"]


def log_figures(writer: Any, figs: dict[str, Figure], step: int, prefix: str = "explain") -> None:
    """The same figures as TensorBoard images (``<prefix>/<name>``)."""
    for name, fig in figs.items():
        writer.add_image(f"{prefix}/{name}", figures.to_rgb(fig), step, dataformats="HWC")


def log_validation_figures(writer: Any, model: nn.Module, x: Tensor, step: int) -> None:
    """The trainer's hook: attention maps, channel weights, bits and Grad-CAM of one validation
    tile (no RISE, augmentation or distribution: a few passes of one tile; about 1-3 CPU
    seconds with the demo model, mostly drawing)."""
    tile = x[:1].float()
    was_training = model.training
    figs, _ = explain_tile(model, tile, opts=ExplainOptions(augmented=False, rise=False, distribution=False))
    log_figures(writer, figs, step)
    model.train(was_training)


def _read_unit(cfg: Any, path: Path) -> Tensor:
    """A whole raster in the run's representation (and band-spec entry, if the run's data has
    band specs), ``[1, 1, H, W]``; errors name the file."""
    from sarcomp.data.bandspecs import file_settings, load_band_specs, spec_file
    from sarcomp.data.loaders import band_spec, representation
    from sarcomp.data.rasters import open_raster
    from sarcomp.data.tiles import Scene

    if not path.is_file():
        raise SarcompError(f"{path}: image not found")
    source = spec_file(cfg.data)
    specs = load_band_specs(source) if source is not None else None
    scene = Scene.load(path, *file_settings(path, specs, band_spec(cfg.data), representation(cfg.data)))
    h, w = scene.info.height, scene.info.width
    if min(h, w) < STRIDE:
        raise SarcompError(f"{path}: {h}x{w} pixels, smaller than one {STRIDE}-pixel codec cell")
    with open_raster(path) as ds:
        unit, _ = scene.read_unit(ds, 0, 0, h, w)
    return torch.from_numpy(np.ascontiguousarray(unit, dtype=np.float32))[None, None]


def centre_tile(arr: Tensor, crop: int | None) -> Tensor:
    """The centre square of side ``crop`` (default the shorter side), cut to the stride."""
    h, w = arr.shape[-2:]
    side = min(h, w, crop or min(h, w)) // STRIDE * STRIDE
    r0, c0 = (h - side) // 2, (w - side) // 2
    return arr[..., r0 : r0 + side, c0 : c0 + side].contiguous()


def grid_tiles(arr: Tensor, tile: int) -> Tensor:
    """Non-overlapping ``tile``-px tiles ``[N, 1, t, t]`` (smaller for a smaller image)."""
    h, w = arr.shape[-2:]
    t = min(tile, h // STRIDE * STRIDE, w // STRIDE * STRIDE)
    grid = arr[..., : h // t * t, : w // t * t].unfold(2, t, t).unfold(3, t, t)
    return grid.permute(0, 2, 3, 1, 4, 5).reshape(-1, 1, t, t).contiguous()


def read_inputs(cfg: Any, image: Path, crop: int | None, tiles_from: Path | None) -> tuple[Tensor, Tensor]:
    """(centre tile of ``image``, grid tiles at the run's tile size of ``tiles_from``: a raster
    or a folder of rasters, default ``image`` itself) for the channel-weight distribution."""
    from sarcomp.data.rasters import list_rasters

    arr = _read_unit(cfg, image)
    sources = (
        [image] if tiles_from is None else list_rasters(tiles_from) if tiles_from.is_dir() else [tiles_from]
    )
    if not sources:
        raise SarcompError(f"{tiles_from}: no rasters found")
    t = int(cfg.data.tile_size)
    tiles = [grid_tiles(arr if p == image else _read_unit(cfg, p), t) for p in sources]
    side = min(x.shape[-1] for x in tiles)
    return centre_tile(arr, crop), torch.cat([x[..., :side, :side] for x in tiles])


def explain_run(
    run_dir: str | Path,
    image: str | Path,
    out: str | Path | None = None,
    crop: int | None = 256,
    opts: ExplainOptions | None = None,
    checkpoint: str = "best",
    tiles_from: str | Path | None = None,
) -> list[Path]:
    """Load a run, explain the centre ``crop`` of ``image``, write PNGs + ``explain.json``
    (default folder ``<run>/explain/<image stem>``) and the same figures to the run's
    TensorBoard (tag ``explain/<image stem>``). ``tiles_from`` (a raster or a folder, e.g. the
    test split) gives the channel-weight distribution; default the image's own tiles."""
    from torch.utils.tensorboard import SummaryWriter

    from sarcomp.runs import load_run

    if not Path(image).is_file():
        raise SarcompError(f"{image}: image not found")
    cfg, model, state = load_run(run_dir, checkpoint)
    tile, tiles = read_inputs(cfg, Path(image), crop, Path(tiles_from) if tiles_from else None)
    label = f"{cfg.get('experiment_name', Path(run_dir).name)} step {state.get('step', '?')}"
    figs, summary = explain_tile(model, tile, tiles, opts, label)
    summary |= {
        "run_dir": str(Path(run_dir).resolve()),
        "image": str(Path(image).resolve()),
        "crop": crop,
        "distribution_tiles": int(tiles.shape[0]),
    }
    out = Path(out) if out is not None else Path(run_dir) / "explain" / Path(image).stem
    paths = write_figures(figs, summary, out)
    with SummaryWriter(Path(run_dir) / "tensorboard") as writer:
        log_figures(writer, figs, int(state.get("step", 0)), prefix=f"explain/{Path(image).stem}")
    return paths
