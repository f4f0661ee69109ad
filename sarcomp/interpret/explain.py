"""Explain one tile of a codec: every figure of :mod:`sarcomp.interpret` and a JSON summary.

:func:`explain_tile` makes the figures; :func:`explain_run` loads a run folder and a raster
(the script ``scripts/explain.py``); :func:`log_validation_figures` is the trainer's cheap hook.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from sarcomp.codec.modelref import resolve_model
from sarcomp.codec.scaling import RangeRule, describe, load_for_coding, training_representation
from sarcomp.data.bandspecs import file_settings, load_band_specs, spec_file
from sarcomp.data.loaders import band_spec
from sarcomp.data.rasters import list_rasters, open_raster
from sarcomp.errors import SarcompError
from sarcomp.fileio import write_json
from sarcomp.interpret import captions, figures
from sarcomp.interpret.bits import bits_and_error
from sarcomp.interpret.captions import Crop, choose_roi, layer_names, padding_border, roi_share
from sarcomp.interpret.gradcam import (
    DistortionTarget,
    RateTarget,
    augmented_grad_cam,
    default_layers,
    grad_cam,
)
from sarcomp.interpret.hooks import gate_start, query_attention, record_gates, upsample
from sarcomp.interpret.rise import rise
from sarcomp.runs import explain_dir, load_run, shipped_explain_dir, tensorboard_dir


@dataclass(frozen=True)
class ExplainOptions:
    """What to compute. ``roi``: (row, col, height, width) of the distortion target, default the
    square of a quarter of the tile side where the content is (:func:`~sarcomp.interpret.captions.choose_roi`);
    ``queries``: (row, col) self-attention queries, default the brightest pixel, the centre and the
    upper-left quarter."""

    roi: tuple[int, int, int, int] | None = None
    queries: tuple[tuple[int, int], ...] | None = None
    tiles_note: str = ""  # where the channel-weight distribution's tiles come from (its caption)
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
    crop: Crop | None = None,
) -> tuple[dict[str, Figure], dict[str, Any]]:
    """Figures (by file stem) and a summary for one tile ``x`` ``[1, 1, H, W]`` in [0, 1].

    ``tiles`` ``[N, 1, h, w]`` give the channel-weight distribution (default: ``x`` alone);
    ``crop`` says where the tile lies in its scene (every caption states it). Layers are named
    for people (:func:`~sarcomp.interpret.captions.layer_names`); the summary keeps the module
    names. Raw Grad-CAM maps are in the target's units (squared error in [0, 1] units per unit of
    activation, bits), so their maxima in the summary compare across variants.
    """
    opts = opts or ExplainOptions()
    model.eval()
    stride = int(model.stride)
    if x.shape[-1] % stride or x.shape[-2] % stride:
        raise SarcompError(f"tile {tuple(x.shape[-2:])} is not a multiple of the model's stride {stride}")
    size = tuple(x.shape[-2:])
    image = x[0, 0]
    prefix = f"{label}: " if label else ""
    where = crop.describe() if crop is not None else f"a {size[0]} x {size[1]} px tile"
    names = layer_names(model)
    figs: dict[str, Figure] = {}
    summary: dict[str, Any] = {"tile": list(size), "layer_names": names}

    with torch.no_grad(), record_gates(model) as rec:
        out = model(x)
    if rec.spatial:
        maps = {captions.label(names, n): upsample(m, size)[0, 0] for n, m in rec.spatial.items()}
        borders = {
            captions.label(names, n): padding_border(model, n, m.shape[-1], size[-1])
            for n, m in rec.spatial.items()
        }
        fig = figures.spatial_maps_figure(image, maps, prefix + "spatial attention", borders)
        figs["attention_spatial"] = figures.add_caption(fig, captions.spatial_caption(where, borders))
    start = gate_start(model)
    if rec.channel:
        fig = figures.channel_weights_figure(
            {captions.label(names, n): w[0] for n, w in rec.channel.items()},
            prefix + "channel weights of this tile",
            start,
        )
        figs["channel_weights"] = figures.add_caption(fig, f"Input: {where}.")
    if rec.channel and opts.distribution:
        dist = _channel_weights(model, tiles if tiles is not None else x)
        fig = figures.channel_distribution_figure(
            {captions.label(names, n): w for n, w in dist.items()},
            prefix + "channel weights over tiles",
            start,
        )
        figs["channel_distribution"] = figures.add_caption(fig, opts.tiles_note or f"Tiles of {where}.")
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
            maps[captions.label(names, name)] = upsample(query_attention(q, k, heads, cells), size)[0]
        fig = figures.query_attention_figure(
            image, maps, queries, prefix + "self-attention weights of query pixels"
        )
        figs["self_attention"] = figures.add_caption(fig, captions.query_caption(where, opts.queries is None))
    if rec.theta:
        summary["stn_theta"] = {n: t[0].tolist() for n, t in rec.theta.items()}

    bits, err = bits_and_error(model, x)
    fig = figures.bits_figure(
        image, out["x_hat"][0, 0].clamp(0, 1), bits[0, 0], err[0, 0], prefix + "where the bits go"
    )
    figs["bits"] = figures.add_caption(fig, captions.bits_caption(where))
    summary["bpp_estimated"] = float(bits.mean())
    summary["mse"] = float(err.mean())

    layers = default_layers(model)
    if opts.roi is not None:
        roi, why = opts.roi, f"ROI given (roi={list(opts.roi)})"
    else:
        roi, why = choose_roi(x, stride)
    distortion = DistortionTarget(roi_mask(x, roi))
    cam_d = grad_cam(model, x, layers, distortion)
    cam_r = grad_cam(model, x, layers, RateTarget())
    shares = {n: roi_share(m, roi) for n, m in cam_d.items()}
    in_scene = f"; in the scene: {crop.in_scene(roi)}" if crop is not None else ""
    roi_text = (
        f"ROI rows {roi[0]}-{roi[0] + roi[2] - 1}, cols {roi[1]}-{roi[1] + roi[3] - 1} of the tile{in_scene}"
    )
    fig = figures.cam_figure(
        image,
        {captions.with_share(captions.label(names, n), shares[n]): m[0, 0] for n, m in cam_d.items()},
        prefix + "Grad-CAM, target: squared error inside the ROI (green)",
        "a.u.",
        roi,
    )
    figs["gradcam_distortion"] = figures.add_caption(fig, captions.cam_caption(where, roi_text, why))
    fig = figures.cam_figure(
        image,
        {captions.label(names, n): m[0, 0] for n, m in cam_r.items()},
        prefix + "Grad-CAM, target: rate (bits of the whole tile)",
        "a.u.",
        None,
    )
    figs["gradcam_rate"] = figures.add_caption(fig, captions.rate_caption(where))
    summary["roi"] = list(roi)
    summary["roi_rule"] = why
    summary["gradcam_distortion_in_roi"] = shares
    summary["gradcam_distortion"] = _stats(cam_d)
    summary["gradcam_rate"] = _stats(cam_r)
    compare = {f"Grad-CAM, {captions.label(names, n)}": m[0, 0] for n, m in cam_d.items()}
    if opts.augmented:
        aug = augmented_grad_cam(model, x, layers, distortion)
        compare |= {f"augmented Grad-CAM, {captions.label(names, n)}": m[0, 0] for n, m in aug.items()}
        summary["augmented_gradcam_distortion"] = _stats(aug)
    if opts.rise:
        r = rise(
            model, x, opts.rise_masks, opts.rise_batch, opts.rise_cells, seed=opts.seed, roi=distortion.roi
        )
        compare[f"RISE ({opts.rise_masks} masks)"] = r[0, 0]
        summary["rise"] = {"masks": opts.rise_masks, **_stats({"map": r})["map"]}
    if len(compare) > len(cam_d):
        fig = figures.compare_figure(
            image, compare, prefix + "distortion in the ROI: three attributions", roi
        )
        figs["importance_compare"] = figures.add_caption(fig, captions.compare_caption(where, roi_text, why))
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


def _read_unit(cfg: Any, path: Path, stride: int) -> tuple[Tensor, str]:
    """A whole raster as ``sarcomp compress`` codes it for this model (units guessed per file unless
    the run's band-spec file names it; the clip range from the scene's own percentiles,
    :mod:`sarcomp.codec.scaling`), ``[1, 1, H, W]``, and how it was read; errors name the file."""
    if not path.is_file():
        raise SarcompError(f"{path}: image not found")
    source = spec_file(cfg.data)
    specs = load_band_specs(source) if source is not None else None
    training = training_representation(cfg)
    spec, rep = file_settings(path, specs, band_spec(cfg.data), replace(training, units="auto"))
    scene = load_for_coding(path, spec, rep, RangeRule(), training)
    h, w = scene.info.height, scene.info.width
    if min(h, w) < stride:
        raise SarcompError(f"{path}: {h}x{w} pixels, smaller than one {stride}-pixel codec cell")
    with open_raster(path) as ds:
        unit, _ = scene.read_unit(ds, 0, 0, h, w)
    how = f"{scene.representation.units}, clip range {describe(RangeRule(), scene)}"
    return torch.from_numpy(np.ascontiguousarray(unit, dtype=np.float32))[None, None], how


def centre_window(height: int, width: int, crop: int | None, stride: int) -> tuple[int, int, int, int]:
    """(row, col, side, side): the centre square of side ``crop`` (default the shorter side), cut to
    the model's ``stride``."""
    side = min(height, width, crop or min(height, width)) // stride * stride
    return (height - side) // 2, (width - side) // 2, side, side


