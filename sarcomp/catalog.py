"""The shipped models' manifest (``sarcomp/models/zoo/manifest.json``), read without torch: names,
RD curves and trained λ, for ``sarcomp info``, rate control and :mod:`sarcomp.models.zoo`.

A *curve* is a set of shipped models trained alike but for λ (manifest key ``curve``, e.g.
``baseline-ms-s8`` = ``baseline-ms-s8-l001`` ... ``-l03``); a variable-rate model (config key
``model.lmbdas``) is a curve by itself. ``SARCOMP_ZOO`` points at another zoo folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sarcomp.errors import SarcompError

ZOO_DIR = Path(__file__).resolve().parent / "models" / "zoo"
MANIFEST = "manifest.json"


def zoo_root(zoo_dir: str | Path | None = None) -> Path:
    """``zoo_dir``, else ``$SARCOMP_ZOO``, else the package's own zoo."""
    return Path(zoo_dir or os.environ.get("SARCOMP_ZOO") or ZOO_DIR)


def read_manifest(zoo_dir: str | Path | None = None) -> tuple[Path, list[dict[str, Any]]]:
    """(zoo folder, manifest entries); no manifest is an empty zoo, a broken one a one-line error."""
    root = zoo_root(zoo_dir)
    path = root / MANIFEST
    if not path.is_file():
        return root, []
    try:
        return root, list(json.loads(path.read_text())["models"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SarcompError(f"{path}: unreadable model-zoo manifest ({exc})") from None


def curve_of(item: Mapping[str, Any]) -> str:
    """The RD curve a manifest entry is a point of: its ``curve``, else the model alone."""
    return str(item.get("curve") or item["name"])


@dataclass(frozen=True)
class Shipped:
    """What rate control needs to know of a shipped model."""

    name: str
    curve: str
    lmbda: float  # trained λ (a variable-rate model's default operating point)
    lmbdas: tuple[float, ...] = ()  # a variable-rate model's trained λ, ascending

    @property
    def variable_rate(self) -> bool:
        return bool(self.lmbdas)


def shipped_models(zoo_dir: str | Path | None = None) -> list[Shipped]:
    """Every shipped model, in manifest order."""
    out = []
    for item in read_manifest(zoo_dir)[1]:
        model = (item.get("config") or {}).get("model") or {}
        lmbdas = tuple(sorted(float(v) for v in model.get("lmbdas") or ()))
        out.append(Shipped(item["name"], curve_of(item), float(model.get("lmbda", 0.0)), lmbdas))
    return out


def find_shipped(name: str, zoo_dir: str | Path | None = None) -> Shipped | None:
    return next((m for m in shipped_models(zoo_dir) if m.name == name), None)


def curve_members(curve: str, zoo_dir: str | Path | None = None) -> list[Shipped]:
    """The fixed-rate models of a curve, lowest λ (rate) first; empty when no model has that curve."""
    members = [m for m in shipped_models(zoo_dir) if m.curve == curve and not m.variable_rate]
    return sorted(members, key=lambda m: m.lmbda)
