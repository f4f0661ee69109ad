"""Little-endian binary fields of the ``.sarc`` header: LEB128 varints, length-prefixed UTF-8, and a
bounds-checked reader whose every overrun is a one-line :class:`~sarcomp.errors.BitstreamError`."""

from __future__ import annotations

import io
import struct
from typing import BinaryIO

from sarcomp.errors import BitstreamError


def text_field(text: str) -> bytes:
    raw = text.encode("utf-8")
    return varint(len(raw)) + raw


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


class Reader:
    """Bounds-checked reads of the first ``limit`` bytes of a file (or of a bytes buffer): every
    overrun is a BitstreamError, and nothing larger than what is present is ever requested."""

    def __init__(self, source: bytes | BinaryIO, name: str, limit: int | None = None):
        self.fh = io.BytesIO(source) if isinstance(source, bytes) else source
        self.limit = len(source) if isinstance(source, bytes) else int(limit or 0)
        self.name, self.pos = name, 0
        self.fh.seek(0)

    @property
    def remaining(self) -> int:
        return self.limit - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or n > self.remaining:
            raise BitstreamError(f"{self.name}: truncated header (needs {n} bytes, {self.remaining} left)")
        out = self.fh.read(n)
        if len(out) != n:
            raise BitstreamError(f"{self.name}: file truncated")
        self.pos += n
        return out

    def struct(self, fmt: struct.Struct) -> tuple:
        return fmt.unpack(self.take(fmt.size))

    def varint(self, limit: int) -> int:
        value, shift = 0, 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if value > limit:
                raise BitstreamError(f"{self.name}: size {value} in header exceeds {limit}")
            if not byte & 0x80:
                return value
            shift += 7

    def text(self) -> str:
        raw = self.take(self.varint(self.remaining))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BitstreamError(f"{self.name}: text field is not UTF-8") from None

    def done(self) -> None:
        if self.remaining:
            raise BitstreamError(f"{self.name}: {self.remaining} unexpected trailing bytes")