def grid_tiles(arr: Tensor, tile: int, stride: int) -> Tensor:
    """Non-overlapping ``tile``-px tiles ``[N, 1, t, t]`` (smaller for a smaller image, a multiple
    of the model's ``stride``)."""
    h, w = arr.shape[-2:]
    t = min(tile, h // stride * stride, w // stride * stride)
    grid = arr[..., : h // t * t, : w // t * t].unfold(2, t, t).unfold(3, t, t)
    return grid.permute(0, 2, 3, 1, 4, 5).reshape(-1, 1, t, t).contiguous()


def read_inputs(
    cfg: Any, image: Path, crop: int | None, tiles_from: Path | None, stride: int
) -> tuple[Tensor, Tensor, Crop]:
    """(centre tile of ``image``, grid tiles at the run's tile size of ``tiles_from``: a raster
    or a folder of rasters, default ``image`` itself, for the channel-weight distribution, and
    where the centre tile lies in the scene); sides are multiples of the model's ``stride``."""
    arr, how = _read_unit(cfg, image, stride)
    sources = (
        [image] if tiles_from is None else list_rasters(tiles_from) if tiles_from.is_dir() else [tiles_from]
    )
    if not sources:
        raise SarcompError(f"{tiles_from}: no rasters found")
    t = int(cfg.data.tile_size)
    tiles = [grid_tiles(arr if p == image else _read_unit(cfg, p, stride)[0], t, stride) for p in sources]
    side = min(x.shape[-1] for x in tiles)
    h, w = arr.shape[-2:]
    r, c, th, tw = window = centre_window(h, w, crop, stride)
    where = Crop(image.name, (h, w), window, how)
    return (
        arr[..., r : r + th, c : c + tw].contiguous(),
        torch.cat([x[..., :side, :side] for x in tiles]),
        where,
    )


def explain_run(
    run_dir: str | Path,
    image: str | Path,
    out: str | Path | None = None,
    crop: int | None = 256,
    opts: ExplainOptions | None = None,
    checkpoint: str = "best",
    tiles_from: str | Path | None = None,
) -> list[Path]:
    """Load a run (or a checkpoint file, or a shipped model's name), explain the centre ``crop`` of
    ``image``, write PNGs + ``explain.json`` (default folder ``<run>/explain/<image stem>``, for a
    shipped model ``outputs/explain/<model>/<image stem>``) and, for a run, the same figures to its
    TensorBoard (tag ``explain/<image stem>``). ``tiles_from`` (a raster or a folder, e.g. the test
    split) gives the channel-weight distribution; default the image's own tiles."""
    from torch.utils.tensorboard import SummaryWriter

    if not Path(image).is_file():
        raise SarcompError(f"{image}: image not found")
    is_run = Path(run_dir).is_dir()
    if is_run:
        cfg, model, state = load_run(run_dir, checkpoint)
        label = f"{cfg.get('experiment_name', Path(run_dir).name)} step {state.get('step', '?')}"
    else:
        loaded = resolve_model(run_dir)
        cfg, model, state, label = loaded.cfg, loaded.model, {}, str(loaded.identity)
    tiles_path = Path(tiles_from) if tiles_from else None
    tile, tiles, where = read_inputs(cfg, Path(image), crop, tiles_path, int(model.stride))
    source = Path(tiles_from).name if tiles_from else Path(image).name
    note = f"{tiles.shape[0]} tiles of {tiles.shape[-1]} px from {source}."
    opts = replace(opts or ExplainOptions(), tiles_note=note)
    figs, summary = explain_tile(model, tile, tiles, opts, label, where)
    summary |= {
        "run_dir": str(Path(run_dir).resolve()) if is_run else str(run_dir),
        "image": str(Path(image).resolve()),
        "crop": crop,
        "crop_window": list(where.window),
        "distribution_tiles": int(tiles.shape[0]),
    }
    default = explain_dir(run_dir) if is_run else shipped_explain_dir(Path(run_dir).name)
    out = Path(out) if out is not None else default / Path(image).stem
    paths = write_figures(figs, summary, out)
    if is_run:
        with SummaryWriter(tensorboard_dir(run_dir)) as writer:
            log_figures(writer, figs, int(state.get("step", 0)), prefix=f"explain/{Path(image).stem}")
    return paths
