"""The two metadata blocks of a ``.sarc`` file: georeferencing and notes. Neither is needed to
decode pixels, so evaluation does not bill them (like a GeoTIFF's tags); ``sarcomp decompress``
writes the georeferencing back and ``sarcomp info`` prints both. Layouts: ``docs/sarc-format.md``."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sarcomp.codec.binio import Reader, text_field, varint
from sarcomp.errors import BitstreamError

MAX_GEO = 1 << 16
MAX_NOTES = 1 << 12
MAX_DROPPED = 16  # "dropped" lines in the notes block

# geo block: flags, epsg, then transform (6 f64) and nodata (f64) when flagged; then short strings
GEO_HAS_TRANSFORM, GEO_HAS_NODATA, GEO_HAS_EPSG, GEO_HAS_WKT = 1, 2, 4, 8
GEO_FIXED = struct.Struct("<BIQ")  # flags, EPSG code, source file size in bytes
NOTES_FIXED = struct.Struct("<ff")  # share of valid pixels clipped below lo, above hi


@dataclass
class Geo:
    """Georeferencing carried along (not needed to decode pixels, not billed by evaluation)."""

    crs_epsg: int | None = None
    crs_wkt: str | None = None
    transform: tuple[float, ...] | None = None
    nodata: float | None = None
    description: str = ""
    source: str = ""
    source_bytes: int = 0
    model_hint: str = ""

    def pack(self) -> bytes:
        flags = (
            (GEO_HAS_TRANSFORM if self.transform is not None else 0)
            | (GEO_HAS_NODATA if self.nodata is not None else 0)
            | (GEO_HAS_EPSG if self.crs_epsg is not None else 0)
            | (GEO_HAS_WKT if self.crs_wkt else 0)
        )
        out = bytearray(GEO_FIXED.pack(flags, self.crs_epsg or 0, self.source_bytes))
        if self.transform is not None:
            out += struct.pack("<6d", *self.transform)
        if self.nodata is not None:
            out += struct.pack("<d", self.nodata)
        for text in (self.crs_wkt or "", self.description, self.source, self.model_hint):
            raw = text.encode("utf-8")
            out += varint(len(raw)) + raw
        if len(out) > MAX_GEO:
            raise ValueError(f"georeferencing block of {len(out)} bytes exceeds {MAX_GEO}")
        return bytes(out)

    @classmethod
    def unpack(cls, data: bytes) -> Geo:
        r = Reader(data, "georeferencing block")
        flags, epsg, source_bytes = r.struct(GEO_FIXED)
        transform = r.struct(struct.Struct("<6d")) if flags & GEO_HAS_TRANSFORM else None
        nodata = r.struct(struct.Struct("<d"))[0] if flags & GEO_HAS_NODATA else None
        wkt, description, source, hint = (r.text() for _ in range(4))
        r.done()
        return cls(
            crs_epsg=epsg if flags & GEO_HAS_EPSG else None,
            crs_wkt=wkt or None,
            transform=tuple(transform) if transform is not None else None,
            nodata=nodata,
            description=description,
            source=source,
            source_bytes=source_bytes,
            model_hint=hint,
        )


@dataclass
class Notes:
    """What the encoder chose and what it dropped (not needed to decode, not billed; ``sarcomp info``).

    Layout: clipped shares (2 × f32, fractions of the valid pixels below ``lo`` and above ``hi``),
    the range rule (varint-length UTF-8), then a count (u8) and that many varint-length UTF-8 lines
    naming information the encoder dropped (the phase of complex samples, unread bands).
    """

    range_rule: str = ""
    clipped_low: float = 0.0
    clipped_high: float = 0.0
    dropped: tuple[str, ...] = ()

    def pack(self) -> bytes:
        if len(self.dropped) > MAX_DROPPED:
            raise ValueError(f"{len(self.dropped)} dropped-information notes exceed {MAX_DROPPED}")
        out = bytearray(NOTES_FIXED.pack(self.clipped_low, self.clipped_high))
        out += text_field(self.range_rule) + bytes([len(self.dropped)])
        for text in self.dropped:
            out += text_field(text)
        if len(out) > MAX_NOTES:
            raise ValueError(f"notes block of {len(out)} bytes exceeds {MAX_NOTES}")
        return bytes(out)

    @classmethod
    def unpack(cls, data: bytes, name: str) -> Notes:
        r = Reader(data, f"{name}: notes block")
        low, high = r.struct(NOTES_FIXED)
        if not (0.0 <= low <= 1.0 and 0.0 <= high <= 1.0):
            raise BitstreamError(f"{name}: invalid clipped shares in notes ({low}, {high})")
        rule = r.text()
        count = r.take(1)[0]
        if count > MAX_DROPPED:
            raise BitstreamError(f"{name}: {count} dropped-information notes exceed {MAX_DROPPED}")
        dropped = tuple(r.text() for _ in range(count))
        r.done()
        return cls(rule, low, high, dropped)
