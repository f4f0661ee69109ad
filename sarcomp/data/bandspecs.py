"""Per-file band specs of a data folder: what each raster holds, said once instead of guessed.

A band-spec file (YAML) maps file-name patterns to bands and units; the first matching entry
applies, keys it leaves out come from the ``data`` config::

    files:
      - pattern: "sentinel1_slc_*.tif"   # fnmatch on the file name
        bands: [1, 2]                    # 1-based
        iq: true                         # two real bands are I and Q
        complex_to: intensity            # |s|^2 (or amplitude |s|)
      - pattern: "sentinel1_grd_*chip*.tif"
        units: amplitude                 # intensity | amplitude | db | display8

It is ``data.band_specs`` when set, else ``<data.root>/bands.yaml`` when that file exists.
A matching entry wins over ``data.bands``/``iq``/``complex_to`` and ``representation.units``.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from sarcomp.data.rasters import BandSpec
from sarcomp.data.representation import UNITS, Representation
from sarcomp.errors import SarcompError

log = logging.getLogger(__name__)

SPEC_FILE = "bands.yaml"
_KEYS = ("pattern", "bands", "iq", "complex_to", "units")


@dataclass(frozen=True)
class FileSpec:
    """One entry of a band-spec file: a pattern and the settings it fixes (None = from the config)."""

    pattern: str
    bands: tuple[int, ...] | None = None
    iq: bool | None = None
    complex_to: str | None = None
    units: str | None = None

    def apply(self, spec: BandSpec, representation: Representation) -> tuple[BandSpec, Representation]:
        band = BandSpec(
            bands=self.bands if self.bands is not None else spec.bands,
            iq=self.iq if self.iq is not None else spec.iq,
            complex_to=self.complex_to or spec.complex_to,
        )
        return band, replace(representation, units=self.units) if self.units else representation


@dataclass(frozen=True)
class BandSpecs:
    """The entries of one band-spec file, in order."""

    source: Path
    entries: tuple[FileSpec, ...]

    def match(self, path: str | Path) -> FileSpec | None:
        name = Path(path).name
        return next((e for e in self.entries if fnmatch.fnmatch(name, e.pattern)), None)


def spec_file(data_cfg: Mapping[str, Any]) -> Path | None:
    """The band-spec file for a data config: ``band_specs`` if set, else ``<root>/bands.yaml``."""
    given = data_cfg.get("band_specs")
    if given:
        path = Path(str(given)).expanduser()
        if not path.is_file():
            raise SarcompError(f"{path}: band-spec file not found (data.band_specs)")
        return path
    default = Path(str(data_cfg["root"])) / SPEC_FILE
    return default if default.is_file() else None


def load_band_specs(path: str | Path) -> BandSpecs:
    """Read and check a band-spec file; errors name the file and the entry."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SarcompError(f"{path}: cannot read band-spec file ({str(exc).splitlines()[0]})") from None
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, list) or not files:
        raise SarcompError(f"{path}: a band-spec file needs a non-empty list `files:` of entries")
    return BandSpecs(path, tuple(_entry(path, k, e) for k, e in enumerate(files)))


def _entry(path: Path, index: int, raw: Any) -> FileSpec:
    where = f"{path}: files[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("pattern"), str):
        raise SarcompError(f"{where}: each entry needs a `pattern:` (a file-name glob)")
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise SarcompError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(_KEYS)}")
    units = raw.get("units")
    if units is not None and (units not in UNITS or units == "auto"):
        raise SarcompError(f"{where}: units must be one of {', '.join(u for u in UNITS if u != 'auto')}")
    entry = FileSpec(
        pattern=raw["pattern"],
        bands=tuple(int(b) for b in raw["bands"]) if raw.get("bands") is not None else None,
        iq=bool(raw["iq"]) if raw.get("iq") is not None else None,
        complex_to=raw.get("complex_to"),
        units=units,
    )
    try:  # the band settings must make a valid BandSpec on their own (bands vs iq, complex_to)
        bands = entry.bands or ((1, 2) if entry.iq else (1,))
        BandSpec(bands=bands, iq=bool(entry.iq), complex_to=entry.complex_to or "intensity")
    except ValueError as exc:
        raise SarcompError(f"{where}: {exc}") from None
    return entry


def file_settings(
    path: Path, specs: BandSpecs | None, spec: BandSpec, representation: Representation
) -> tuple[BandSpec, Representation]:
    """The band spec and representation for one file: its band-spec entry applied, if any."""
    entry = specs.match(path) if specs is not None else None
    if entry is None:
        return spec, representation
    log.info("%s: settings from %s (pattern %r)", path, specs.source, entry.pattern)
    try:
        return entry.apply(spec, representation)
    except ValueError as exc:
        raise SarcompError(f"{path}: {specs.source} pattern {entry.pattern!r}: {exc}") from None
