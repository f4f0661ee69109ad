"""One raster into one ``.sarc`` file at a chosen operating point (:func:`compress_one`).

The steps: refuse the output if it must not be written (:mod:`sarcomp.codec.guard`); pick the
operating point (:mod:`sarcomp.codec.rate`: ``--lmbda``, ``--quality``, or a ``--bpp`` search that
codes the scene at several points); read the scene as the model's training representation and the
range rule say (:mod:`sarcomp.codec.scaling`); code every tile (:func:`~sarcomp.codec.scene.encode_scene`)
into a spool; write header, strings and CRC atomically. Models come from the process-wide cache
(:mod:`sarcomp.codec.loading`), so many files cost one model load.

A scene whose valid pixels all have one value inside the clip range (a constant raster, such as
an all-zero one) is refused: there is nothing to compress, and such a file is most often a failed
product. (A clip range that cuts off every pixel gets the clip warning instead.)
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import rasterio

from sarcomp.codec import bands as multiband
from sarcomp.codec import complex_files, guard, scaling
from sarcomp.codec.container import Geo, Header, Notes, float32, write_container
from sarcomp.codec.loading import cached_model
from sarcomp.codec.modelref import LoadedModel
from sarcomp.codec.pipeline import DEFAULT_BATCH, Throughput
from sarcomp.codec.rate import Curve, Point, RateRequest, choose, curve_for, search_bpp
from sarcomp.codec.scaling import ClipTally, RangeRule
from sarcomp.codec.scene import GDAL_CACHE_MB, SPOOL_BYTES, encode_scene, scene_grid
from sarcomp.data.bandspecs import file_settings, load_band_specs
from sarcomp.data.complex_representation import ComplexRepresentation
from sarcomp.data.complex_tiles import ComplexScene
from sarcomp.data.rasters import BandSpec, open_raster, raster_info
from sarcomp.data.tiles import Scene
from sarcomp.devices import pick_device
from sarcomp.errors import SarcompError
from sarcomp.fileio import atomic_write


@dataclass(frozen=True)
class CodingSettings:
    """How files are read and tiled (``sarcomp compress`` options other than the model and rate)."""

    band: int | None = None
    tile: int = 256
    overlap: int = 0
    device: str = "auto"
    progress: bool = True
    units: str = "auto"
    band_specs: str | Path | None = None
    range_rule: RangeRule = field(default_factory=RangeRule)
    bands: tuple[int, ...] | None = None  # several: one multi-band file (sarcomp.codec.bands)
    iq: bool = False  # bands 1 and 2 are I and Q (a complex model: sarcomp.codec.complex_files)
    batch: int = DEFAULT_BATCH  # tiles per model call (sarcomp.codec.pipeline: same bytes for any)
    workers: int = 1  # threads coding tile rows at once (same bytes for any)

    def __post_init__(self) -> None:
        Throughput(self.batch, self.workers)  # a bad --batch or --workers: one error, before any file


@dataclass
class _Prepared:
    """The scene as one model reads it (models trained on the same data share it)."""

    scene: Scene | ComplexScene
    spec: BandSpec
    dropped: tuple[str, ...]
    how: str  # the clip range and its rule, e.g. "[-30, 0.3] dB (scene percentiles 0.5, 99.5)"


@dataclass
class _Encoded:
    """The scene coded at one point: header (with its metadata) and the tile strings in ``spool``."""

    point: Point
    loaded: LoadedModel
    header: Header
    spool: BinaryIO
    strings: int  # bytes in the spool
    tally: ClipTally
    prepared: _Prepared
    others: list[tuple[_Prepared, ClipTally]] = field(default_factory=list)  # bands after the first

    @property
    def file_bytes(self) -> int:
        return len(self.header.pack()) + self.strings + 4


def compress_one(
    src: str | Path,
    dst: str | Path,
    model_ref: str | Path,
    settings: CodingSettings,
    rate: RateRequest | None = None,
    force: bool = False,
    mkdir: bool = False,
) -> dict[str, Any]:
    """Compress ``src`` into ``dst`` (see :func:`sarcomp.codec.scene.compress_file` for the result)."""
    src, dst = Path(src), Path(dst)
    guard.check_output_folder(dst, mkdir)
    guard.check_compress_output(src, dst, force)
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        return _SceneCoder(src, settings).write(dst, model_ref, rate or RateRequest())


class _SceneCoder:
    """Codes one raster at whichever points rate control asks for."""

    def __init__(self, src: Path, settings: CodingSettings):
        self.src, self.s = src, settings
        self.device = pick_device(settings.device, "--device")
        self.seconds = 0.0  # coding and writing, model loading and scene statistics excluded
        self._prepared: dict[str, _Prepared] = {}
        self._specs = load_band_specs(settings.band_specs) if settings.band_specs is not None else None
        self.bands = self._check_bands(settings)
        self.throughput = Throughput(settings.batch, settings.workers)
        self.throughput.check_device(self.device)

    def write(self, dst: Path, model_ref: str | Path, rate: RateRequest) -> dict[str, Any]:
        curve = curve_for(model_ref, lambda: tuple(cached_model(model_ref, self.device).model.lmbdas))
        point = choose(rate, curve)
        probes = 1
        if point is None:
            best: list[_Encoded] = []  # the highest-rate encoding under the target so far
            point, _, probes = search_bpp(rate.bpp, curve, lambda p: self._probe(p, rate.bpp, best))
            chosen = best[0]
        else:
            chosen = self._encode(point)
        with chosen.spool:

            def write(tmp: Path) -> None:
                chosen.spool.seek(0)
                with open(tmp, "wb") as fh:
                    write_container(fh, chosen.header, iter(lambda: chosen.spool.read(1 << 20), b""))

            start = time.perf_counter()
            atomic_write(dst, write)
            self.seconds += time.perf_counter() - start
        for prep, tally in [(chosen.prepared, chosen.tally), *chosen.others]:
            scaling.warn_if_clipped(self.src, tally.shares, self.s.range_rule, prep.how)
        return self._result(dst, chosen, curve, rate, probes, self.seconds)

    def _probe(self, point: Point, target: float, best: list[_Encoded]) -> float:
        encoded = self._encode(point)
        pixels = encoded.header.grid.height * encoded.header.grid.width * encoded.header.bands
        bpp = 8 * encoded.file_bytes / pixels
        if bpp <= target and (not best or point.rank > best[0].point.rank):
            for old in best:
                old.spool.close()
            best[:] = [encoded]
        else:
            encoded.spool.close()
        return bpp

    def _check_bands(self, s: CodingSettings) -> tuple[int, ...] | None:
        """The bands of a multi-band file (None: one band, today's single-band file)."""
        if s.bands is None:
            return None
        if s.band is not None:
            raise SarcompError(f"{self.src}: give --band or --bands, not both")
        multiband.check_bands(self.src, s.bands, raster_info(self.src).count)
        if len(s.bands) == 1:
            self.s = replace(s, band=s.bands[0], bands=None)
            return None
        return s.bands

    def _prepare(self, loaded: LoadedModel, band: int | None = None) -> _Prepared:
        form = complex_files.complex_form(loaded.cfg)
        if form is not None:
            return self._prepare_complex(loaded, form)
        if self.s.iq:
            complex_files.refuse_iq_for_real_model(self.src, loaded.source)
        cfg_data = loaded.cfg.get("data") or {}
        training = scaling.training_representation(loaded.cfg)
        key = f"{training}|{cfg_data.get('complex_to', 'intensity')}|{band}"
        if key not in self._prepared:
            s = self.s
            try:
                spec = BandSpec(
                    bands=(int(band or s.band or 1),), complex_to=str(cfg_data.get("complex_to", "intensity"))
                )
            except ValueError as exc:
                raise SarcompError(f"--band: {exc}") from None
            try:
                rep = replace(training, units=s.units)
            except ValueError as exc:
                raise SarcompError(f"--units: {exc}") from None
            spec, rep = file_settings(self.src, self._specs, spec, rep)
            if band is not None:  # a band-spec entry gives units and complex_to; --bands the bands
                if spec.iq:
                    raise SarcompError(f"{self.src}: --bands codes real bands; the band spec reads I/Q")
                spec = replace(spec, bands=(band,))
            scene = scaling.load_for_coding(self.src, spec, rep, s.range_rule, training)
            described = self._specs is not None and self._specs.match(self.src) is not None
            guessed = rep.units == "auto" and not scene.info.is_complex  # resolve_units warned already
            asked = s.band is not None or band is not None
            dropped = guard.dropped_information(
                self.src, scene.info, spec, asked, described, guessed, self.bands
            )
            self._prepared[key] = _Prepared(scene, spec, dropped, scaling.describe(s.range_rule, scene))
        return self._prepared[key]

    def _prepare_complex(self, loaded: LoadedModel, form: ComplexRepresentation) -> _Prepared:
        """The scene as a complex model reads it: its phase kept (:mod:`sarcomp.codec.complex_files`)."""
        key = f"complex|{form}"
        if key not in self._prepared:
            s = self.s
            options = {"--bands": self.bands is not None, "--range": s.range_rule.kind != "scene"}
            options["--units"] = s.units != "auto"
            scene = complex_files.complex_scene(
                self.src, form, loaded.source, band=s.band, iq=s.iq, specs=self._specs, real_options=options
            )
            described = self._specs is not None and self._specs.match(self.src) is not None
            dropped = guard.dropped_information(
                self.src, scene.info, scene.spec, s.band is not None, described, False, phase_kept=True
            )
            self._prepared[key] = _Prepared(scene, scene.spec, dropped, complex_files.describe(scene))
        return self._prepared[key]

    def _encode(self, point: Point) -> _Encoded:
        loaded = cached_model(point.model, self.device)
        spool = tempfile.SpooledTemporaryFile(SPOOL_BYTES)  # noqa: SIM115 - closed by the caller
        start = time.perf_counter()
        try:
            coded = [self._encode_band(loaded, point, spool, band) for band in self.bands or (None,)]
        except BaseException:
            spool.close()
            raise
        header, prep, tally = coded[0]
        if self.bands is not None:
            header = multiband.combine([h for h, _, _ in coded], [p.spec.bands[0] for _, p, _ in coded])
        self.seconds += time.perf_counter() - start
        others = [(p, t) for _, p, t in coded[1:]]
        return _Encoded(point, loaded, header, spool, spool.tell(), tally, prep, others)

    def _encode_band(
        self, loaded: LoadedModel, point: Point, spool: BinaryIO, band: int | None
    ) -> tuple[Header, _Prepared, ClipTally]:
        """Code one band into ``spool`` (after the bands before it); its header carries its metadata."""
        prep = self._prepare(loaded, band)
        scene = prep.scene
        grid = scene_grid(scene.info.height, scene.info.width, self.s.tile, self.s.overlap, loaded.model)
        variable = bool(getattr(loaded.model, "lmbdas", ()))
        lmbda = (point.lmbda or float(loaded.model.lmbda)) if variable else None
        tally, spread = ClipTally(), _Spread()
        with open_raster(self.src) as ds:
            header = encode_scene(
                loaded.model,
                scene,
                ds,
                grid,
                loaded.identity,
                self.device,
                spool,
                lmbda=lmbda,
                progress=self.s.progress,
                on_band=spread.add,
                tally=tally,
                throughput=self.throughput,
            )
            header.geo = _geo(ds, prep.spec.bands[0], self.src, loaded.source)
        spread.check(f"{self.src}" + (f" band {band}" if band else ""), prep.how, tally)
        header.notes = Notes(prep.how, *(float32(v) for v in tally.shares), prep.dropped)
        return header, prep, tally

    def _result(
        self, dst: Path, e: _Encoded, curve: Curve, rate: RateRequest, probes: int, seconds: float
    ) -> dict[str, Any]:
        size = dst.stat().st_size
        billed = size - e.header.metadata_bytes()
        grid = e.header.grid
        pixels, count = grid.height * grid.width, e.header.bands
        lmbda = e.header.lmbda if e.header.lmbda is not None else float(e.loaded.model.lmbda)
        quality = curve.quality_of(e.point.model, e.header.lmbda)
        return {
            "path": str(dst),
            "bytes": size,
            "billed_bytes": billed,
            "bpp": 8 * size / (pixels * count),
            "billed_bpp": 8 * billed / (pixels * count),
            "pixels": pixels,
            "bands": [p.spec.bands[0] for p in (e.prepared, *(p for p, _ in e.others))],
            "tiles": grid.n_tiles,
            "seconds": seconds,
            "model": e.point.model,
            "model_id": str(e.loaded.identity),
            "lmbda": lmbda,
            "variable_rate": e.header.lmbda is not None,
            "quality": quality,
            "qualities": len(curve.points),
            "rate": _how_chosen(rate, e, probes),
            "encodings": probes,
            "range": e.prepared.how,
            "ranges": [e.prepared.how, *(p.how for p, _ in e.others)],
            "clipped": [e.tally.shares, *(t.shares for _, t in e.others)],
            "clipped_low": e.tally.shares[0],
            "clipped_high": e.tally.shares[1],
            "dropped": list(e.prepared.dropped),
        }


class _Spread:
    """Smallest and largest coded value over the valid pixels (a constant scene is refused)."""

    def __init__(self) -> None:
        self.lo, self.hi = np.inf, -np.inf

    def add(self, _row: int, unit: np.ndarray, valid: np.ndarray) -> None:
        if valid.any():
            values = unit[..., valid]  # [n, W] or a complex scene's channels [C, n, W]
            self.lo, self.hi = min(self.lo, float(values.min())), max(self.hi, float(values.max()))

    def check(self, src: str, how: str, tally: ClipTally) -> None:
        """Refuse a scene constant inside its clip range; one the range cuts off whole gets the
        clip warning instead (:func:`~sarcomp.codec.scaling.warn_if_clipped`)."""
        cut_off = tally.valid in (tally.low, tally.high)
        if self.hi <= self.lo and not cut_off:
            raise SarcompError(
                f"{src}: every valid pixel has the same value (coded as {self.lo:g} on [0, 1] in the clip "
                f"range {how}): the raster is constant, e.g. all zero; nothing to compress"
            )


def _how_chosen(rate: RateRequest, e: _Encoded, probes: int) -> str:
    if rate.lmbda is not None:
        return f"--lmbda {rate.lmbda:g}"
    if rate.quality is not None:
        return f"--quality {rate.quality}"
    if rate.bpp is not None:
        return f"--bpp {rate.bpp:g} ({probes} encodings searched)"
    if e.header.lmbda is not None:
        lmbdas = e.loaded.model.lmbdas
        return f"the model's default λ (trained λ {lmbdas[0]:g} to {lmbdas[-1]:g}; --lmbda, --quality or --bpp choose)"
    return "the model's trained λ"


def _geo(ds: Any, band: int, src: Path, model_source: str) -> Geo:
    crs = ds.crs
    epsg = crs.to_epsg() if crs else None
    return Geo(
        crs_epsg=epsg,
        crs_wkt=crs.to_wkt() if crs and epsg is None else None,
        transform=tuple(float(v) for v in tuple(ds.transform)[:6]),
        nodata=None if ds.nodata is None else float(ds.nodata),
        description=ds.descriptions[band - 1] or "",
        source=src.name,
        source_bytes=src.stat().st_size,
        model_hint=model_source if Path(model_source).exists() else "",
    )
