"""Data identity by content: SHA-256 per scene file, a short tag per data folder, and the checks
that use them (runs pooled only on the same test scenes; resume only on the same data).

A scene is identified by the SHA-256 of its file's bytes, so a copied or linked data set has the
same hashes as the original, and a regenerated or edited file does not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sarcomp.errors import SarcompError

_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                digest.update(chunk)
    except OSError as exc:
        raise SarcompError(f"{path}: cannot read file to hash it ({exc.strerror})") from None
    return digest.hexdigest()


def root_tag(root: str | Path) -> str:
    """Eight hex digits naming a data folder by its resolved path (run-folder names)."""
    return hashlib.sha256(str(Path(str(root)).expanduser().resolve()).encode()).hexdigest()[:8]


def split_hashes(scenes: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[str]]:
    """``{split: sorted sha256 list}`` of a ``scenes.json``-style mapping (entries without one skipped)."""
    return {
        split: sorted(str(e["sha256"]) for e in entries if e.get("sha256"))
        for split, entries in scenes.items()
        if isinstance(entries, Sequence)
    }


def check_same_data(
    saved: Mapping[str, Sequence[Mapping[str, Any]]],
    current: Mapping[str, Sequence[Mapping[str, Any]]],
    where: str,
) -> None:
    """Refuse (SarcompError) when the train/val scenes of a run differ by hash from the current ones.

    ``saved`` is the run's ``scenes.json``; ``current`` the records of the scenes now loaded.
    A saved file without hashes (older runs) cannot be checked and is refused as well.
    """
    old, new = split_hashes(saved), split_hashes(current)
    for split in ("train", "val"):
        if split not in new:
            continue
        if split not in old or not old[split]:
            raise SarcompError(
                f"{where}: records no scene hashes for {split!r}; cannot check that resume uses the same data "
                "(start a new run folder)"
            )
        if old[split] != new[split]:
            names = _names(current.get(split, []), set(new[split]) - set(old[split]))
            raise SarcompError(
                f"{where}: the run was trained on other {split} data than data.root now holds "
                f"(differs: {names or 'scenes missing'}); use another run folder or the original data"
            )


def check_same_scenes(payloads: Sequence[tuple[str, Iterable[Mapping[str, Any]]]]) -> None:
    """Refuse to pool runs whose test scenes differ by content.

    ``payloads`` are ``(run label, metrics rows)``; each row has ``image`` (file name) and
    ``sha256``. Scenes are matched by file name: the same name with a different hash in two runs,
    or a row without a hash, raises SarcompError naming the scene and the runs.
    """
    first: dict[str, tuple[str, str]] = {}
    for label, rows in payloads:
        for row in rows:
            name, digest = str(row.get("image", row.get("path", "?"))), row.get("sha256")
            if not digest:
                raise SarcompError(
                    f"{label}: scene {name} has no sha256 in its metrics; re-run its evaluation "
                    "so runs are compared on the same scenes"
                )
            if name in first and first[name][1] != digest:
                raise SarcompError(
                    f"scene {name} differs between {first[name][0]} (sha256 {first[name][1][:12]}) "
                    f"and {label} (sha256 {str(digest)[:12]}): these runs were evaluated on different data"
                )
            first.setdefault(name, (label, str(digest)))


def _names(entries: Sequence[Mapping[str, Any]], digests: set[str]) -> str:
    hits = [Path(str(e.get("path", "?"))).name for e in entries if e.get("sha256") in digests]
    return ", ".join(hits[:4]) + (" ..." if len(hits) > 4 else "")


def check_disjoint(train: Sequence[Any], val: Sequence[Any]) -> None:
    """Refuse a validation scene whose content is also a training scene (copies, links)."""
    seen = {s.sha256: s.path for s in train}
    for s in val:
        if s.sha256 in seen:
            raise SarcompError(
                f"{s.path}: validation scene has the same content as training scene {seen[s.sha256]}; "
                "remove the copy or move it out of the training data"
            )
