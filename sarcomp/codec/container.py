"""The ``.sarc`` container: a compact, versioned, checksummed file of entropy-coded tile strings.

Layout (little-endian; the full description is in ``docs/sarc-format.md``)::

    fixed header   struct FIXED (magic, version, flags, size, tile grid, scaling, model identity kind)
    model id       8-byte hash, or u8 length + ASCII shipped-model name
    lmbda          (flag LMBDA) f32: the operating point of a variable-rate model
    band count     (flag BANDS) u8: bands coded (2 or more; :mod:`sarcomp.codec.bands`)
    lengths        one LEB128 varint per tile and string group, tiles in row-major order (band after band)
    mask           (flag MASK)  varint length + zlib stream of the validity mask, np.packbits per row
    complex        (flag COMPLEX) varint length + complex block (:class:`~sarcomp.codec.complex_block.ComplexBlock`)
    band table     (flag BANDS) varint length + band table (see :class:`~sarcomp.codec.bands.BandTable`)
    geo            (flag GEO)   varint length + georeferencing block (see :class:`~sarcomp.codec.metadata.Geo`)
    notes          (flag NOTES) varint length + notes block (see :class:`~sarcomp.codec.metadata.Notes`)
    strings        the tile strings, concatenated in the order of ``lengths``
    crc32          CRC-32 of every byte before it

Nothing is unpickled or evaluated, and every size is checked against hard limits and against the
bytes actually present before anything is allocated: a truncated, bit-flipped or hostile file is a
one-line :class:`~sarcomp.errors.BitstreamError`. What a decoder needs for the pixels (everything but
the geo and notes blocks) is what evaluation bills; the geo block (CRS, transform, nodata value, band
description, source file name) and the notes (how the clip range was chosen, the share of pixels it
clipped, information the encoder dropped) are metadata, like a GeoTIFF's tags. Files without notes
(written before the flag existed) read as before.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import BinaryIO

import numpy as np

from sarcomp.codec.bands import MAX_BANDS, MAX_TABLE, BandTable
from sarcomp.codec.binio import Reader, varint
from sarcomp.codec.complex_block import MAX_COMPLEX, ComplexBlock
from sarcomp.codec.metadata import MAX_GEO, MAX_NOTES, Geo, Notes
from sarcomp.errors import BitstreamError

MAGIC = b"SARC"
VERSION = 2  # what new files are written as; 1: tables and h_s in floating point (docs/sarc-format.md)
VERSIONS = (1, 2)  # what this sarcomp reads
FLAG_MASK, FLAG_GEO, FLAG_LMBDA, FLAG_NOTES, FLAG_BANDS, FLAG_COMPLEX = 1, 2, 4, 8, 16, 32
FLAGS = FLAG_MASK | FLAG_GEO | FLAG_LMBDA | FLAG_NOTES | FLAG_BANDS | FLAG_COMPLEX
UNITS: tuple[str, ...] = ("intensity", "amplitude", "db", "display8")
ID_HASH, ID_NAME = 0, 1
HASH_BYTES = 8

# magic, version, flags, height, width, tile, overlap, pad, shape_stride, units, groups, lo, hi, id kind
FIXED = struct.Struct("<4sBBIIHHBBBBffB")
MAX_SIDE = 1 << 20  # 1 048 576 px per side
MAX_TILE = 8192
MAX_GROUPS = 32  # string groups per tile: a context model codes y in several (checkerboard: 2 + z)
MAX_NAME = 64
MAX_STRING = 1 << 28  # one tile's string


@dataclass(frozen=True)
class ModelId:
    """Who made a file: a shipped model's name, or a truncated SHA-256 of weights + model config."""

    kind: int
    value: bytes

    @classmethod
    def named(cls, name: str) -> ModelId:
        raw = name.encode("ascii")
        if not 0 < len(raw) <= MAX_NAME:
            raise ValueError(f"shipped model name {name!r} must be 1-{MAX_NAME} ASCII characters")
        return cls(ID_NAME, raw)

    @classmethod
    def hashed(cls, digest: bytes) -> ModelId:
        return cls(ID_HASH, bytes(digest[:HASH_BYTES]))

    def __str__(self) -> str:
        return self.value.decode("ascii") if self.kind == ID_NAME else f"weights {self.value.hex()}"


