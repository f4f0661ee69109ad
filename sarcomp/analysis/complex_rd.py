"""Rate-distortion measurements of complex (SLC) codecs on interferometric pairs (issue 29).

An item is a pair of acquisitions. Each codec codes each acquisition on its own; a row holds the
rate (bits per complex sample, both acquisitions' bits over both's samples), the amplitude PSNR in
the dB domain and the single-look phase error (means over the two acquisitions), and the
interferometric phase error and coherence bias of the coded pair against the uncompressed one
(:mod:`sarcomp.metrics.interferometry`).

Items: the synthetic pairs of :func:`sarcomp.data.complex_synthetic.pair_scene` (known phase and
coherence), and *self-pairs* of the real SLC test bands: the band and a copy carrying a known
subsidence-bowl phase (coherence 1, real amplitude and speckle). A self-pair measures what coding
does to a real scene's interferometric phase; it has no temporal decorrelation.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rasterio.errors import NotGeoreferencedWarning

from sarcomp.codec.baq import baq
from sarcomp.codec.iq_jpeg2000 import jpeg2000_iq
from sarcomp.data.bandspecs import file_settings, load_band_specs
from sarcomp.data.complex_synthetic import PATTERNS, WAVELENGTH_M, bowl_phase, dataset_seed, pair_scene
from sarcomp.data.complex_tiles import read_complex
from sarcomp.data.identity import file_sha256
from sarcomp.data.rasters import BandSpec, open_raster
from sarcomp.data.representation import Representation
from sarcomp.data.splits import Crop, write_crop
from sarcomp.errors import SarcompError
from sarcomp.metrics.interferometry import (
    DEFAULT_LOOKS,
    amplitude_psnr_db,
    interferometric_errors,
    phase_error_deg,
)

#: the complex files of ../shared/sar (experiments/PROTOCOL.md cuts their test bands)
REAL_SLC_FILES = ("terrasarx_slc.tif", "sentinel1_slc_cargo_chip_29087_y5288.tif")
SELF_PAIR_DEPTH_M = WAVELENGTH_M / 2  # one fringe at the bowl's centre

#: a codec: complex array -> (reconstruction, bits spent)
CodecFn = Callable[[np.ndarray], tuple[np.ndarray, float]]


@dataclass(frozen=True)
class PairItem:
    """Two acquisitions to code, and where they come from."""

    name: str
    group: str
    s1: np.ndarray
    s2: np.ndarray


def synthetic_pairs(count: int, size: int, seed: int = 0) -> list[PairItem]:
    """The first ``count`` pairs of ``scripts/make_complex_synthetic.py --seed seed --size size``."""
    items = []
    for i in range(count):
        s1, s2, _, meta = pair_scene(size, dataset_seed(seed, "pairs", i), PATTERNS[i % len(PATTERNS)])
        items.append(PairItem(f"pair_{i:04d} ({meta['pattern']})", "synthetic", s1, s2))
    return items


def read_slc(path: Path, band_specs: Path) -> np.ndarray:
    """A whole complex raster, its bands as the band-spec file says (complex64 band, or I/Q)."""
    spec, _ = file_settings(path, load_band_specs(band_specs), BandSpec(), Representation())
    with open_raster(path) as ds:
        s, valid = read_complex(ds, spec)
    if not valid.all():
        raise ValueError(f"{path}: {int((~valid).sum())} invalid samples; the baselines need whole scenes")
    return s


def self_pair(name: str, s: np.ndarray) -> PairItem:
    """A real band and its copy with a centred one-fringe subsidence bowl (module doc)."""
    h, w = s.shape
    phase = bowl_phase((h, w), SELF_PAIR_DEPTH_M, 0.25 * max(h, w), ((h - 1) / 2, (w - 1) / 2))
    return PairItem(name, "real SLC test band (self-pair)", s, s * np.exp(-1j * phase))


def protocol_test_bands(source: Path, manifest: Path, band_specs: Path) -> dict[str, np.ndarray]:
    """The protocol's test band of each real SLC file (``experiments/PROTOCOL.md``): cut from
    ``source`` as ``scripts/make_sar_splits.py`` does, checked against the frozen manifest's SHA-256."""
    frozen = json.loads(Path(manifest).read_text())["crops"]
    bands = {}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # the real SLC files have no CRS
        for name in REAL_SLC_FILES:
            entry = frozen[name]["test"]
            path = write_crop(Path(source) / name, Crop(name, "test", tuple(entry["rows"])), Path(tmp))
            if file_sha256(path) != entry["sha256"]:
                raise SarcompError(f"{name}: the test band differs from the frozen manifest {manifest}")
            bands[name] = read_slc(path, band_specs)
    return bands


