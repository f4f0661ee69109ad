"""Whole scenes through a learned codec: tiling padded only to the stride, blending, ``.sarc`` files.

**Tiling** (:class:`~sarcomp.codec.container.Grid`): tiles of ``tile`` px start every
``tile - overlap`` px; the last tile on each axis ends at the scene edge and is padded, by
replicating its edge, only up to the next multiple of the model's stride (16). A 200×300 scene
with 256-px tiles codes 208×(256 + 48) px, never a full tile of padding.

**Overlap**: with ``overlap > 0`` neighbouring tiles share ``overlap`` px; the decoder blends them
with linear ramps whose weights sum to one, so tile seams do not show.

**Streaming**: the encoder reads one band of tile rows at a time through rasterio windows and
spools the tile strings to a temporary file; the decoder decodes one band of tiles, writes its
finished rows to the GeoTIFF and keeps only the overlap. Tile rows go through the model in
batches and a pipeline (:mod:`sarcomp.codec.pipeline`: reader thread, ``workers`` coding threads,
rows written in order; the same bytes for every setting), with at most ``workers + 2`` bands of
``tile × width`` pixels in memory, so a 20 000 × 20 000 scene never sits in memory whole.

The same two functions (:func:`encode_scene`, :func:`decode_scene`) serve files
(:func:`compress_file`, :func:`sarcomp.codec.decompressor.decompress_file`) and evaluation (:func:`code_scene`), so the bytes
evaluation bills are those of the ``.sarc`` file that ``sarcomp compress`` writes (without its
metadata: georeferencing and notes), and the pixels it scores are those ``sarcomp decompress`` writes.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from tqdm import tqdm

from sarcomp.codec import scaling
from sarcomp.codec.complex_block import ComplexBlock
from sarcomp.codec.container import (
    Grid,
    Header,
    MaskWriter,
    ModelId,
    float32,
    iter_strings,
    mask_rows,
    read_header,
    write_container,
)
from sarcomp.codec.pipeline import DEFAULT_BATCH, Flight, Throughput, decode_row, encode_row, ordered_map
from sarcomp.codec.scaling import ClipTally, RangeRule, stored_scaling
from sarcomp.data.complex_tiles import ComplexScene
from sarcomp.data.tiles import Scene
from sarcomp.errors import SarcompError

SPOOL_BYTES = 64 << 20  # tile strings stay in memory up to this size, then go to a temp file
GDAL_CACHE_MB = 128  # GDAL's block cache (default: 5 % of RAM) would dominate the peak memory
UNIT_LABELS = {
    "intensity": "linear intensity",
    "amplitude": "linear amplitude",
    "db": "dB",
    "display8": "8-bit display",
}
BandSink = Callable[[int, np.ndarray, np.ndarray], None]  # (first row, unit [n, W], valid [n, W])


def _ramp(index: int, count: int, length: int, overlap: int) -> np.ndarray:
    """Blending weights along one axis of a tile: up over the first ``overlap`` px (but for the
    first tile), down over the last ``overlap`` px (but for the last tile); neighbours sum to 1."""
    w = np.ones(length, np.float32)
    if overlap:
        up = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        if index > 0:
            w[:overlap] = up
        if index < count - 1:
            w[length - overlap :] = 1.0 - up
    return w


# --------------------------------------------------------------------------------------------
# Encoding and decoding one scene


@torch.no_grad()
def encode_scene(
    model: torch.nn.Module,
    scene: Scene | ComplexScene,
    ds: Any,
    grid: Grid,
    identity: ModelId,
    device: torch.device,
    spool: BinaryIO,
    *,
    lmbda: float | None = None,
    progress: bool = False,
    on_band: BandSink | None = None,
    times: list[float] | None = None,
    tally: ClipTally | None = None,
    throughput: Throughput | None = None,
    flight: Flight | None = None,
) -> Header:
    """Code every tile of ``scene`` (read from the open raster ``ds``) into ``spool``; return the header.

    ``scene`` must carry the float32 scaling (:func:`stored_scaling`, :meth:`ComplexScene.stored`:
    a complex scene codes its channels and its file gets a complex block). ``on_band`` sees each band
    of new rows as read ([0, 1] values, validity); ``times`` collects per-tile encode ms; ``tally``
    counts the valid pixels the clip range cuts off. ``throughput`` sets the batch size and worker
    threads (:mod:`sarcomp.codec.pipeline`; the bytes are the same for all); ``flight`` counts the
    tile rows in memory.
    """
    rows, width = grid.rows, grid.width
    throughput = throughput or Throughput()
    lmbda = None if lmbda is None else float32(lmbda)  # as stored: the decoder must use the same λ
    lengths: list[int] = []
    mask = MaskWriter()
    stride, groups = int(model.stride), 0
    bar = tqdm(total=grid.n_tiles, desc="compress", unit="tile", disable=not progress, file=sys.stderr)

    def read() -> Iterator[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
        for ri, r in enumerate(rows):
            h = grid.extent(r, grid.height)
            new = rows[ri + 1] - r if ri + 1 < len(rows) else h
            yield (r, new, *scene.read_unit_counted(ds, r, 0, h, width))

    def code(
        row: tuple[int, int, np.ndarray, np.ndarray, np.ndarray],
    ) -> tuple[list[list[bytes]], list[float]]:
        return encode_row(model, device, grid, row[2], throughput.batch, lmbda)

    for (r, new, unit, valid, clipped), (strings, ms) in ordered_map(
        read(), code, throughput.workers, flight
    ):
        mask.add(valid[:new])
        if tally is not None:
            tally.add(clipped[:new], valid[:new])
        if on_band is not None:
            on_band(r, unit[..., :new, :], valid[:new])
        for tile in strings:
            groups = groups or len(tile)
            if len(tile) != groups:
                raise SarcompError(f"model returned {len(tile)} string groups for a tile, expected {groups}")
            for s in tile:
                spool.write(s)
                lengths.append(len(s))
        if times is not None:
            times += ms
        bar.update(len(strings))
    bar.close()
    block = complex_block(scene)
    return Header(
        grid,
        scene.representation.units if block is None else "amplitude",
        scene.scaling.lo,
        scene.scaling.hi,
        identity,
        groups,
        stride,
        lengths,
        mask.finish(),
        lmbda=lmbda,
        complex=block,
    )


def complex_block(scene: Scene | ComplexScene) -> ComplexBlock | None:
    """The complex block of a complex scene's file (None for a real scene)."""
    if not isinstance(scene, ComplexScene):
        return None
    rep, spec = scene.representation, scene.spec
    return ComplexBlock(
        rep.form, float32(rep.exponent), float32(rep.percentile), scene.scaling.scale, spec.iq, spec.bands
    )


