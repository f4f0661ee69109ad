"""Encode and decode throughput (MPixel/s, entropy coding included) of each variant, and of
JPEG 2000 (OpenJPEG, ``sarcomp.codec.classic``) on the same tiles at the same bpp.

Tiles are coded one at a time (batch 1), as a codec codes an image. The experiments' models are
freshly initialised (``update()`` builds the entropy coder's tables): their bpp is not a trained
operating point, so J2K is rate-matched tile by tile to what each model actually wrote. The shipped
models (``sarcomp.models.zoo``) follow, trained, at each of their operating points.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile, record_function

from sarcomp.bench.measure import median_seconds
from sarcomp.bench.settings import BenchSettings, compose_experiment, label
from sarcomp.bench.synthetic_data import data_config
from sarcomp.codec.classic import JPEG2000, encode_at_bpp
from sarcomp.data.loaders import load_split
from sarcomp.data.tiles import GridTiles
from sarcomp.evaluation.scenes import set_operating_point
from sarcomp.host_memory import retain_freed_memory
from sarcomp.models.autoencoder import CODING_STAGES, STAGE_PREFIX
from sarcomp.models.complexity import count_macs
from sarcomp.models.zoo import load_pretrained, shipped_names
from sarcomp.runs import build_model


def codec_tiles(settings: BenchSettings, root, tile: int) -> list[torch.Tensor]:
    """The first ``codec_tiles`` grid tiles ``[1, 1, tile, tile]`` of the test scene(s)."""
    cfg = compose_experiment(settings.experiments[0], settings.overrides)
    scenes = load_split(data_config(cfg, root), "test")
    grid = GridTiles(scenes, tile, tile, max_tiles=settings.codec_tiles)
    return [grid[i]["x"][None] for i in range(len(grid))]


def measure_codecs(settings: BenchSettings, root, device: torch.device) -> dict[str, Any]:
    """Per variant: encode/decode MPixel/s and bpp; then J2K at each variant's bpp."""
    retain_freed_memory()  # as the sarcomp CLI codes (sarcomp.codec.commands)
    first = compose_experiment(settings.experiments[0], settings.overrides)
    tile = int(first.data.tile_size)
    tiles = [t.to(device) for t in codec_tiles(settings, root, tile)]
    rows = []
    for name, text, model in _models(settings, device):
        row = _model_row(model, name, text, tiles, settings, device)
        row["jpeg2000"] = _jpeg2000(tiles, row.pop("tile_bpp"), settings) if JPEG2000.available() else None
        rows.append(row)
    return {"tile_size": tile, "tiles": len(tiles), "device": str(device), "rows": rows}


def _models(settings: BenchSettings, device: torch.device):
    """(name, label, model ready to code): each experiment untrained, then each shipped model's
    operating points (every λ of a variable-rate model)."""
    for name in settings.experiments:
        model = build_model(compose_experiment(name, settings.overrides).model).to(device).eval()
        model.update(force=True)
        yield name, label(name), model
    for name in shipped_names(complex=False) if settings.shipped_models else []:
        cfg, model = load_pretrained(name, device)
        for lmbda in cfg.model.get("lmbdas") or [None]:
            if lmbda is not None:
                set_operating_point(model, lmbda)
            tag = f"zoo:{name}" + ("" if lmbda is None else f"@{lmbda:g}")
            yield tag, f"{tag} (trained)", model


def _model_row(
    model: torch.nn.Module,
    name: str,
    text: str,
    tiles: list[torch.Tensor],
    settings: BenchSettings,
    device: torch.device,
) -> dict[str, Any]:
    """One model: compress and decompress each tile, timed separately."""
    coded = [model.compress(t) for t in tiles]
    pixels = [t.shape[-2] * t.shape[-1] for t in tiles]
    bpp = [8 * sum(len(s) for group in c["strings"] for s in group) / n for c, n in zip(coded, pixels)]
    enc = median_seconds(
        lambda: [model.compress(t) for t in tiles], settings.repeats, settings.warmup, device
    )
    dec = median_seconds(
        lambda: [model.decompress(c["strings"], c["shape"]) for c in coded],
        settings.repeats,
        settings.warmup,
        device,
    )
    row = _row(name, text, bpp, sum(pixels), enc["median_s"], dec["median_s"])
    row["stages_ms"] = stage_ms(model, tiles, coded) if device.type == "cpu" else None
    side = tiles[0].shape[-1]
    row["kmac_per_pixel"] = count_macs(model.cpu(), side) / side**2 / 1e3  # analysis + synthesis
    model.to(device)
    return {**row, "tile_bpp": bpp}


def stage_ms(model: torch.nn.Module, tiles: list[torch.Tensor], coded: list[dict]) -> dict[str, dict]:
    """Milliseconds per tile in each stage of ``compress`` and of ``decompress`` (the model's
    ``coding_stage`` ranges), from ``torch.profiler`` over one pass through the tiles, and each
    pass's whole time under the profiler ("total"). CPU only: on a GPU the ranges would time
    kernel launches."""
    out = {}
    for direction, code in (
        ("encode", lambda: [model.compress(t) for t in tiles]),
        ("decode", lambda: [model.decompress(c["strings"], c["shape"]) for c in coded]),
    ):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            with record_function(direction):
                code()
        times = {e.key: e.cpu_time_total / 1e3 / len(tiles) for e in prof.key_averages()}
        stages = {s: times[STAGE_PREFIX + s] for s in CODING_STAGES if STAGE_PREFIX + s in times}
        out[direction] = {**stages, "total": times[direction]}
    return out


def _jpeg2000(tiles: list[torch.Tensor], target_bpp: list[float], settings: BenchSettings) -> dict[str, Any]:
    """OpenJPEG on the same tiles, each rate-matched (untimed search) to the model's bpp for it."""
    codec = JPEG2000()
    images = [t[0, 0].double().cpu().numpy() for t in tiles]
    params = [encode_at_bpp(codec, img, bpp).param for img, bpp in zip(images, target_bpp)]
    data = [codec.encode(img, p) for img, p in zip(images, params)]
    enc = median_seconds(
        lambda: [codec.encode(img, p) for img, p in zip(images, params)], settings.repeats, settings.warmup
    )
    dec = median_seconds(
        lambda: [codec.decode(d, img.shape) for d, img in zip(data, images)],
        settings.repeats,
        settings.warmup,
    )
    bpp = [8 * len(d) / img.size for d, img in zip(data, images)]
    return _row(
        "jpeg2000",
        "JPEG 2000 (OpenJPEG)",
        bpp,
        sum(img.size for img in images),
        enc["median_s"],
        dec["median_s"],
    )


def _row(name: str, text: str, bpp: list[float], pixels: int, enc_s: float, dec_s: float) -> dict[str, Any]:
    return {
        "codec": name,
        "label": text,
        "bpp": float(np.mean(bpp)),
        "encode_mpix_s": pixels / enc_s / 1e6,
        "decode_mpix_s": pixels / dec_s / 1e6,
        "encode_decode_s": enc_s + dec_s,
        "encode_decode_mpix_s": pixels / (enc_s + dec_s) / 1e6,
    }
