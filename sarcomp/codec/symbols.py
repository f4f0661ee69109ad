"""The integers a ``.sarc`` file carries, tile by tile, and their checksums.

A version-2 file promises these integers on every machine: y's symbols, and with a hyperprior
z's symbols and y's scale-table indexes (``docs/sarc-format.md``). :func:`tile_symbols` decodes
them as ``sarcomp decompress`` does, before g_s; :func:`checksums` is what the golden bitstreams
(``tests/golden/``, ``scripts/make_golden.py``) record and check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import torch
from torch import Tensor

from sarcomp.codec.container import Header

CHECKSUM_HEX = 32  # hex digits of SHA-256 kept per array (128 bits)


def tile_shapes(header: Header) -> list[tuple[int, int]]:
    """The latent shape of every tile, in the file's (row-major) order."""
    grid = header.grid
    heights = [grid.coded(grid.extent(r, grid.height)) for r in grid.rows]
    widths = [grid.coded(grid.extent(c, grid.width)) for c in grid.cols]
    return [header.tile_shape(h, w) for h in heights for w in widths]


def tile_symbols(
    model: torch.nn.Module, header: Header, strings: Iterator[list[bytes]]
) -> Iterator[dict[str, Tensor]]:
    """Each tile's integers (``SARCodec.decode_latent`` without ``y_hat``), decoded as the file's
    version says: version 2 by the portable path, version 1 by the float one."""
    portable = header.version >= 2
    for shape, groups in zip(tile_shapes(header), strings):
        latent = model.decode_latent([[s] for s in groups], shape, portable=portable)
        yield {key: value for key, value in latent.items() if key != "y_hat"}


def checksum(values: Tensor) -> str:
    """Truncated SHA-256 of an integer tensor as little-endian int32, in C order."""
    data = values.detach().to("cpu", torch.int32).contiguous().numpy().astype("<i4").tobytes()
    return hashlib.sha256(data).hexdigest()[:CHECKSUM_HEX]


def checksums(tiles: Iterator[dict[str, Tensor]]) -> list[dict[str, str]]:
    """Per tile, the checksum of each of its integer arrays (``y``, and ``z``, ``indexes``)."""
    return [{key: checksum(values) for key, values in sorted(tile.items())} for tile in tiles]
