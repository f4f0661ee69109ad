"""Decoding a ``.sarc`` file into a GeoTIFF: the source's physical units, CRS, transform and nodata
mask, a multi-band file into as many bands, a complex file into one complex64 band (written
atomically)."""

from __future__ import annotations

import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import Affine
from rasterio.windows import Window

from sarcomp.codec import guard
from sarcomp.codec.bands import band_views
from sarcomp.codec.complex_files import check_decoder, complex_values
from sarcomp.codec.container import Header, iter_strings
from sarcomp.codec.engines import check_engine, with_engines
from sarcomp.codec.metadata import Geo
from sarcomp.codec.pipeline import DEFAULT_BATCH, Throughput
from sarcomp.codec.sarcfile import decoder_model, open_sarc, physical_values
from sarcomp.codec.scene import GDAL_CACHE_MB, UNIT_LABELS, BandSink, decode_scene
from sarcomp.devices import pick_device
from sarcomp.fileio import atomic_write


def decompress_file(
    src: str | Path,
    dst: str | Path,
    *,
    model: str | Path | None = None,
    device: str = "auto",
    progress: bool = True,
    force: bool = False,
    mkdir: bool = False,
    batch: int = DEFAULT_BATCH,
    workers: int = 1,
    engine: str = "fp32",
) -> dict[str, Any]:
    """Decode the ``.sarc`` file ``src`` into the GeoTIFF ``dst`` (atomically): physical units of the
    source (intensity, amplitude or dB; display8 as uint8), its CRS, transform and nodata mask; a
    multi-band file into as many bands, in its order, with their descriptions.

    ``model`` is needed only when the file was not made by a shipped model and the run folder or
    checkpoint recorded in it has moved. An existing ``dst`` is replaced only with ``force`` (and
    never when it is a ``.sarc`` file); its folder must exist unless ``mkdir``. ``batch`` and
    ``workers`` set the speed only (:mod:`sarcomp.codec.pipeline`: the same pixels); ``engine``
    runs g_s on a faster engine (:mod:`sarcomp.codec.engines`: ``bf16`` moves pixels by ~0.01 dB). Returns ``bytes``, ``bpp``, ``pixels``, ``seconds``.
    """
    src, dst = Path(src), Path(dst)
    guard.check_output_folder(dst, mkdir)
    guard.check_decompress_output(src, dst, force)
    throughput = Throughput(batch, workers)
    check_engine(engine)
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        return _decompress(src, dst, model, device, progress, throughput, engine)


def _decompress(
    src: Path,
    dst: Path,
    model: str | Path | None,
    device: str,
    progress: bool,
    throughput: Throughput,
    engine: str,
) -> dict[str, Any]:
    dev = pick_device(device, "--device")
    throughput.check_device(dev)
    fh, header, offset = open_sarc(src)
    with fh:
        loaded = decoder_model(header, model, dev, str(src))
        check_decoder(header, loaded.cfg, loaded.source, str(src))
        if engine != "fp32":
            loaded = replace(loaded, model=with_engines(loaded.model, synthesis=engine))
        grid, geo = header.grid, header.geo or Geo()
        is_complex = header.complex is not None
        views = band_views(header, offset)
        table = header.band_table.entries if header.band_table else ()
        display8 = all(view.units == "display8" for view, _ in views)
        nodata = geo.nodata
        if nodata is None and any(view.mask is not None for view, _ in views):
            nodata = 0.0 if display8 else float("nan")
        profile = {
            "driver": "GTiff",
            "dtype": "complex64" if is_complex else ("uint8" if display8 else "float32"),
            "width": grid.width,
            "height": grid.height,
            "count": len(views),
            "nodata": nodata,
            "crs": CRS.from_epsg(geo.crs_epsg)
            if geo.crs_epsg
            else (CRS.from_wkt(geo.crs_wkt) if geo.crs_wkt else None),
            "transform": Affine(*geo.transform) if geo.transform else None,
            "compress": "deflate",
            "BIGTIFF": "IF_SAFER",
        }
        if grid.width >= 256 and grid.height >= 256:
            profile.update(tiled=True, blockxsize=256, blockysize=256)
        start = time.perf_counter()

        def sink_to(out: Any, view: Header, index: int) -> BandSink:
            def sink(row: int, unit: np.ndarray, valid: np.ndarray) -> None:
                fill = nodata if nodata is not None else 0
                values = complex_values if is_complex else physical_values
                physical = values(view, unit, valid, fill)
                window = Window(0, row, grid.width, len(valid))
                out.write(physical.astype(profile["dtype"]), index, window=window)

            return sink

        def write(tmp: Path) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)  # the source had none either
                with rasterio.open(tmp, "w", **profile) as out:
                    for index, (view, start_at) in enumerate(views, 1):
                        strings = iter_strings(fh, view, start_at)
                        sink = sink_to(out, view, index)
                        decode_scene(
                            loaded.model,
                            view,
                            strings,
                            dev,
                            sink,
                            name=str(src),
                            progress=progress,
                            throughput=throughput,
                        )
                    descriptions = [e.description for e in table] or [geo.description]
                    for index, description in enumerate(descriptions, 1):
                        if description:
                            out.set_band_description(index, description)
                    if is_complex:
                        out.units = ("complex amplitude",)
                    else:
                        out.units = tuple(UNIT_LABELS[view.units] for view, _ in views)
                    units = "complex" if is_complex else header.units
                    out.update_tags(sarcomp_units=units, sarcomp_source=geo.source)

        atomic_write(dst, write, suffix=".tmp.tif")
    seconds = time.perf_counter() - start
    size, pixels = src.stat().st_size, grid.height * grid.width
    bpp = 8 * size / (pixels * header.bands)
    return {
        "path": str(dst),
        "bytes": size,
        "bpp": bpp,
        "pixels": pixels,
        "bands": header.bands,
        "seconds": seconds,
    }
