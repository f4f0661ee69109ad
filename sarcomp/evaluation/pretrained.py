"""Evaluate a shipped (model-zoo) codec without a run folder:
``python scripts/evaluate.py model=pretrained name=<name> data=geotiff data.root=../shared/sar``.

Same scenes, metrics and JSON schema as a run's evaluation (:mod:`sarcomp.evaluation.evaluate`);
scenes the model trained or validated on (by path, or by SHA-256 where the manifest records
one) are excluded. Results go to ``out``, by default
``<paths.log_dir>/pretrained/<name>/eval/metrics[_<data folder>][_lmbda<λ>].json``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sarcomp.codec.container import ModelId
from sarcomp.codec.scaling import RangeRule, coding, training_representation
from sarcomp.data.loaders import load_split
from sarcomp.devices import pick_device
from sarcomp.errors import SarcompError
from sarcomp.evaluation.classic import matched_codecs, write_matched
from sarcomp.evaluation.results import learned_payload
from sarcomp.evaluation.scenes import evaluate_scenes, exclude_training_scenes, set_operating_point
from sarcomp.fileio import write_json
from sarcomp.models.zoo import entry, load_pretrained, sha256
from sarcomp.runs import data_tag, matched_path, metrics_path, pretrained_dir

log = logging.getLogger(__name__)


def exclude_by_hash(scenes: list, used: Mapping[str, list[dict]]) -> list:
    """Drop scenes whose file SHA-256 matches a training/validation record's ``sha256``."""
    hashes = {e["sha256"] for split in ("train", "val") for e in used.get(split, []) if e.get("sha256")}
    if not hashes:
        return scenes
    kept = [s for s in scenes if sha256(s.path) not in hashes]
    for s in scenes:
        if s not in kept:
            log.warning("%s: the model trained or validated on this scene; excluded from evaluation", s.path)
    if not kept:
        raise SarcompError("every evaluation scene was used in training; evaluate on other scenes")
    return kept


def unused_scenes(item: Mapping[str, Any], scenes: list) -> list:
    """``scenes`` less those the shipped model ``item`` trained or validated on (by path and SHA-256)."""
    used = item.get("data") or {}
    paths = {e["path"] for split in ("train", "val") for e in used.get(split, [])}
    return exclude_by_hash(exclude_training_scenes(scenes, paths), used)


def evaluate_pretrained(
    name: str,
    data_cfg: Any,
    out: str | None,
    log_dir: str | Path,
    device: str = "auto",
    classic: Mapping[str, Any] | None = None,
    lmbda: float | None = None,
    zoo_dir: str | Path | None = None,
    range_rule: RangeRule | None = None,
) -> tuple[dict[str, Any], Path]:
    """Evaluate the shipped model ``name`` on ``data_cfg``'s test split; write and return the payload.

    Each scene's clip range is chosen by ``range_rule`` as ``sarcomp compress --range`` chooses it
    (default: the scene's own percentiles; :mod:`sarcomp.codec.scaling`)."""
    if data_cfg is None:
        raise SarcompError(
            "model=pretrained needs the scenes to evaluate on, e.g. data=geotiff data.root=../shared/sar"
        )
    item = entry(name, zoo_dir)
    dev = pick_device(device)
    cfg, model = load_pretrained(name, dev, zoo_dir)
    if lmbda is not None:
        set_operating_point(model, lmbda)
    rule = coding(range_rule or RangeRule(), training_representation(cfg))
    scenes = unused_scenes(item, load_split(data_cfg, "test", rule))
    identity = ModelId.named(name)  # what a .sarc file of this model names (and bills)
    rows, images = evaluate_scenes(model, scenes, int(data_cfg["tile_size"]), dev, identity)
    tag = data_tag(str(data_cfg["root"]))
    suffix = "" if lmbda is None else f"_lmbda{lmbda:g}"
    path = Path(out) if out else metrics_path(pretrained_dir(log_dir, name), tag + suffix)
    payload = learned_payload(name, rows, model, cfg, data_cfg, pretrained=name)
    write_json(path, payload)
    write_matched(
        classic, images, rows, matched_path(path, tag), matched_to=f"pretrained:{name}", lmbda=model.lmbda
    )
    return payload, path


def written_paths(path: Path, data_cfg: Any, classic: Mapping[str, Any] | None) -> list[Path]:
    """The files :func:`evaluate_pretrained` wrote: its metrics file ``path`` and, when classic
    codecs were rate-matched, the ``matched*.json`` beside it."""
    matched = [matched_path(path, data_tag(str(data_cfg["root"])))] if matched_codecs(classic) else []
    return [path, *matched]
