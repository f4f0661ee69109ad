"""What ``sarcomp compress`` and ``decompress`` refuse to write over, and what compress says it drops.

**Outputs.** ``compress`` never writes over a raster (a file GDAL can open), even with ``--force``:
``sarcomp compress *.tif --model m`` with two GeoTIFFs would otherwise replace the second one with
``.sarc`` bytes. It also refuses an existing output that is not a ``.sarc`` file, and any existing
output without ``--force``. ``decompress`` refuses an existing output without ``--force`` and never
writes over a ``.sarc`` file. The folder an output goes into must exist (``--mkdir`` makes it).
Either command takes one input and one output; more paths (a shell glob) are refused unless
``compress -o <folder>`` names an output folder.

**Dropped information.** A real-valued model's ``.sarc`` file holds one real channel: the phase
of complex samples (complex64, or I/Q in two bands) and the bands not read are dropped (a complex
model keeps the phase: :mod:`sarcomp.codec.complex_files`). :func:`dropped_information`
names what was dropped (recorded in the file's notes, shown by ``sarcomp info``) and warns when
the user did not ask for it (no ``--band``, no band-spec entry for the file).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from sarcomp.codec.container import MAGIC
from sarcomp.data.rasters import BandSpec, RasterInfo, open_raster
from sarcomp.errors import RasterError, SarcompError

log = logging.getLogger(__name__)

SEVERAL = "sarcomp compress *.tif -o <folder> --model <model>"


def one_input_one_output(command: str, paths: Sequence[str]) -> tuple[str, str]:
    """(input, output) of a command given exactly two paths; more paths (a shell glob) or fewer are
    refused, saying how to code several files."""
    if len(paths) < 2:
        more = " or -o <folder>" if command == "compress" else ""
        raise SarcompError(
            f"{command}: give an input and an output{more} (got {', '.join(paths) or 'nothing'})"
        )
    if len(paths) > 2:
        raise SarcompError(
            f"{command} takes one input and one output, got {len(paths)} paths ({', '.join(paths)}); a shell "
            f"glob such as *.tif expands to every matching file. To compress several files into a folder: "
            f"{SEVERAL}"
        )
    src, dst = paths
    if command == "compress" and Path(src).is_dir():
        raise SarcompError(
            f"{src}: is a folder; to compress the rasters in it give an output folder: -o <folder>"
        )
    return src, dst


def is_sarc(path: Path) -> bool:
    """Whether ``path`` starts with the ``.sarc`` magic bytes."""
    with open(path, "rb") as fh:
        return fh.read(len(MAGIC)) == MAGIC


def raster_driver(path: Path) -> str | None:
    """The GDAL driver that reads ``path``, or None when it is not a readable raster."""
    try:
        with open_raster(path) as ds:
            return str(ds.driver)
    except RasterError:
        return None


def _existing(src: Path | None, dst: Path) -> bool:
    if dst.is_dir():
        raise SarcompError(f"{dst}: is a folder; give the output file's name")
    if dst.exists() and src is not None and src.exists() and dst.resolve() == src.resolve():
        raise SarcompError(f"{dst}: output would overwrite the input")
    return dst.exists()


def check_output_folder(dst: Path, mkdir: bool) -> None:
    """The folder ``dst`` goes into exists, or is made when ``mkdir`` (``--mkdir``): a mistyped
    folder is an error, never created silently."""
    folder = dst.parent
    if folder.is_dir():
        return
    if folder.exists():
        raise SarcompError(f"{folder}: is not a folder, cannot hold the output {dst.name}")
    if not mkdir:
        raise SarcompError(f"{folder}: output folder does not exist; create it or pass --mkdir")
    folder.mkdir(parents=True, exist_ok=True)


def check_compress_output(src: Path | None, dst: Path, force: bool) -> None:
    """Refuse ``dst`` when it is a raster, an existing non-``.sarc`` file, or exists without ``force``
    (``src``: the input, never overwritten; None for bytes already coded)."""
    if not _existing(src, dst):
        return
    driver = raster_driver(dst)
    if driver is not None:
        raise SarcompError(
            f"{dst}: output is a readable raster ({driver}); compress never writes over a raster, even "
            f"with --force. It takes one input and one output (.sarc); to compress several files into a "
            f"folder: {SEVERAL}"
        )
    if not is_sarc(dst):
        raise SarcompError(
            f"{dst}: output exists and is not a .sarc file; refused even with --force (choose another name)"
        )
    if not force:
        raise SarcompError(f"{dst}: output exists; pass --force to replace it")


def check_decompress_output(src: Path, dst: Path, force: bool) -> None:
    """Refuse ``dst`` when it is a ``.sarc`` file, or exists without ``force``."""
    if not _existing(src, dst):
        return
    if is_sarc(dst):
        raise SarcompError(
            f"{dst}: output is a .sarc file; decompress never writes over one, even with --force. "
            "It takes one input (.sarc) and one output (GeoTIFF)"
        )
    if not force:
        raise SarcompError(f"{dst}: output exists; pass --force to replace it")


def dropped_information(
    path: Path,
    info: RasterInfo,
    spec: BandSpec,
    bands_asked: bool,
    described: bool,
    guessed: bool,
    coded: tuple[int, ...] | None = None,
    phase_kept: bool = False,
) -> tuple[str, ...]:
    """What coding ``spec`` of ``path`` drops: the phase of complex samples, the other bands
    (those not in ``coded``, the bands of a multi-band file, when given).

    Each is logged: a warning unless the user asked for it (``bands_asked``: ``--band`` given;
    ``described``: a band-spec entry names the file), or a warning about it was already given
    (``guessed``: ``units=auto`` on a real-valued file warns about unread bands,
    :func:`sarcomp.data.guess.resolve_units`). ``phase_kept``: a complex model codes the phase.
    """
    notes = []
    complex_ = (info.is_complex or spec.iq) and not phase_kept
    if complex_:
        source = (
            "I/Q bands " + ", ".join(map(str, spec.bands)) if spec.iq else f"complex band {spec.bands[0]}"
        )
        notes.append((f"phase of the complex samples ({source}): coded as {spec.complex_to}", described))
    others = [b for b in range(1, info.count + 1) if b not in (coded or spec.bands)]
    if others:
        which = ", ".join(map(str, others))
        quiet = bands_asked or described or guessed
        why = "not in --bands" if coded else "one channel per .sarc file"
        notes.append((f"band(s) {which} of {info.count}: not coded ({why})", quiet))
    for text, quiet in notes:
        log.log(logging.INFO if quiet else logging.WARNING, "%s: dropped %s", path, text)
    return tuple(text for text, _ in notes)
