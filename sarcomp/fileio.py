"""Atomic file writes: a temporary file beside the target, fsynced, then renamed into place.

A process killed mid-write leaves the previous file intact (and at most a hidden ``.<name>.*.tmp``
that :func:`remove_stale_temporaries` cleans up); readers never see a half-written file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | Path, write: Callable[[Path], None], suffix: str = ".tmp") -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place.

    ``suffix`` lets writers that pick a format by extension (GDAL) see the right one; it must end
    in ``.tmp`` or ``.tmp.<ext>`` so :func:`remove_stale_temporaries` recognises leftovers.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; keep the permissions open() gives
        write(Path(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (a power cut after os.replace keeps the new file)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files that a process killed mid-write (SIGKILL) left behind."""
    folder = Path(folder)
    stale = sorted([*folder.glob(".*.tmp"), *folder.glob(".*.tmp.*")]) if folder.is_dir() else []
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def json_safe(value: Any) -> Any:
    """``value`` for strict JSON: NaN becomes ``None`` (N/A), ±inf the strings ``"inf"``/``"-inf"``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(path: str | Path, payload: Any) -> None:
    """Write ``payload`` as indented, strict JSON, atomically: numpy scalars and paths converted,
    NaN (N/A) written as ``null`` and ±inf as ``"inf"``/``"-inf"`` (:func:`json_safe`), so strict
    parsers (``json.loads(..., parse_constant=...)``, JavaScript, jq) read every file."""
    text = json.dumps(json_safe(_plain(payload)), indent=2, allow_nan=False)
    atomic_write_text(path, text + "\n")


def _plain(value: Any) -> Any:
    """Containers of plain Python values: numpy scalars (``.item()``) and paths (``str``) converted."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value