@torch.no_grad()
def decode_scene(
    model: torch.nn.Module,
    header: Header,
    strings: Iterator[list[bytes]],
    device: torch.device,
    sink: BandSink,
    *,
    name: str = "<bytes>",
    progress: bool = False,
    times: list[float] | None = None,
    throughput: Throughput | None = None,
    flight: Flight | None = None,
) -> None:
    """Decode every tile, blend overlaps, and hand each band of finished rows to ``sink``
    as ([0, 1] float32 values, validity), top to bottom; values are [C, n, W] for a complex
    file's channels, [n, W] otherwise (``throughput``, ``flight``: as :func:`encode_scene`'s)."""
    grid, channels = header.grid, header.channels
    rows, cols, width = grid.rows, grid.cols, grid.width
    throughput = throughput or Throughput()
    masks = mask_rows(header, name)
    carry: np.ndarray | None = None
    bar = tqdm(total=grid.n_tiles, desc="decompress", unit="tile", disable=not progress, file=sys.stderr)

    def read() -> Iterator[tuple[int, int, list[list[bytes]]]]:
        for ri, r in enumerate(rows):
            yield ri, r, [next(strings) for _ in cols]

    def code(row: tuple[int, int, list[list[bytes]]]) -> tuple[list[np.ndarray], list[float]]:
        ri, r, tiles = row
        return decode_row(model, device, header, grid.extent(r, grid.height), tiles, throughput.batch, name)

    for (ri, r, _), (pixels, ms) in ordered_map(read(), code, throughput.workers, flight):
        h = grid.extent(r, grid.height)
        band = np.zeros((channels, h, width), np.float32)
        if carry is not None:
            band[:, : carry.shape[1]] += carry
        wr = _ramp(ri, len(rows), h, grid.overlap)
        for ci, (c, x_hat) in enumerate(zip(cols, pixels)):
            w = x_hat.shape[-1]
            band[:, :, c : c + w] += x_hat * (wr[:, None] * _ramp(ci, len(cols), w, grid.overlap)[None, :])
        if times is not None:
            times += ms
        bar.update(len(pixels))
        done = rows[ri + 1] - r if ri + 1 < len(rows) else h
        valid = np.stack([next(masks) for _ in range(done)])
        sink(r, band[:, :done] if header.complex is not None else band[0, :done], valid)
        carry = band[:, done:]
    bar.close()


