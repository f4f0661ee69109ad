"""Complex (SLC) scenes for the tile datasets: the phase is kept, not turned into intensity.

:class:`ComplexScene` stands where :class:`sarcomp.data.tiles.Scene` does (``RandomTiles``,
``GridTiles``, run records): ``read_unit`` returns the :class:`ComplexRepresentation` channels
``[C, h, w]`` and a validity mask repeated per channel (so a masked MSE counts each channel once).
A complex64 band, or two real bands read as I + jQ (``iq: true``, e.g. from a band-spec file),
is a complex scene; ``data.complex`` in the data config selects this path
(:func:`sarcomp.data.loaders.load_split`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from sarcomp.data.complex_representation import ComplexRepresentation, ComplexScaling
from sarcomp.data.identity import file_sha256
from sarcomp.data.rasters import BandSpec, RasterInfo, gdal_messages, open_raster, raster_info
from sarcomp.data.tiles import stats_shape
from sarcomp.errors import RasterError


def read_complex(
    ds, spec: BandSpec, window: Window | None = None, out_shape: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(complex128 [H, W], valid mask) of one complex band or two I/Q bands; nodata, NaN and inf
    are invalid. A real single band is refused: it has no phase."""
    bands = list(spec.bands)
    if not spec.iq and not np.issubdtype(np.dtype(ds.dtypes[bands[0] - 1]), np.complexfloating):
        raise RasterError(
            f"{ds.name}: band {bands[0]} is real ({ds.dtypes[bands[0] - 1]}), not complex: no phase"
        )
    shape = None if out_shape is None else (len(bands), *out_shape)
    with gdal_messages(ds.name):
        data = ds.read(bands, window=window, out_shape=shape)
        valid = np.all(ds.read_masks(bands, window=window, out_shape=shape) > 0, axis=0)
    s = data[0] + 1j * data[1].astype(np.float64) if spec.iq else data[0]
    s = s.astype(np.complex128)
    return s, valid & np.isfinite(s)


@dataclass(frozen=True)
class ComplexScene:
    """One complex raster with its representation and per-scene scaling."""

    path: Path
    info: RasterInfo
    spec: BandSpec
    representation: ComplexRepresentation
    scaling: ComplexScaling
    invalid_fraction: float

    @classmethod
    def load(cls, path: str | Path, spec: BandSpec, representation: ComplexRepresentation) -> ComplexScene:
        """Inspect a raster (a decimated read) and fix its scaling; errors name the file."""
        info = raster_info(path)
        with open_raster(path) as ds:
            s, valid = read_complex(ds, spec, out_shape=stats_shape(info))
        if not valid.any():
            raise RasterError(f"{path}: all samples are nodata, NaN or inf")
        scaling = representation.scaling(s, valid)
        return cls(Path(path), info, spec, representation, scaling, 1.0 - float(valid.mean()))

    def stored(self) -> ComplexScene:
        """The scene with its scaling and exponent rounded to float32, as a ``.sarc`` header stores
        them, so the encoder maps samples with exactly the numbers the decoder maps back with."""
        sc, rep = self.scaling, self.representation
        f32 = (float(np.float32(v)) for v in (sc.scale, sc.lo, sc.hi))
        exponent = float(np.float32(rep.exponent))
        return replace(self, scaling=ComplexScaling(*f32), representation=replace(rep, exponent=exponent))

    @cached_property
    def sha256(self) -> str:
        return file_sha256(self.path)

    @property
    def channels(self) -> int:
        return self.representation.channels

    def read_unit(self, ds, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """A window as ([C, h, w] float32 in [0, 1], [C, h, w] valid mask); masked samples are 0."""
        s, valid = read_complex(ds, self.spec, Window(col, row, width, height))
        unit = self.representation.to_unit(np.where(valid, s, 0), self.scaling)
        unit[:, ~valid] = 0.0
        return unit, np.broadcast_to(valid, unit.shape).copy()

    def read_unit_counted(
        self, ds, row: int, col: int, height: int, width: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`read_unit` (the mask [h, w], once), plus per row the valid samples the
        representation clips (int64 [h, 2]: below and above its range; ``iq`` saturates only the
        amplitudes above the scale ``c``, keeping their phase)."""
        s, valid = read_complex(ds, self.spec, Window(col, row, width, height))
        s = np.where(valid, s, 0)
        unit = self.representation.to_unit(s, self.scaling)
        unit[:, ~valid] = 0.0
        amp, sc = np.abs(s), self.scaling
        if self.representation.form == "iq":
            low, high = np.zeros_like(valid), amp > sc.scale
        else:
            level = 20 * np.log10(np.maximum(amp, 1e-30))
            low, high = level < sc.lo, level > sc.hi
        clipped = np.stack([(low & valid).sum(1), (high & valid).sum(1)], axis=1)
        return unit, valid, clipped

    def record(self) -> dict:
        """What a run folder stores about this scene."""
        return {
            "path": str(self.path.resolve()),
            "sha256": self.sha256,
            "height": self.info.height,
            "width": self.info.width,
            "complex": self.representation.form,
            "bands": list(self.spec.bands),
            "iq": self.spec.iq,
            "scaling": self.scaling.as_dict(),
            "invalid_fraction": self.invalid_fraction,
        }
