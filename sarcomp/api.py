"""The Python API, for notebooks and scripts: ``sarcomp.compress``, ``sarcomp.decompress`` and
``sarcomp.load_model`` (imported lazily by ``import sarcomp``, which stays light).

:func:`compress` codes a raster file or an array (2-D, or bands first) exactly as ``sarcomp
compress`` does (same tiling, clip range, rate control and ``.sarc`` bytes: an array is written to a
temporary GeoTIFF first) and returns the file's bytes with its header; :func:`decompress` decodes
``.sarc`` bytes or a file to an array in the source's units with its georeferencing ([bands, H, W]
for a multi-band file). Models are loaded once per
process (:mod:`sarcomp.codec.loading`).
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import Affine

from sarcomp.codec import guard
from sarcomp.codec.bands import band_views
from sarcomp.codec.complex_files import check_decoder, complex_values
from sarcomp.codec.compressor import CodingSettings, compress_one
from sarcomp.codec.container import Header, iter_strings
from sarcomp.codec.loading import cached_model
from sarcomp.codec.modelref import LoadedModel
from sarcomp.codec.rate import RateRequest
from sarcomp.codec.sarcfile import decoder_model, open_sarc, open_sarc_bytes, physical_values
from sarcomp.codec.scaling import parse_range
from sarcomp.codec.scene import decode_scene
from sarcomp.devices import pick_device
from sarcomp.errors import SarcompError
from sarcomp.fileio import atomic_write

ARRAY_NAME = "array.tif"  # the source name an array's file records (sarcomp info: "source")


@dataclass(frozen=True)
class Compressed:
    """A ``.sarc`` file in memory: ``data`` (its bytes), ``header`` and what compress reported
    (``info``: model, λ, quality, how the rate was chosen, clip range, clipped shares...)."""

    data: bytes
    header: Header
    info: dict[str, Any] = field(repr=False)

    @property
    def pixels(self) -> int:
        return self.header.grid.height * self.header.grid.width

    @property
    def bpp(self) -> float:
        """Bits per scene pixel and band of the whole file (what ``sarcomp compress`` prints first)."""
        return 8 * len(self.data) / (self.pixels * self.header.bands)

    @property
    def lmbda(self) -> float:
        """The λ the scene was coded at."""
        return float(self.info["lmbda"])

    def __repr__(self) -> str:
        g = self.header.grid
        return (
            f"Compressed({len(self.data)} bytes, {self.bpp:.4f} bpp, {self.header.model} λ {self.lmbda:g}, "
            f"{g.height} x {g.width} px)"
        )

    def save(self, path: str | Path, force: bool = False) -> Path:
        """Write the bytes to ``path`` atomically (never over a raster; an existing ``.sarc`` file
        only with ``force``; the folder must exist)."""
        path = Path(path)
        guard.check_output_folder(path, mkdir=False)
        guard.check_compress_output(None, path, force)
        atomic_write(path, lambda tmp: tmp.write_bytes(self.data))
        return path


@dataclass(frozen=True)
class Decoded:
    """A decoded scene: ``array`` in the source's units (float32 intensity, amplitude or dB, NaN
    where no data; uint8 for 8-bit display renderings, 0 there; [bands, H, W] for a multi-band
    file, else [H, W]), ``valid`` (bool, the same shape), and the
    georeferencing when the file has any (``crs``, ``transform``, the source's ``nodata`` value)."""

    array: np.ndarray
    valid: np.ndarray
    units: str
    crs: CRS | None
    transform: Affine | None
    nodata: float | None
    header: Header = field(repr=False)


def load_model(name: str | Path, device: str = "auto") -> LoadedModel:
    """A shipped model's name, a run folder or a checkpoint, loaded once per process and device
    (the instance :func:`compress` and :func:`decompress` use on that device): ``.model`` (the
    codec), ``.cfg`` (its config), ``.identity``, ``.source``."""
    return cached_model(str(name), pick_device(device))


def compress(
    source: str | Path | np.ndarray,
    model: str | Path | LoadedModel,
    *,
    lmbda: float | None = None,
    quality: int | None = None,
    bpp: float | None = None,
    units: str = "auto",
    band: int | None = None,
    bands: list[int] | tuple[int, ...] | None = None,
    band_specs: str | Path | None = None,
    iq: bool = False,
    range: str = "scene",  # noqa: A002 - the option's name everywhere else (--range, range=)
    tile: int = 256,
    overlap: int = 0,
    device: str = "auto",
    crs: Any = None,
    transform: Affine | None = None,
    nodata: float | None = None,
) -> Compressed:
    """Code a raster file, or an array, into ``.sarc`` bytes (see ``sarcomp compress``).

    At most one of ``lmbda``, ``quality`` and ``bpp`` chooses the rate (:mod:`sarcomp.codec.rate`).
    ``band`` codes one band of a file; ``bands`` (1-based, in order) several into one multi-band
    file, each coded as one band is, with its own clip range. An array is 2-D (one band) or
    [bands, H, W] (every band into one file unless ``band`` or ``bands`` picks): linear intensity by
    default (``units``: what it holds; ``auto`` guesses as for files: uint8 is an 8-bit rendering,
    negative values dB); ``crs``, ``transform`` and ``nodata`` georeference it. The result's ``bpp``
    is bits per pixel and band: 8 · bytes / (pixels × bands). A complex model (``model=complex``)
    codes a complex array (or file band), or with ``iq`` bands 1 and 2 as I and Q, with its phase.
    """
    ref = model.source if isinstance(model, LoadedModel) else str(model)
    if isinstance(source, np.ndarray) and source.ndim == 3 and band is None and bands is None and not iq:
        bands = [k + 1 for k, _ in enumerate(source)]  # (range is the clip-range argument here)
    chosen = None if bands is None else tuple(int(b) for b in bands)
    settings = CodingSettings(
        band, tile, overlap, device, False, units, band_specs, parse_range(range, "range="), chosen, iq
    )
    rate = RateRequest(lmbda, quality, bpp)
    with tempfile.TemporaryDirectory(prefix="sarcomp-") as tmp:
        src = (
            Path(source)
            if not isinstance(source, np.ndarray)
            else _array_file(source, Path(tmp), crs, transform, nodata)
        )
        dst = Path(tmp) / "out.sarc"
        info = compress_one(src, dst, ref, settings, rate)
        data = dst.read_bytes()
    _, header, _ = open_sarc_bytes(data, str(source) if not isinstance(source, np.ndarray) else "<array>")
    return Compressed(data, header, info)


def _array_file(
    array: np.ndarray, folder: Path, crs: Any, transform: Affine | None, nodata: float | None
) -> Path:
    if array.ndim not in (2, 3) or min(array.shape) < 1:
        raise SarcompError(f"compress: give a 2-D array or one of [bands, H, W], not shape {array.shape}")
    array = array if array.ndim == 3 else array[None]
    path = folder / ARRAY_NAME
    profile = {
        "driver": "GTiff",
        "height": array.shape[1],
        "width": array.shape[2],
        "count": array.shape[0],
        "dtype": array.dtype,
        "nodata": nodata,
        "crs": CRS.from_user_input(crs) if crs is not None else None,
        "transform": transform,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # an array without georeferencing
        with rasterio.open(path, "w", **profile) as ds:
            ds.write(array)
    return path


def decompress(source: bytes | str | Path, model: str | Path | None = None, device: str = "auto") -> Decoded:
    """Decode ``.sarc`` bytes or a ``.sarc`` file (``model``: only when it was not made by a shipped
    model and the run folder recorded in it has moved); a multi-band file decodes to [bands, H, W]
    in its band order (``header.band_table`` names each band's source band and description); a
    complex file to complex64 [H, W] (0 where no data)."""
    fh, header, offset = open_sarc_bytes(source) if isinstance(source, bytes) else open_sarc(source)
    name = "<bytes>" if isinstance(source, bytes) else str(source)
    dev = pick_device(device, "device")
    with fh:
        loaded = decoder_model(header, model, dev, name)
        check_decoder(header, loaded.cfg, loaded.source, name)
        grid, views = header.grid, band_views(header, offset)
        display8 = all(view.units == "display8" for view, _ in views)
        shape = (len(views), grid.height, grid.width)
        dtype = np.complex64 if header.complex is not None else (np.uint8 if display8 else np.float32)
        out, valid = np.zeros(shape, dtype), np.zeros(shape, bool)
        for k, (view, start) in enumerate(views):

            def sink(row: int, unit: np.ndarray, ok: np.ndarray, k: int = k, view: Header = view) -> None:
                if view.complex is not None:
                    out[k, row : row + len(ok)] = complex_values(view, unit, ok, 0)
                else:
                    out[k, row : row + len(ok)] = physical_values(view, unit, ok, 0 if display8 else np.nan)
                valid[k, row : row + len(ok)] = ok

            decode_scene(loaded.model, view, iter_strings(fh, view, start), dev, sink, name=name)
        if header.band_table is None:
            out, valid = out[0], valid[0]
    geo = header.geo
    crs = None
    if geo is not None and (geo.crs_epsg or geo.crs_wkt):
        crs = CRS.from_epsg(geo.crs_epsg) if geo.crs_epsg else CRS.from_wkt(geo.crs_wkt)
    transform = Affine(*geo.transform) if geo is not None and geo.transform else None
    return Decoded(out, valid, header.units, crs, transform, geo.nodata if geo else None, header)
