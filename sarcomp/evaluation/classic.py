"""Classic codecs (JPEG, JPEG 2000, WebP, JPEG XL; :mod:`sarcomp.codec.classic`) on test scenes.

They code the same stitched [0, 1] scene image as the learned codec, *whole*, as one file (their
own block/tile structure inside), so no per-tile headers penalise them. Their bpp is from the real
encoded bytes, *headers included* (JFIF / J2K codestream / RIFF / JXL codestream). JPEG 2000 and
JPEG XL code 16-bit samples when ``bits=16``; JPEG and WebP are 8-bit only. Two kinds of results:
a *rate sweep* over each codec's parameter grid (:func:`default_sweep`), and *rate-matched* runs
that code every scene at exactly a learned run's bpp for that scene (bisection on the codec
parameter, :func:`~sarcomp.codec.classic.encode_at_bpp`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sarcomp.codec.classic import CODECS, Codec, available_codecs, build_codec, encode_at_bpp
from sarcomp.codec.scaling import stored_scaling
from sarcomp.data.tiles import Scene, SceneImage, stitch_scene
from sarcomp.evaluation.results import results_payload, scene_record
from sarcomp.fileio import write_json
from sarcomp.metrics.scene import scene_metrics

log = logging.getLogger(__name__)

# Rate sweep grids: JPEG/WebP quality, JPEG XL Butteraugli distance; JPEG 2000 is given as nominal
# bpp (converted to OpenJPEG's compression ratio bits/bpp for the codec's bit depth).
SWEEP_GRIDS: dict[str, tuple[float, ...]] = {
    "jpeg": (2, 5, 10, 20, 30, 45, 60, 75, 85, 95),
    "jpeg2000": (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0),
    "webp": (0, 5, 15, 30, 45, 60, 75, 85, 95, 100),
    "jpegxl": (20.0, 12.0, 8.0, 5.0, 3.5, 2.5, 1.5, 1.0, 0.6, 0.3),
}


# How to install a classic codec's optional backend (pyproject.toml's extras).
INSTALL_HINTS = {"jpegxl": " (JPEG XL comes with the codecs extra: pip install -e '.[codecs]')"}


def classic_codecs(names: Iterable[str], bits: int = 16) -> list[Codec]:
    """Instances of the named codecs at ``bits`` where supported (else 8); missing backends skipped."""
    available, out = set(available_codecs()), []
    for name in names:
        if name.lower() not in available:
            log.warning(
                "classic codec %s is not installed; skipped%s", name, INSTALL_HINTS.get(name.lower(), "")
            )
            continue
        supported = CODECS[name.lower()].supported_bits
        out.append(build_codec(name, bits=bits if bits in supported else 8))
    return out


def codec_label(codec: Codec) -> str:
    return codec.name if codec.bits == 8 else f"{codec.name} {codec.bits}-bit"


def default_sweep(codec: Codec, extra: Sequence[float] = ()) -> list[float]:
    """The rate-sweep parameter grid of a codec, with ``extra`` values in the grid's own units
    (JPEG 2000: nominal bpp → ratio = bits / bpp)."""
    grid = sorted({*SWEEP_GRIDS[codec.name.lower()], *extra}) if extra else SWEEP_GRIDS[codec.name.lower()]
    if codec.name == "JPEG2000":
        low, high = codec.param_range
        return [float(min(max(codec.bits / b, low), high)) for b in grid]
    return [float(p) for p in grid]


def _classic_row(codec: Codec, image: SceneImage, result) -> dict[str, Any]:
    return {
        **scene_record(image),
        "param": float(result.param),
        "bytes": result.num_bytes,
        "bpp": result.bpp,
        **scene_metrics(image, result.recon),
        "encode_ms": 1e3 * result.encode_s,
        "decode_ms": 1e3 * result.decode_s,
    }


def _classic_payload(codec: Codec, rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return results_payload(
        codec_label(codec),
        rows,
        codec=codec.name.lower(),
        bits=codec.bits,
        param_name=codec.param_name,
        headers_counted=True,
        **extra,
    )


def classic_sweep(
    codec: Codec, images: Sequence[SceneImage], params: Sequence[float] | None = None
) -> list[dict[str, Any]]:
    """One payload per parameter value: every scene coded whole at that value."""
    payloads = []
    for param in default_sweep(codec) if params is None else params:
        rows = [_classic_row(codec, im, codec.run(im.ref.astype(np.float64), param)) for im in images]
        payloads.append(_classic_payload(codec, rows, param=float(param), kind="sweep"))
        log.info(
            "%s %s=%g: bpp=%.4f psnr=%.2f",
            codec_label(codec),
            codec.param_name,
            param,
            payloads[-1]["mean"]["bpp"],
            payloads[-1]["mean"]["psnr"],
        )
    return payloads


def classic_matched(
    codec: Codec,
    images: Sequence[SceneImage],
    target_bpp: Mapping[str, float],
    tol: float = 0.02,
    **extra: Any,
) -> dict[str, Any]:
    """Every scene coded at the bpp ``target_bpp[scene path]`` (bisection on the codec parameter)."""
    rows = []
    for im in images:
        target = target_bpp[im.key]
        result = encode_at_bpp(codec, im.ref.astype(np.float64), target, tol=tol)
        rows.append({**_classic_row(codec, im, result), "target_bpp": target})
    return _classic_payload(codec, rows, kind="matched", **extra)


def reference_images(scenes: Sequence[Scene], tile_size: int) -> list[SceneImage]:
    """The stitched [0, 1] scenes, with the float32 clip range that the learned codec's ``.sarc``
    header stores, so classic and learned codecs code the very same image."""
    return [stitch_scene(stored_scaling(s), tile_size) for s in scenes]


def evaluate_classic(
    scenes: Sequence[Scene],
    tile_size: int,
    codec_names: Iterable[str],
    bits: int = 16,
    out: str | Path | None = None,
    data_root: str | None = None,
) -> list[dict[str, Any]]:
    """The classic rate sweep on ``scenes`` (each coded whole); written to ``out`` if given."""
    images = reference_images(scenes, tile_size)
    results = [p for codec in classic_codecs(codec_names, bits) for p in classic_sweep(codec, images)]
    for p in results:
        p.update(data_root=data_root, tile_size=tile_size)
    if out is not None:
        write_json(out, {"results": results})
    return results


def matched_codecs(classic: Mapping[str, Any] | None) -> list[str]:
    """The codecs to code at each run's rates (none when ``classic.match_rates`` is off)."""
    if not classic or not classic.get("match_rates"):
        return []
    return list(classic.get("match_codecs") or classic.get("codecs") or [])


def write_matched(
    classic: Mapping[str, Any] | None,
    images: Sequence[SceneImage],
    rows: Sequence[Mapping[str, Any]],
    path: Path,
    **labels: Any,
) -> Path | None:
    """Every scene coded by the rate-matched classic codecs at the learned codec's bpp for it
    (``rows``), written to ``path``; None when ``classic`` asks for no rate matching."""
    codecs = matched_codecs(classic)
    if not codecs:
        return None
    targets = {r["path"]: r["bpp"] for r in rows}
    results = [
        classic_matched(codec, images, targets, tol=float(classic["tol"]), **labels)
        for codec in classic_codecs(codecs, int(classic["bits"]))
    ]
    write_json(path, {"results": results})
    return path
