"""The .sarc container: round trip of every field, and every way of corrupting a file is refused."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest

from sarcomp.codec.container import (
    FIXED,
    MAX_SIDE,
    Geo,
    Grid,
    Header,
    MaskWriter,
    ModelId,
    Notes,
    iter_strings,
    mask_rows,
    read_header,
    write_container,
)
from sarcomp.codec.metadata import NOTES_FIXED
from sarcomp.codec.scene import _ramp
from sarcomp.errors import BitstreamError


def _header(mask: bool = True, geo: bool = True, **kw) -> tuple[Header, list[bytes]]:
    grid = Grid(40, 70, 32, 0, 16)  # 2 x 3 tiles
    rng = np.random.default_rng(0)
    strings = [rng.bytes(int(n)) for n in rng.integers(1, 300, grid.n_tiles * 2)]
    writer = MaskWriter()
    valid = np.ones((40, 70), bool)
    if mask:
        valid[5:9, 60:] = False
    writer.add(valid)
    header = Header(
        grid,
        "db",
        -25.5,
        4.0,
        kw.get("model", ModelId.hashed(bytes(range(32)))),
        2,
        16,
        [len(s) for s in strings],
        writer.finish(),
        Geo(
            crs_epsg=32633,
            transform=(10.0, 0.0, 5e5, 0.0, -10.0, 4.6e6),
            nodata=-9999.0,
            description="VV",
            source="scene.tif",
            source_bytes=12345,
        )
        if geo
        else None,
        lmbda=kw.get("lmbda"),
    )
    return header, strings


def _file(header: Header, strings: list[bytes]) -> bytes:
    buf = io.BytesIO()
    write_container(buf, header, strings)
    return buf.getvalue()


def _read(data: bytes) -> tuple[Header, int]:
    return read_header(io.BytesIO(data), len(data), "f.sarc")


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize("mask,geo,lmbda", [(True, True, None), (False, False, 0.013), (True, False, None)])
def test_round_trip_every_field(mask, geo, lmbda):
    header, strings = _header(mask, geo, lmbda=lmbda)
    data = _file(header, strings)
    back, offset = _read(data)
    assert back.grid == header.grid and back.units == "db" and back.groups == 2 and back.shape_stride == 16
    assert (
        (back.lo, back.hi) == (-25.5, 4.0) and back.model == header.model and back.lengths == header.lengths
    )
    assert back.lmbda == (pytest.approx(lmbda) if lmbda else None)
    assert back.geo == header.geo
    tiles = list(iter_strings(io.BytesIO(data), back, offset))
    assert [s for t in tiles for s in t] == strings
    rows = np.stack(list(mask_rows(back, "f.sarc")))
    expected = np.ones((40, 70), bool)
    if mask:
        expected[5:9, 60:] = False
    np.testing.assert_array_equal(rows, expected)
    assert (back.mask is None) == (not mask)  # no mask stored when every pixel is valid


def test_header_is_compact():
    """What a decoder needs (no geo block) for a 2 x 3 grid with 2 string groups and no mask."""
    header, _ = _header(mask=False, geo=False)
    assert len(header.decoder_bytes()) <= FIXED.size + 8 + 2 * 12  # fixed part, hash, <= 2-byte lengths


NOTES = Notes("scene percentiles [1, 99]", 0.004, 0.0125, ("phase of complex samples", "band 2 of 2"))


def test_notes_round_trip_and_are_metadata_not_billed():
    header, strings = _header()
    plain = _file(header, strings)
    header.notes = NOTES
    back, _ = _read(_file(header, strings))
    assert back.notes.range_rule == NOTES.range_rule and back.notes.dropped == NOTES.dropped
    assert (back.notes.clipped_low, back.notes.clipped_high) == pytest.approx((0.004, 0.0125))
    assert back.geo == header.geo and back.lengths == header.lengths
    # what a decoder needs is unchanged but for the flag bit; the notes are metadata, like the geo block
    without = _read(plain)[0]
    assert len(back.decoder_bytes()) == len(without.decoder_bytes())
    assert back.metadata_bytes() == without.metadata_bytes() + 1 + len(NOTES.pack())


def test_files_without_notes_read_as_before():
    """A version-1 file of the layout before the notes flag existed (flags 0): no notes, decodes."""
    header, offset = _read(_forged())
    assert header.notes is None and offset == FIXED.size + 8 + 4


def _with_notes(block: bytes) -> bytes:
    head = FIXED.pack(b"SARC", 1, 8, 64, 64, 32, 0, 16, 16, 0, 1, -30.0, 10.0, 0) + bytes(8) + b"\x01" * 4
    return _with_crc(head + bytes([len(block)]) + block + b"x" * 4)


@pytest.mark.parametrize(
    "block,message",
    [
        (NOTES_FIXED.pack(1.5, 0.0) + b"\x00\x00", "clipped shares"),
        (NOTES_FIXED.pack(0.0, 0.0) + b"\x00\x63", "exceed"),
        (NOTES_FIXED.pack(0.0, 0.0) + b"\x00\x00zz", "trailing"),
        (NOTES_FIXED.pack(0.0, 0.0) + b"\x02\xff\xfe\x00", "UTF-8"),
    ],
)
def test_hostile_notes_are_refused(block, message):
    assert _read(_with_notes(NOTES_FIXED.pack(0.0, 0.0) + b"\x00\x00"))[0].notes == Notes()
    with pytest.raises(BitstreamError, match=message):
        _read(_with_notes(block))


def test_shipped_name_identity_round_trips():
    header, strings = _header(model=ModelId.named("sar-s1-factorized"))
    back, _ = _read(_file(header, strings))
    assert str(back.model) == "sar-s1-factorized"


def test_truncation_anywhere_is_refused():
    header, strings = _header()
    data = _file(header, strings)
    for cut in range(len(data)):  # every header field and every payload byte
        with pytest.raises(BitstreamError):
            _read(data[:cut])


def test_bit_flips_in_header_and_payload_are_refused():
    header, strings = _header()
    data = _file(header, strings)
    head = len(header.pack())
    positions = list(range(head)) + list(range(head, len(data), 37))
    for pos in positions:
        for bit in (0, 7):
            bad = bytearray(data)
            bad[pos] ^= 1 << bit
            with pytest.raises(BitstreamError):
                _read(bytes(bad))


def test_wrong_magic_and_version_named():
    header, strings = _header()
    data = bytearray(_file(header, strings))
    with pytest.raises(BitstreamError, match="not a .sarc file"):
        _read(b"GIF89a" + bytes(data[6:]))
    data[4] = 99
    with pytest.raises(BitstreamError, match="version 99"):
        _read(bytes(data))


def _forged(**fields) -> bytes:
    """A header with a valid CRC claiming whatever ``fields`` say (a hostile file)."""
    values = dict(
        magic=b"SARC",
        version=1,
        flags=0,
        height=64,
        width=64,
        tile=32,
        overlap=0,
        pad=16,
        stride=16,
        units=0,
        groups=1,
        lo=-30.0,
        hi=10.0,
        kind=0,
    )
    values.update(fields)
    body = FIXED.pack(*values.values()) + bytes(8) + b"\x01" * 4 + b"x" * 4
    return _with_crc(body)


def test_forged_baseline_is_valid():
    """The hostile cases below differ from this valid file only in the named fields."""
    header, offset = _read(_forged())
    assert header.grid.n_tiles == 4 and offset == FIXED.size + 8 + 4


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"height": MAX_SIDE + 1}, "invalid header"),
        ({"height": 1 << 31, "width": 1 << 31}, "invalid header"),
        ({"height": MAX_SIDE, "width": MAX_SIDE, "tile": 16}, "claims"),  # 4e9 tiles, a few bytes of file
        ({"tile": 24}, "multiple"),
        ({"overlap": 30}, "overlap"),
        ({"groups": 0}, "invalid header"),
        ({"units": 9}, "invalid header"),
        ({"lo": float("nan")}, "scaling"),
        ({"kind": 7}, "identity"),
        ({"flags": 64}, "flags"),
    ],
)
def test_hostile_headers_are_refused(fields, message):
    with pytest.raises(BitstreamError, match=message):
        _read(_forged(**fields))


def test_huge_string_and_mask_lengths_are_refused():
    # a string length of 2**40 in a small file; a mask claiming more bytes than the file holds
    huge = bytes([0x80] * 5 + [0x20])
    with pytest.raises(BitstreamError, match="exceeds|claims|need"):
        _read(_with_crc(FIXED.pack(b"SARC", 1, 0, 16, 16, 16, 0, 16, 16, 0, 1, -30, 10, 0) + bytes(8) + huge))
    body = FIXED.pack(b"SARC", 1, 1, 16, 16, 16, 0, 16, 16, 0, 1, -30, 10, 0) + bytes(8) + b"\x01"
    with pytest.raises(BitstreamError, match="truncated|exceeds"):
        _read(_with_crc(body + bytes([0xFF, 0xFF, 0x7F]) + b"x"))


def test_zlib_bomb_mask_is_read_row_by_row():
    """A mask stream that inflates far beyond the scene is never inflated beyond one row at a time."""
    header, strings = _header(mask=True, geo=False)
    header.mask = zlib.compress(b"\xff" * (1 << 24))  # 16 MB of ones for a 40 x 70 scene
    back, _ = _read(_file(header, strings))
    rows = list(mask_rows(back, "f.sarc"))
    assert len(rows) == 40 and all(r.all() for r in rows)


def test_grid_pads_only_to_the_stride():
    for h, w in [(200, 300), (1000, 777), (17, 5), (256, 256), (257, 513)]:
        for tile, overlap in [(256, 0), (128, 32), (64, 16)]:
            g = Grid(h, w, tile, overlap, 16)
            if not overlap:
                assert g.coded_pixels() < (h + 16) * (w + 16)  # at most 15 px of padding per axis
            for starts, n in ((g.rows, h), (g.cols, w)):
                assert starts[0] == 0 and starts[-1] + g.extent(starts[-1], n) == n
                assert all(b - a == tile - overlap for a, b in zip(starts, starts[1:]))


@pytest.mark.parametrize("n,tile,overlap", [(1000, 256, 32), (300, 64, 16), (100, 32, 8)])
def test_blending_weights_sum_to_one(n, tile, overlap):
    g = Grid(n, n, tile, overlap, 16)
    total = np.zeros(n, np.float32)
    for i, s in enumerate(g.rows):
        length = g.extent(s, n)
        total[s : s + length] += _ramp(i, len(g.rows), length, overlap)
    np.testing.assert_allclose(total, 1.0, atol=1e-6)