# --------------------------------------------------------------------------------------------
# In memory: what evaluation uses


@dataclass
class SceneCode:
    """One scene coded through a ``.sarc`` container in memory (see :func:`code_scene`)."""

    scene: Scene | ComplexScene
    container: bytes  # the file sarcomp compress writes, without its metadata
    ref: np.ndarray  # [0, 1] input, masked pixels 0 ([C, H, W] for a complex scene's channels)
    rec: np.ndarray  # [0, 1] decoded, masked pixels 0
    valid: np.ndarray
    tiles: int
    coded_pixels: int
    clipped: tuple[float, float]  # shares of the valid pixels below lo and above hi
    encode_ms: list[float] = field(default_factory=list)
    decode_ms: list[float] = field(default_factory=list)


def code_scene(
    model: torch.nn.Module,
    scene: Scene | ComplexScene,
    identity: ModelId,
    tile: int,
    overlap: int = 0,
    device: torch.device | str = "cpu",
    lmbda: float | None = None,
) -> SceneCode:
    """Compress ``scene`` into a container in memory, decode that container, return both images.

    The container is byte for byte what :func:`compress_file` writes for the same scene and model,
    less its metadata (georeferencing and notes, which evaluation does not bill).
    """
    from sarcomp.data.rasters import open_raster

    device = torch.device(device)
    scene = scene.stored() if isinstance(scene, ComplexScene) else stored_scaling(scene)
    h, w = scene.info.height, scene.info.width
    grid = scene_grid(h, w, tile, overlap, model)
    shape = (scene.channels, h, w) if isinstance(scene, ComplexScene) else (h, w)
    ref, valid = np.zeros(shape, np.float32), np.zeros((h, w), bool)

    def keep(row: int, unit: np.ndarray, ok: np.ndarray) -> None:
        ref[..., row : row + ok.shape[0], :], valid[row : row + ok.shape[0]] = unit, ok

    enc_ms: list[float] = []
    spool, tally = io.BytesIO(), ClipTally()
    with open_raster(scene.path) as ds:
        header = encode_scene(
            model,
            scene,
            ds,
            grid,
            identity,
            device,
            spool,
            lmbda=lmbda,
            on_band=keep,
            times=enc_ms,
            tally=tally,
        )
    buf = io.BytesIO()
    write_container(buf, header, [spool.getvalue()])
    container = buf.getvalue()
    rec = np.zeros(shape, np.float32)

    def put(row: int, unit: np.ndarray, ok: np.ndarray) -> None:
        rec[..., row : row + ok.shape[0], :] = np.where(ok, unit, 0.0)

    dec_ms: list[float] = []
    parsed, offset = read_header(buf, len(container), str(scene.path))
    decode_scene(model, parsed, iter_strings(buf, parsed, offset), device, put, times=dec_ms)
    return SceneCode(
        scene, container, ref, rec, valid, grid.n_tiles, grid.coded_pixels(), tally.shares, enc_ms, dec_ms
    )


