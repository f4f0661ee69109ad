"""Several bands of one raster in one ``.sarc`` file: the band table and per-band views of a header.

A multi-band file (header flag ``BANDS``, ``docs/sarc-format.md``) is a single-band file whose
fixed header, clip range, nodata mask, notes and georeferencing are those of its first band, plus a
band count after λ, the tile-string lengths of every band (band after band) and a band table after
the mask. Each band is coded exactly as a single band would be; :func:`band_views` turns the header
back into one single-band header per band, so decoding reuses the single-band path unchanged.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from sarcomp.codec.binio import Reader, text_field, varint
from sarcomp.errors import BitstreamError, SarcompError

if TYPE_CHECKING:
    from sarcomp.codec.container import Header

MAX_BANDS = 64
MAX_TABLE = 1 << 16
BAND_FIXED = struct.Struct("<HBffff")  # source band, units code, lo, hi, clipped low, clipped high


@dataclass(frozen=True)
class BandEntry:
    """One coded band: where it came from, how it was scaled, what the clip range cut off."""

    source: int  # 1-based band of the source raster
    units: str
    lo: float
    hi: float
    clipped_low: float = 0.0
    clipped_high: float = 0.0
    description: str = ""
    mask: bytes | None = None  # zlib of packbits rows; always None for the first band (in the header)


@dataclass(frozen=True)
class BandTable:
    """The band table of a multi-band file (band order = the order of the tile strings)."""

    entries: tuple[BandEntry, ...]

    def pack(self, units_codes: tuple[str, ...]) -> bytes:
        out = bytearray([len(self.entries)])
        for e in self.entries:
            out += BAND_FIXED.pack(
                e.source, units_codes.index(e.units), e.lo, e.hi, e.clipped_low, e.clipped_high
            )
            out += text_field(e.description)
            out += varint(len(e.mask or b"")) + (e.mask or b"")
        if len(out) > MAX_TABLE:
            raise ValueError(f"band table of {len(out)} bytes exceeds {MAX_TABLE}")
        return bytes(out)

    @classmethod
    def unpack(cls, data: bytes, name: str, count: int, units_codes: tuple[str, ...]) -> BandTable:
        r = Reader(data, f"{name}: band table")
        if r.take(1)[0] != count:
            raise BitstreamError(f"{name}: band table does not list the header's {count} bands")
        entries = []
        for _ in range(count):
            source, units, lo, hi, low, high = r.struct(BAND_FIXED)
            if units >= len(units_codes) or source < 1:
                raise BitstreamError(f"{name}: invalid band table entry (units {units}, band {source})")
            if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
                raise BitstreamError(f"{name}: invalid band scaling [{lo}, {hi}]")
            if not (0.0 <= low <= 1.0 and 0.0 <= high <= 1.0):
                raise BitstreamError(f"{name}: invalid clipped shares in band table ({low}, {high})")
            description = r.text()
            mask = r.take(r.varint(r.remaining)) or None
            entries.append(BandEntry(source, units_codes[units], lo, hi, low, high, description, mask))
        r.done()
        if len({e.source for e in entries}) != count:
            raise BitstreamError(f"{name}: band table lists a source band twice")
        if entries[0].mask is not None:
            raise BitstreamError(f"{name}: band table holds a mask for the first band")
        return cls(tuple(entries))


def band_views(header: Header, offset: int) -> list[tuple[Header, int]]:
    """One single-band header per coded band, with the offset of its first tile string."""
    if header.band_table is None:
        return [(header, offset)]
    per_band = header.grid.n_tiles * header.groups
    views = []
    for k, e in enumerate(header.band_table.entries):
        lengths = header.lengths[k * per_band : (k + 1) * per_band]
        mask = header.mask if k == 0 else e.mask
        view = replace(
            header, units=e.units, lo=e.lo, hi=e.hi, lengths=lengths, mask=mask, bands=1, band_table=None
        )
        views.append((view, offset))
        offset += sum(lengths)
    return views


def parse_bands(text: str | None) -> tuple[int, ...] | None:
    """``--bands 1,2,3`` as a tuple (None when not given); malformed lists are one-line errors."""
    if text is None:
        return None
    try:
        bands = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        raise SarcompError(f"--bands {text}: give 1-based band numbers separated by commas") from None
    return bands


def check_bands(src: object, bands: tuple[int, ...], count: int) -> None:
    """Refuse band numbers outside 1..count, repeated ones, or more than :data:`MAX_BANDS`."""
    listed = ",".join(map(str, bands))
    bad = [b for b in bands if not 1 <= b <= count]
    if bad:
        raise SarcompError(f"{src}: --bands {listed}: band {bad[0]} outside 1..{count}")
    if len(set(bands)) != len(bands):
        raise SarcompError(f"{src}: --bands {listed}: a band is named twice")
    if not 1 <= len(bands) <= MAX_BANDS:
        raise SarcompError(f"{src}: --bands {listed}: give 1 to {MAX_BANDS} bands")


def combine(headers: list[Header], sources: list[int]) -> Header:
    """The header of a multi-band file from the single-band headers of its bands, in order."""
    first = headers[0]
    entries = tuple(
        BandEntry(
            source,
            h.units,
            h.lo,
            h.hi,
            h.notes.clipped_low if h.notes else 0.0,
            h.notes.clipped_high if h.notes else 0.0,
            h.geo.description if h.geo else "",
            None if k == 0 else h.mask,
        )
        for k, (h, source) in enumerate(zip(headers, sources, strict=True))
    )
    lengths = [n for h in headers for n in h.lengths]
    return replace(first, lengths=lengths, bands=len(headers), band_table=BandTable(entries))