@dataclass(frozen=True)
class Grid:
    """How a scene is cut into tiles: the decoder rebuilds every tile's window from these numbers.

    Tiles of ``tile`` px start every ``tile - overlap`` px; the last one on each axis ends at the
    scene edge and is padded (edge replicated) only up to the next multiple of ``pad``.
    """

    height: int
    width: int
    tile: int
    overlap: int = 0
    pad: int = 16

    def __post_init__(self) -> None:
        if not (1 <= self.height <= MAX_SIDE and 1 <= self.width <= MAX_SIDE):
            raise ValueError(f"scene {self.height}x{self.width} outside 1..{MAX_SIDE} px per side")
        if not 1 <= self.pad <= 255:
            raise ValueError(f"pad multiple {self.pad} outside 1..255")
        if not (self.pad <= self.tile <= MAX_TILE and self.tile % self.pad == 0):
            raise ValueError(f"tile {self.tile} must be a multiple of {self.pad} up to {MAX_TILE}")
        if not 0 <= self.overlap <= self.tile // 2:
            raise ValueError(f"overlap {self.overlap} must be between 0 and half the tile ({self.tile // 2})")

    def starts(self, n: int) -> list[int]:
        """Tile starts along an axis of ``n`` px: every ``tile - overlap`` until one reaches the edge."""
        out, step = [0], self.tile - self.overlap
        while out[-1] + self.tile < n:
            out.append(out[-1] + step)
        return out

    @property
    def rows(self) -> list[int]:
        return self.starts(self.height)

    @property
    def cols(self) -> list[int]:
        return self.starts(self.width)

    @property
    def n_tiles(self) -> int:
        return len(self.rows) * len(self.cols)

    def extent(self, start: int, n: int) -> int:
        """Real (unpadded) length of the tile starting at ``start`` on an axis of ``n`` px."""
        return min(self.tile, n - start)

    def coded(self, length: int) -> int:
        """Length after padding to the next multiple of ``pad``."""
        return -(-length // self.pad) * self.pad

    def coded_pixels(self) -> int:
        """Pixels the codec actually codes (all tiles, padding included)."""
        hs = [self.coded(self.extent(r, self.height)) for r in self.rows]
        ws = [self.coded(self.extent(c, self.width)) for c in self.cols]
        return sum(hs) * sum(ws)


@dataclass
class Header:
    """Everything before the tile strings."""

    grid: Grid
    units: str
    lo: float
    hi: float
    model: ModelId
    groups: int
    shape_stride: int
    lengths: list[int] = field(default_factory=list)  # n_tiles * groups, row-major tiles
    mask: bytes | None = None  # zlib of packbits rows; None = every pixel valid
    geo: Geo | None = None
    lmbda: float | None = None
    notes: Notes | None = None
    version: int = VERSION
    bands: int = 1  # bands coded; more than one only with a band table
    band_table: BandTable | None = None
    complex: ComplexBlock | None = None  # complex samples with their phase (units: amplitude)

    @property
    def channels(self) -> int:
        """Channels each tile codes: 1, or the complex representation's."""
        return 1 if self.complex is None else self.complex.channels

    def decoder_bytes(self) -> bytes:
        """The bytes a decoder needs besides the model (no geo or notes block): what evaluation bills."""
        g = self.grid
        flags = (
            (FLAG_MASK if self.mask is not None else 0)
            | (FLAG_GEO if self.geo is not None else 0)
            | (FLAG_LMBDA if self.lmbda is not None else 0)
            | (FLAG_NOTES if self.notes is not None else 0)
            | (FLAG_BANDS if self.band_table is not None else 0)
            | (FLAG_COMPLEX if self.complex is not None else 0)
        )
        out = bytearray(
            FIXED.pack(
                MAGIC,
                self.version,
                flags,
                g.height,
                g.width,
                g.tile,
                g.overlap,
                g.pad,
                self.shape_stride,
                UNITS.index(self.units),
                self.groups,
                self.lo,
                self.hi,
                self.model.kind,
            )
        )
        out += (
            self.model.value
            if self.model.kind == ID_HASH
            else bytes([len(self.model.value)]) + self.model.value
        )
        if self.lmbda is not None:
            out += struct.pack("<f", self.lmbda)
        if self.band_table is not None:
            out.append(len(self.band_table.entries))
        for n in self.lengths:
            out += varint(n)
        if self.mask is not None:
            out += varint(len(self.mask)) + self.mask
        if self.complex is not None:
            block = self.complex.pack()
            out += varint(len(block)) + block
        if self.band_table is not None:
            table = self.band_table.pack(UNITS)
            out += varint(len(table)) + table
        return bytes(out)

    def pack(self) -> bytes:
        out = self.decoder_bytes()
        for block in (self.geo, self.notes):
            if block is not None:
                raw = block.pack()
                out += varint(len(raw)) + raw
        return out

    def metadata_bytes(self) -> int:
        """Bytes of the geo and notes blocks (with their lengths): in the file, not billed."""
        return len(self.pack()) - len(self.decoder_bytes())

    def tile_lengths(self, index: int) -> list[int]:
        return self.lengths[index * self.groups : (index + 1) * self.groups]

    def tile_shape(self, h: int, w: int) -> tuple[int, int]:
        """The latent ``shape`` the model's ``decompress`` expects for a coded h x w tile."""
        return -(-h // self.shape_stride), -(-w // self.shape_stride)


def float32(value: float) -> float:
    """``value`` as stored in the header (float32), so encoder and decoder use the same scaling."""
    return float(np.float32(value))


# --------------------------------------------------------------------------------------------
# Writing


def write_container(fh: BinaryIO, header: Header, strings: Iterator[bytes] | Sequence[bytes]) -> int:
    """Write header, strings and CRC to an open binary file; returns the bytes written."""
    crc, total = 0, 0
    for chunk in (header.pack(), *strings):
        fh.write(chunk)
        crc = zlib.crc32(chunk, crc)
        total += len(chunk)
    fh.write(struct.pack("<I", crc))
    return total + 4


# --------------------------------------------------------------------------------------------
# Reading


def read_header(fh: BinaryIO, size: int, name: str) -> tuple[Header, int]:
    """Verify the CRC of an open ``.sarc`` file of ``size`` bytes, then parse its header.

    Returns the header and the offset of the first tile string. Raises :class:`BitstreamError`
    (naming ``name``) for anything malformed.
    """
    if size < FIXED.size + 4:
        raise BitstreamError(f"{name}: not a .sarc file (only {size} bytes)")
    fh.seek(0)
    head = fh.read(FIXED.size)
    if head[:4] != MAGIC:
        raise BitstreamError(f"{name}: not a .sarc file (magic {head[:4]!r}, expected {MAGIC!r})")
    if head[4] not in VERSIONS:
        raise BitstreamError(
            f"{name}: .sarc format version {head[4]}, this sarcomp reads versions "
            + " and ".join(map(str, VERSIONS))
        )
    _check_crc(fh, size, name)
    r = Reader(fh, name, size - 4)
    (_, version, flags, height, width, tile, overlap, pad, shape_stride, units, groups, lo, hi, kind) = (
        r.struct(FIXED)
    )
    if flags & ~FLAGS:
        raise BitstreamError(f"{name}: unknown header flags {flags:#x}")
    if flags & FLAG_COMPLEX and (flags & FLAG_BANDS or units != UNITS.index("amplitude")):
        raise BitstreamError(f"{name}: invalid header (a complex file has one band, units amplitude)")
    if units >= len(UNITS) or not 1 <= groups <= MAX_GROUPS or shape_stride == 0:
        raise BitstreamError(
            f"{name}: invalid header (units {units}, groups {groups}, stride {shape_stride})"
        )
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise BitstreamError(f"{name}: invalid scaling [{lo}, {hi}]")
    try:
        grid = Grid(height, width, tile, overlap, pad)
    except ValueError as exc:
        raise BitstreamError(f"{name}: invalid header ({exc})") from None
    if kind == ID_HASH:
        model = ModelId(ID_HASH, r.take(HASH_BYTES))
    elif kind == ID_NAME:
        n = r.take(1)[0]
        if not 0 < n <= MAX_NAME:
            raise BitstreamError(f"{name}: invalid model name length {n}")
        raw = r.take(n)
        if not raw.isascii():
            raise BitstreamError(f"{name}: model name is not ASCII")
        model = ModelId(ID_NAME, raw)
    else:
        raise BitstreamError(f"{name}: unknown model identity kind {kind}")
    lmbda = r.struct(struct.Struct("<f"))[0] if flags & FLAG_LMBDA else None
    if lmbda is not None and not (np.isfinite(lmbda) and lmbda > 0):
        raise BitstreamError(f"{name}: invalid lmbda {lmbda}")
    bands = r.take(1)[0] if flags & FLAG_BANDS else 1
    if flags & FLAG_BANDS and not 2 <= bands <= MAX_BANDS:
        raise BitstreamError(f"{name}: invalid band count {bands}")
    count = grid.n_tiles * groups * bands
    if count > r.remaining:  # every length takes at least one byte: refuses huge claimed grids
        raise BitstreamError(f"{name}: header claims {count} tile strings, file holds {r.remaining} bytes")
    lengths = [r.varint(MAX_STRING) for _ in range(count)]
    mask = r.take(r.varint(r.remaining)) if flags & FLAG_MASK else None
    complex_ = None
    if flags & FLAG_COMPLEX:
        complex_ = ComplexBlock.unpack(r.take(r.varint(min(MAX_COMPLEX, r.remaining))), name)
    table = None
    if flags & FLAG_BANDS:
        table = BandTable.unpack(r.take(r.varint(min(MAX_TABLE, r.remaining))), name, bands, UNITS)
        first = table.entries[0]
        if (first.units, first.lo, first.hi) != (UNITS[units], lo, hi):
            raise BitstreamError(f"{name}: band table disagrees with the header about the first band")
    geo = None
    if flags & FLAG_GEO:
        geo = Geo.unpack(r.take(r.varint(min(MAX_GEO, r.remaining))))
    notes = None
    if flags & FLAG_NOTES:
        notes = Notes.unpack(r.take(r.varint(min(MAX_NOTES, r.remaining))), name)
    if sum(lengths) != r.remaining:
        raise BitstreamError(
            f"{name}: tile strings need {sum(lengths)} bytes, file holds {r.remaining} after the header"
        )
    header = Header(grid, UNITS[units], lo, hi, model, groups, shape_stride, lengths, mask, geo, lmbda, notes)
    return replace(header, version=version, bands=bands, band_table=table, complex=complex_), r.pos


def iter_strings(fh: BinaryIO, header: Header, offset: int) -> Iterator[list[bytes]]:
    """Each tile's string groups, in order, read from ``offset`` (after :func:`read_header`; of one
    band: :func:`~sarcomp.codec.bands.band_views`)."""
    fh.seek(offset)
    for index in range(header.grid.n_tiles):
        yield [fh.read(n) for n in header.tile_lengths(index)]


def mask_rows(header: Header, name: str) -> Iterator[np.ndarray]:
    """The validity mask one row at a time (bool [width]); all True when the file has no mask."""
    width, height = header.grid.width, header.grid.height
    if header.mask is None:
        row = np.ones(width, bool)
        for _ in range(height):
            yield row
        return
    stride = (width + 7) // 8
    inflate, pending = zlib.decompressobj(), header.mask
    for _ in range(height):
        try:
            raw = inflate.decompress(pending, stride)  # never more than one row at a time
        except zlib.error as exc:
            raise BitstreamError(f"{name}: corrupt nodata mask ({exc})") from None
        pending = inflate.unconsumed_tail
        if len(raw) != stride:
            raise BitstreamError(f"{name}: nodata mask ends early")
        yield np.unpackbits(np.frombuffer(raw, np.uint8), count=width).astype(bool)


class MaskWriter:
    """Builds the mask stream row by row; :meth:`finish` returns None when every pixel was valid."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(9)
        self._parts: list[bytes] = []
        self.any_invalid = False

    def add(self, rows: np.ndarray) -> None:
        self.any_invalid |= not bool(rows.all())
        self._parts.append(self._deflate.compress(np.packbits(rows, axis=1).tobytes()))

    def finish(self) -> bytes | None:
        data = b"".join(self._parts) + self._deflate.flush()
        return data if self.any_invalid else None


def _check_crc(fh: BinaryIO, size: int, name: str) -> None:
    fh.seek(0)
    crc, left = 0, size - 4
    while left:
        chunk = fh.read(min(left, 1 << 20))
        if not chunk:
            raise BitstreamError(f"{name}: file truncated")
        crc = zlib.crc32(chunk, crc)
        left -= len(chunk)
    (stored,) = struct.unpack("<I", fh.read(4))
    if stored != crc:
        raise BitstreamError(f"{name}: checksum mismatch (file truncated or corrupted)")