def measure(
    items: Iterable[PairItem],
    codecs: Sequence[tuple[str, str, CodecFn]],
    looks: tuple[int, int] = DEFAULT_LOOKS,
) -> list[dict]:
    """One row per (item, codec setting); ``codecs`` are (family, setting label, function)."""
    rows = []
    for item in items:
        ref = (item.s1, item.s2)
        for family, setting, code in codecs:
            coded = [code(s) for s in ref]
            test = tuple(r for r, _ in coded)
            errors = interferometric_errors(ref, test, looks)
            rows.append(
                {
                    "item": item.name,
                    "group": item.group,
                    "codec": family,
                    "setting": setting,
                    "bits_per_sample": sum(b for _, b in coded) / (item.s1.size + item.s2.size),
                    "amplitude_psnr_db": float(np.mean([amplitude_psnr_db(r, t) for r, t in zip(ref, test)])),
                    "phase_error_deg": float(np.mean([phase_error_deg(r, t) for r, t in zip(ref, test)])),
                    "ifg_phase_error_deg": errors["phase_error_deg"],
                    "coherence_bias": errors["coherence_bias"],
                }
            )
    return rows


METRICS = ("bits_per_sample", "amplitude_psnr_db", "phase_error_deg", "ifg_phase_error_deg", "coherence_bias")


def mean_rows(rows: Sequence[dict]) -> list[dict]:
    """Rows averaged over the items of each (group, codec, setting), in first-seen order, with
    ``n`` the number of items."""
    keys = list(dict.fromkeys((r["group"], r["codec"], r["setting"]) for r in rows))
    out = []
    for group, codec, setting in keys:
        same = [r for r in rows if (r["group"], r["codec"], r["setting"]) == (group, codec, setting)]
        means = {m: float(np.mean([r[m] for r in same])) for m in METRICS}
        out.append({"group": group, "codec": codec, "setting": setting, "n": len(same), **means})
    return out


def crossing(points: Sequence[tuple[float, float]], threshold: float) -> dict:
    """Where a curve of (rate, error) first goes below ``threshold``, by rate: ``rate`` linearly
    interpolated between the last point at or above and the first below (``None`` when no point
    is below; the lowest rate itself when the first point is already below), with ``measured``
    the bracketing points."""
    pts = sorted(points)
    below = next((k for k, (_, e) in enumerate(pts) if e < threshold), None)
    if below is None:
        return {"rate": None, "measured": pts[-1:] if pts else []}
    if below == 0:
        return {"rate": pts[0][0], "measured": [pts[0]], "at_lowest": True}
    (r0, e0), (r1, e1) = pts[below - 1], pts[below]
    rate = r0 + (e0 - threshold) / (e0 - e1) * (r1 - r0)
    return {"rate": rate, "measured": [(r0, e0), (r1, e1)]}


def table_lines(rows: Sequence[dict]) -> list[str]:
    """Markdown rows (group, codec, setting, rate, amplitude PSNR, phase errors, coherence bias)."""
    return [
        f"| {r['group']} ({r['n']}) | {r['codec']} | {r['setting']} | {r['bits_per_sample']:.2f} | "
        f"{r['amplitude_psnr_db']:.2f} | {r['phase_error_deg']:.2f} | {r['ifg_phase_error_deg']:.2f} | "
        f"{r['coherence_bias']:+.4f} |"
        for r in rows
    ]


