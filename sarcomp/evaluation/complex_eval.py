"""Evaluating a complex run (``model=complex``, issue 29): its test scenes through the real
``.sarc`` container, measured as complex samples.

Each test scene (a :class:`~sarcomp.data.complex_tiles.ComplexScene`) is coded as ``sarcomp
compress`` codes it (:func:`~sarcomp.codec.scene.code_scene`: the complex block, tiles, strings,
CRC; bits = the container less its metadata, per complex sample) and decoded back from that
container. Against the original samples: the amplitude PSNR in the dB domain and the
amplitude-weighted phase error (:mod:`sarcomp.metrics.interferometry`); and on a *self-pair*
(the scene and its copy with a known one-fringe bowl, :func:`sarcomp.analysis.complex_rd.self_pair`,
both coded) the interferometric phase error and coherence bias against the uncompressed pair. The
classic codecs code real bands: a complex run gets none (BAQ and JPEG 2000 on I/Q beside a complex
run: ``experiments/complex_study.py``), nor ablation or saved reconstructions (refused).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sarcomp.analysis.complex_rd import self_pair
from sarcomp.codec.container import ModelId
from sarcomp.codec.scene import code_scene, scene_grid
from sarcomp.data.complex_representation import ComplexRepresentation
from sarcomp.data.complex_synthetic import write_raster
from sarcomp.data.complex_tiles import ComplexScene, read_complex
from sarcomp.data.rasters import BandSpec, open_raster
from sarcomp.errors import SarcompError
from sarcomp.evaluation.results import learned_payload, mean_row
from sarcomp.metrics.interferometry import amplitude_psnr_db, interferometric_errors, phase_error_deg

log = logging.getLogger(__name__)

COMPLEX_KEYS = (
    "bpp",
    "amplitude_psnr_db",
    "phase_error_deg",
    "ifg_phase_error_deg",
    "coherence_bias",
    "encode_ms",
    "decode_ms",
)
#: (key, header, format) columns for :func:`sarcomp.analysis.render.format_table`
COMPLEX_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("name", "model", "s"),
    ("params", "params", ",d"),
    ("bpp", "bits/sample", ".4f"),
    ("amplitude_psnr_db", "amp PSNR dB", ".2f"),
    ("phase_error_deg", "phase err °", ".2f"),
    ("ifg_phase_error_deg", "ifg phase err °", ".2f"),
    ("coherence_bias", "coh bias", "+.4f"),
    ("encode_ms", "enc ms", ".1f"),
    ("decode_ms", "dec ms", ".1f"),
)
BYTES_COUNTED = "the .sarc file sarcomp compress writes less its metadata, per complex sample"

#: a codec of complex arrays: samples -> (reconstruction, bits spent)
ArrayCodec = Callable[[np.ndarray], tuple[np.ndarray, float]]


def decoded_samples(scene: ComplexScene, rec: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Decoded channels [C, H, W] back to complex samples, 0 where invalid."""
    return np.where(valid, scene.representation.from_unit(rec, scene.scaling), 0)


def array_codec(
    model: torch.nn.Module,
    identity: ModelId,
    representation: ComplexRepresentation,
    tile: int,
    device: torch.device | str = "cpu",
    lmbda: float | None = None,
) -> ArrayCodec:
    """The learned codec as a function of a complex array: written to a temporary complex64
    GeoTIFF, coded through the container as a file would be; bits without metadata."""

    def code(s: np.ndarray) -> tuple[np.ndarray, float]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "slc.tif"
            write_raster(path, s.astype(np.complex64), {}, 0, "")
            scene = ComplexScene.load(path, BandSpec(), representation)
            coded = code_scene(model, scene, identity, tile, device=device, lmbda=lmbda)
        return decoded_samples(coded.scene, coded.rec, coded.valid), 8.0 * len(coded.container)

    return code


def complex_rows(
    model: torch.nn.Module, scenes: list[ComplexScene], tile: int, device: torch.device, identity: ModelId
) -> list[dict[str, Any]]:
    """One row per scene (module doc)."""
    scene_grid(tile, tile, tile, 0, model)  # a bad tile size is a one-line error
    rows = []
    for scene in scenes:
        coded = code_scene(model, scene, identity, tile, device=device)
        with open_raster(scene.path) as ds:
            s, valid = read_complex(ds, scene.spec)
        s = np.where(valid, s, 0)
        rec = decoded_samples(coded.scene, coded.rec, valid)
        pair = self_pair(scene.path.name, s)
        start = time.perf_counter()
        rec2, _ = array_codec(model, identity, scene.representation, tile, device)(pair.s2)
        pair_ms = (time.perf_counter() - start) * 1e3
        errors = interferometric_errors((pair.s1, pair.s2), (rec, np.where(valid, rec2, 0)), valid=valid)
        pixels = scene.info.height * scene.info.width
        row = {
            "image": scene.path.name,
            "sha256": scene.sha256,
            "height": scene.info.height,
            "width": scene.info.width,
            "valid_fraction": float(valid.mean()),
            "scaling": scene.scaling.as_dict(),
            "complex": scene.record()["complex"],
            "bytes": len(coded.container),
            "bpp": 8 * len(coded.container) / pixels,
            "amplitude_psnr_db": amplitude_psnr_db(s, rec, valid),
            "phase_error_deg": phase_error_deg(s, rec, valid),
            "ifg_phase_error_deg": errors["phase_error_deg"],
            "coherence_bias": errors["coherence_bias"],
            "saturated": coded.clipped[1],
            "encode_ms": float(sum(coded.encode_ms)),
            "decode_ms": float(sum(coded.decode_ms)),
            "self_pair_ms": pair_ms,
        }
        log.info("%s: %.3f bits/sample, ifg %.2f°", row["image"], row["bpp"], row["ifg_phase_error_deg"])
        rows.append(row)
    return rows


def complex_payload(
    name: str, rows: list[dict[str, Any]], model: torch.nn.Module, cfg: Any, data: Any, **extra: Any
) -> dict[str, Any]:
    """A complex run's metrics payload (the schema of :mod:`sarcomp.evaluation.results`, complex keys)."""
    payload = learned_payload(
        name, rows, model, cfg, data, codec="learned-complex", bytes_counted=BYTES_COUNTED, **extra
    )
    payload["mean"] = mean_row(rows, COMPLEX_KEYS)
    return payload


def refuse_real_options(run_dir: Path, data: Any, options: dict[str, bool]) -> None:
    """One line for what a complex run's evaluation cannot do."""
    if not data.get("complex"):
        raise SarcompError(
            f"{run_dir}: a complex run (model=complex) evaluates on complex data; data.root={data.get('root')} "
            "is read as real bands (use data=complex_synthetic or data=complex_geotiff)"
        )
    given = [name for name, on in options.items() if on]
    if given:
        raise SarcompError(f"{run_dir}: {given[0]} is not available for a complex run (model=complex)")
