"""Reading SAR rasters through rasterio: windows, band selection, complex data, validity masks.

Everything returned is in physical units (float64) with a boolean mask (True = valid pixel).
Nodata values, NaN and inf are masked so they reach neither the loss nor the metrics.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window

from sarcomp.errors import RasterError

try:  # GDAL errors that rasterio sometimes raises without wrapping them
    from rasterio._err import CPLE_BaseError as _CPLError
except ImportError:  # pragma: no cover - private module moved
    _CPLError = RasterioError

log = logging.getLogger(__name__)

# GDAL reports harmless TIFF tag oddities of real SAR products as warnings, again on every read;
# they are caught around each rasterio call (gdal_messages) and logged once per file.
_GDAL_LOGGER = logging.getLogger("rasterio._env")
_GDAL_LOGGER.addHandler(logging.NullHandler())
_GDAL_LOGGER.propagate = False
_GDAL_REPORTED: set[str] = set()


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def gdal_messages(path: str | Path) -> Iterator[None]:
    """Run rasterio calls on ``path`` with GDAL's messages routed to Python logging (not printed
    as "Warning 1: ..."); the first one is logged once per file, the repeats are dropped."""
    collect = _Collect()
    _GDAL_LOGGER.addHandler(collect)
    try:
        with rasterio.Env():
            yield
    finally:
        _GDAL_LOGGER.removeHandler(collect)
        if collect.messages and str(path) not in _GDAL_REPORTED:
            _GDAL_REPORTED.add(str(path))
            message = re.sub(r"^CPLE_\w+ in (?:[^:]*: )?", "", collect.messages[0])
            log.info("%s: GDAL says %s (shown once per file)", path, message)


RASTER_PATTERNS: tuple[str, ...] = ("*.tif", "*.tiff", "*.png", "*.jp2", "*.img", "*.vrt")
COMPLEX_MODES: tuple[str, ...] = ("intensity", "amplitude", "error")


@dataclass(frozen=True)
class BandSpec:
    """Which bands make one SAR channel, and how complex data become real.

    ``bands`` are 1-based. One band is read as is; two bands with ``iq=True`` are the real and
    imaginary parts of a complex signal. ``complex_to`` turns complex samples into
    ``intensity`` (|s|^2) or ``amplitude`` (|s|); ``error`` refuses complex input.
    """

    bands: tuple[int, ...] = (1,)
    iq: bool = False
    complex_to: str = "intensity"

    def __post_init__(self) -> None:
        if self.complex_to not in COMPLEX_MODES:
            raise ValueError(f"complex_to must be one of {COMPLEX_MODES}, got {self.complex_to!r}")
        if len(self.bands) != (2 if self.iq else 1):
            raise ValueError(f"bands={list(self.bands)}: give one band, or two with iq=true")


@dataclass(frozen=True)
class RasterInfo:
    """Size, type and georeferencing of a raster, read without touching pixels."""

    path: Path
    height: int
    width: int
    count: int
    dtype: str
    nodata: float | None
    crs: str | None
    transform: tuple[float, ...]

    @property
    def is_complex(self) -> bool:
        return np.issubdtype(np.dtype(self.dtype), np.complexfloating)


def list_rasters(folder: str | Path, patterns: Sequence[str] = RASTER_PATTERNS) -> list[Path]:
    """All raster files directly in ``folder`` matching ``patterns``, sorted by name.

    A dangling link matching a pattern is listed (and fails later with "file not found")
    rather than silently dropped from the data set.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RasterError(f"{folder}: data folder does not exist")
    files = sorted(
        {
            p
            for pattern in patterns
            for p in folder.glob(pattern)
            if p.is_file() or (p.is_symlink() and not p.exists())
        }
    )
    if not files:
        raise RasterError(f"{folder}: no raster files ({', '.join(patterns)}) in data folder")
    return files


def open_raster(path: str | Path) -> rasterio.DatasetReader:
    """Open a raster with a one-line error naming the file when it cannot be read."""
    path = Path(path)
    if not path.exists():
        raise RasterError(f"{path}: file not found")
    try:
        with warnings.catch_warnings(), gdal_messages(path):
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except (RasterioError, _CPLError) as exc:
        raise RasterError(f"{path}: not a readable raster ({_first_line(exc)})") from None


def raster_info(path: str | Path) -> RasterInfo:
    """Metadata of a raster file."""
    with open_raster(path) as ds:
        return RasterInfo(
            path=Path(path),
            height=ds.height,
            width=ds.width,
            count=ds.count,
            dtype=ds.dtypes[0],
            nodata=ds.nodata,
            crs=ds.crs.to_string() if ds.crs else None,
            transform=tuple(ds.transform)[:6],
        )


def read_window(
    ds: rasterio.DatasetReader,
    spec: BandSpec,
    window: Window | None = None,
    out_shape: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read one SAR channel from ``ds`` as (values float64 [H, W], valid mask bool [H, W]).

    ``window`` limits the read to a region (large scenes are never read whole);
    ``out_shape`` resamples (nearest) on read, used for cheap scene statistics.
    """
    path = ds.name
    for band in spec.bands:
        if not 1 <= band <= ds.count:
            raise RasterError(f"{path}: band {band} out of range (file has {ds.count} band(s))")
    try:
        with gdal_messages(path):
            data = ds.read(list(spec.bands), window=window, out_shape=_band_shape(spec, out_shape))
            nodata_mask = ds.read_masks(
                list(spec.bands), window=window, out_shape=_band_shape(spec, out_shape)
            )
    except (RasterioError, _CPLError) as exc:
        raise RasterError(f"{path}: read failed, file truncated or corrupt ({_first_line(exc)})") from None
    valid = np.all(nodata_mask > 0, axis=0)
    if spec.iq:
        data = data[0].astype(np.float64) + 1j * data[1].astype(np.float64)
    else:
        data = data[0]
    if np.iscomplexobj(data):
        if spec.complex_to == "error":
            raise RasterError(f"{path}: complex data, but this representation needs real values")
        power = np.abs(data.astype(np.complex128)) ** 2
        values = power if spec.complex_to == "intensity" else np.sqrt(power)
    else:
        values = data.astype(np.float64)
    valid &= np.isfinite(values)
    return values, valid


def _band_shape(spec: BandSpec, out_shape: tuple[int, int] | None) -> tuple[int, int, int] | None:
    return None if out_shape is None else (len(spec.bands), *out_shape)


def _first_line(exc: BaseException) -> str:
    """The most specific line of a GDAL error: rasterio chains the driver's own message as
    the innermost cause ("Read failed. See previous exception" is the outermost)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