def baseline_codecs(baq_bits: Sequence[int], j2k_rates: Sequence[float]) -> list[tuple[str, str, CodecFn]]:
    """(family, setting, function) of BAQ at ``baq_bits`` per I and Q and JPEG 2000 on I/Q at
    ``j2k_rates`` target bits per complex sample; bits are real payload bytes."""

    def baq_at(bits: int) -> CodecFn:
        def code(s: np.ndarray) -> tuple[np.ndarray, float]:
            result = baq(s, bits)
            return result.recon, 8.0 * result.num_bytes

        return code

    def j2k_at(rate: float) -> CodecFn:
        def code(s: np.ndarray) -> tuple[np.ndarray, float]:
            result = jpeg2000_iq(s, rate)
            return result.recon, 8.0 * result.num_bytes

        return code

    return [("BAQ", f"{b} bits", baq_at(b)) for b in baq_bits] + [
        ("JPEG 2000 I/Q", f"target {r:g}", j2k_at(r)) for r in j2k_rates
    ]


def family_crossings(
    rows: Sequence[dict], families: Sequence[str], threshold: float
) -> dict[str, dict[str, dict]]:
    """Per group and codec family: where the interferometric phase error first goes below ``threshold``."""
    out: dict[str, dict[str, dict]] = {}
    for group in dict.fromkeys(r["group"] for r in rows):
        for family in families:
            pts = [
                (r["bits_per_sample"], r["ifg_phase_error_deg"])
                for r in rows
                if (r["group"], r["codec"]) == (group, family)
            ]
            out.setdefault(group, {})[family] = crossing(pts, threshold)
    return out


def describe_crossing(c: dict) -> str:
    """A :func:`crossing` in words, with the measured points that bracket it."""
    if c["rate"] is None:
        if not c["measured"]:
            return "not measured"
        (r, e), *_ = c["measured"]
        return f"not reached (at {r:.2f} bits: {e:.1f}°)"
    if c.get("at_lowest"):
        (r, e), *_ = c["measured"]
        return f"at or below {r:.2f} (its lowest measured rate already gives {e:.1f}°)"
    (r0, e0), (r1, e1) = c["measured"]
    return f"{c['rate']:.2f} (between {r0:.2f} bits: {e0:.1f}° and {r1:.2f} bits: {e1:.1f}°)"


def plot_rd(rows: Sequence[dict], path: Path, families: Sequence[str], threshold: float) -> None:
    """Per group: bits per complex sample against interferometric phase error (log) and amplitude
    PSNR, one curve per codec family; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sarcomp.interpret.figures import save_png

    groups = list(dict.fromkeys(r["group"] for r in rows))
    fig, axes = plt.subplots(len(groups), 2, figsize=(11, 4.2 * len(groups)), squeeze=False)
    for (left, right), group in zip(axes, groups):
        for family, style in zip(families, ("o-", "s-", "^-", "D-", "v-", "x-")):
            pts = sorted(
                (r for r in rows if (r["group"], r["codec"]) == (group, family)),
                key=lambda r: r["bits_per_sample"],
            )
            rate = [r["bits_per_sample"] for r in pts]
            left.plot(rate, [r["ifg_phase_error_deg"] for r in pts], style, label=family)
            right.plot(rate, [r["amplitude_psnr_db"] for r in pts], style, label=family)
        left.axhline(threshold, color="grey", ls="--", lw=1, label=f"{threshold:g}°")
        left.set(yscale="log", ylabel="interferometric phase error [°]", title=group)
        right.set(ylabel="amplitude PSNR [dB] (dB domain)", title=group)
        for ax in (left, right):
            ax.set_xlabel("bits per complex sample")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)