def scene_grid(height: int, width: int, tile: int, overlap: int, model: torch.nn.Module) -> Grid:
    """The tile grid for a scene and model; bad tile or overlap values are one-line errors."""
    try:
        return Grid(height, width, int(tile), int(overlap), int(model.stride))
    except ValueError as exc:
        raise SarcompError(f"tile {tile}, overlap {overlap}: {exc}") from None


# --------------------------------------------------------------------------------------------
# Files


def compress_file(
    src: str | Path,
    dst: str | Path,
    model_ref: str | Path,
    *,
    band: int | None = None,
    tile: int = 256,
    overlap: int = 0,
    device: str = "auto",
    progress: bool = True,
    units: str = "auto",
    band_specs: str | Path | None = None,
    range_rule: str | RangeRule = "scene",
    force: bool = False,
    lmbda: float | None = None,
    quality: int | None = None,
    bpp: float | None = None,
    mkdir: bool = False,
    bands: list[int] | tuple[int, ...] | None = None,
    iq: bool = False,
    batch: int = DEFAULT_BATCH,
    workers: int = 1,
) -> dict[str, Any]:
    """Compress band ``band`` (default 1) of the raster ``src`` into the ``.sarc`` file ``dst`` (atomically),
    or several, ``bands`` (1-based, in that order), into one multi-band file, each coded as one band is.

    ``units`` is what the raster holds (intensity, amplitude, db, display8, or ``auto`` per file:
    see :mod:`sarcomp.data.representation`); ``range_rule`` picks the clip range (``scene``,
    ``model`` or ``"LO,HI"`` dB: :mod:`sarcomp.codec.scaling`). ``band_specs`` is a band-spec file
    (:mod:`sarcomp.data.bandspecs`): its entry for ``src``, if any, sets bands (two-band I/Q too)
    and units instead of ``band`` and ``units``. ``dst`` must not be a raster, nor an existing file
    unless it is a ``.sarc`` file and ``force`` is set (:mod:`sarcomp.codec.guard`); its folder must
    exist unless ``mkdir``. A complex model (``model=complex``) codes a complex band, or with ``iq``
    bands 1 and 2 as I and Q, with their phase (:mod:`sarcomp.codec.complex_files`). At most one of ``lmbda`` (a variable-rate model's λ), ``quality`` (the
    model's or its shipped curve's N-th operating point) and ``bpp`` (the highest-rate point whose
    file is at most that many bits per pixel) chooses the rate (:mod:`sarcomp.codec.rate`).
    ``batch`` (tiles per model call, 1 to 15) and ``workers`` (threads coding tile rows at once)
    set the speed only: the file is the same for all (:mod:`sarcomp.codec.pipeline`).

    Returns ``bytes`` (file size), ``billed_bytes`` (without the metadata: georeferencing and
    notes), ``bpp`` (file bits per scene pixel and band), ``billed_bpp``, ``pixels``, ``bands``
    (the source bands coded), ``tiles``, ``seconds`` (coding and writing, model loading excluded;
    every encoding of a ``bpp`` search included), ``model`` and ``lmbda`` (the point coded),
    ``quality`` (of ``qualities``; None between trained λ), ``rate`` (how the point was chosen),
    ``range`` (the clip range and its rule), ``clipped_low`` / ``clipped_high`` (shares of the valid
    pixels cut off), ``ranges`` and ``clipped`` (the same per band) and ``dropped`` (information
    not coded). With several bands, ``range`` and ``clipped_*`` are the first band's.
    """
    from sarcomp.codec.compressor import CodingSettings, compress_one  # the file pipeline
    from sarcomp.codec.rate import RateRequest

    rule = range_rule if isinstance(range_rule, RangeRule) else scaling.parse_range(range_rule)
    chosen = None if bands is None else tuple(int(b) for b in bands)
    settings = CodingSettings(
        band, tile, overlap, device, progress, units, band_specs, rule, chosen, iq, batch, workers
    )
    return compress_one(src, dst, model_ref, settings, RateRequest(lmbda, quality, bpp), force, mkdir)
