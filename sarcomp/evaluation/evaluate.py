"""Evaluate a trained run: code its test scenes with the real bitstream, then the classic codecs.

**Scenes.** Each test scene is read window by window into one [0, 1] scene image (nodata masked
and set to 0, the clip range rounded to float32 as the ``.sarc`` header stores it). The clip range
is chosen as ``sarcomp compress`` chooses it (:mod:`sarcomp.codec.scaling`: the scene's own
percentiles by default, ``range=model`` or ``range=[LO,HI]`` otherwise); each row records the
shares of valid pixels it cut off (``clipped_low``, ``clipped_high``). All metrics
(:mod:`sarcomp.metrics.scene`) are computed on that whole scene image over its valid pixels.

**Learned codec.** Each scene is coded as ``sarcomp compress`` codes it
(:func:`sarcomp.codec.scene.code_scene`): tiles padded only to the model's stride (16), every tile
through the real ``model.compress``, the strings in a ``.sarc`` container, decoded back from that
container with ``model.decompress``. bpp = 8·(container bytes) / (scene pixels): the header a
decoder needs besides the model (size, tile grid, scaling, model identity, per-tile string lengths,
the nodata mask when there is one), the tile strings and the CRC — everything in the file but its
metadata (the georeferencing block: CRS, transform, nodata value, band description; the notes: range
rule, clipped shares, dropped information), which is not billed, as the classic codecs' files carry
no georeferencing either (:data:`BYTES_COUNTED`, in every payload).
``encode_ms`` / ``decode_ms``: wall time to code the whole scene (the sum over its tiles, each
timed after a warm-up, CUDA synchronised), and ``encode_ms_tile`` / ``decode_ms_tile``, the median
per tile.

**Classic codecs** (:mod:`sarcomp.evaluation.classic`) code the same stitched scenes: a rate
sweep once per folder and, per run, every scene at exactly that run's per-scene rates.

**Complex runs** (``model=complex``) are measured as complex samples instead (bits per complex
sample, amplitude PSNR in dB, phase error, interferometric errors on a self-pair:
:mod:`sarcomp.evaluation.complex_eval`); the classic codecs are skipped for them.

Results follow the schema of :mod:`sarcomp.evaluation.results`; where they are written is
:mod:`sarcomp.runs`'s business (``metrics_path``, ``matched_path``, ``classic_path``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from sarcomp.codec.complex_files import complex_form
from sarcomp.codec.container import ModelId
from sarcomp.codec.modelref import model_hash
from sarcomp.codec.scaling import RangeRule, coding, training_representation
from sarcomp.data.loaders import load_split
from sarcomp.data.tiles import Scene
from sarcomp.devices import pick_device
from sarcomp.errors import SarcompError
from sarcomp.evaluation.ablation import switched_off
from sarcomp.evaluation.classic import evaluate_classic, matched_codecs, write_matched
from sarcomp.evaluation.complex_eval import complex_payload, complex_rows, refuse_real_options
from sarcomp.evaluation.recon import save_reconstruction
from sarcomp.evaluation.results import BYTES_COUNTED, learned_payload
from sarcomp.evaluation.scenes import evaluate_scenes, exclude_training_scenes, set_operating_point
from sarcomp.fileio import write_json
from sarcomp.runs import (
    classic_path,
    data_tag,
    find_runs,
    load_run,
    matched_path,
    metrics_path,
    recon_folder,
    run_config,
    used_scene_hashes,
    used_scene_paths,
)

log = logging.getLogger(__name__)


def _test_scenes(
    cfg: Any, data_cfg: Any | None, run_dir: Path, rule: RangeRule | None
) -> tuple[Any, list[Scene]]:
    """The test scenes (the run's, or ``data_cfg``'s) it did not train on, in the range ``rule`` picks."""
    data = data_cfg if data_cfg is not None else cfg.data
    scenes = load_split(data, "test", coding(rule or RangeRule(), training_representation(cfg)))
    return data, exclude_training_scenes(scenes, used_scene_paths([run_dir]), used_scene_hashes([run_dir]))


def evaluate_run(
    run_dir: str | Path,
    data_cfg: Any | None = None,
    out: str | None = None,
    checkpoint: str = "best",
    device: str = "auto",
    classic: Mapping[str, Any] | None = None,
    save_recon: bool = False,
    lmbda: float | None = None,
    ablate: Sequence[str] | None = None,
    range_rule: RangeRule | None = None,
) -> tuple[dict[str, Any], Path]:
    """Rebuild a run's codec, evaluate it on the test split (its own, or ``data_cfg``'s), write JSON.

    ``ablate`` (``["all"]`` or module names) switches attention modules off for the evaluation
    (:mod:`sarcomp.evaluation.ablation`); the file name gets ``_ablated``. ``range_rule`` picks each
    scene's clip range as ``sarcomp compress --range`` does (default: the scene's own percentiles).

    With ``classic`` (keys ``codecs``, ``bits``, ``match_rates``, ``match_codecs``, ``tol``; see
    configs/eval.yaml),
    also code each scene with the classic codecs at this run's per-scene rates and write them to
    ``matched[_<tag>].json`` beside the metrics file. ``save_recon`` writes the decoded scenes as
    GeoTIFF to :func:`~sarcomp.runs.recon_folder`.
    """
    run_dir = Path(run_dir)
    dev = pick_device(device)
    cfg, model, state = load_run(run_dir, checkpoint, dev)
    if lmbda is not None:  # a variable-rate model's operating point
        set_operating_point(model, lmbda)
    if complex_form(cfg) is not None:
        options = {"ablate=": bool(ablate), "save_recon=true": save_recon}
        options["range="] = range_rule is not None and range_rule.kind != "scene"
        return _evaluate_complex(run_dir, cfg, model, state, data_cfg, out, checkpoint, dev, lmbda, options)
    data, scenes = _test_scenes(cfg, data_cfg, run_dir, range_rule)
    identity = ModelId.hashed(model_hash(cfg, model))
    tag = data_tag(None if data_cfg is None else str(data["root"]))
    recon = recon_folder(run_dir, tag)
    save = (lambda im, rec: save_reconstruction(recon, im.scene, rec, im.valid)) if save_recon else None
    with switched_off(model, cfg, ablate, dev) if ablate else nullcontext() as off:
        rows, images = evaluate_scenes(model, scenes, int(data["tile_size"]), dev, identity, on_scene=save)
    payload = learned_payload(
        str(cfg.get("experiment_name", run_dir.name)),
        rows,
        model,
        cfg,
        data,
        run_dir=str(run_dir),
        step=int(state["step"]),  # the evaluated checkpoint's
        max_steps=int(cfg.trainer.max_steps),  # the run's training budget
        checkpoint=checkpoint,
        bytes_counted=BYTES_COUNTED,
        ablated=off,
    )
    path = Path(out) if out else metrics_path(run_dir, tag)
    if off and not out:
        path = path.with_name(f"{path.stem}_ablated.json")
    if lmbda is not None and not out:  # one file per operating point of a variable-rate model
        path = path.with_name(f"{path.stem}_lmbda{lmbda:g}.json")
    write_json(path, payload)
    write_matched(
        classic,
        images,
        rows,
        matched_path(path, tag),
        matched_to=str(run_dir),
        lmbda=model.lmbda,
        seed=int(cfg.seed),
    )
    return payload, path


def _evaluate_complex(
    run_dir: Path,
    cfg: Any,
    model: Any,
    state: dict[str, Any],
    data_cfg: Any | None,
    out: str | None,
    checkpoint: str,
    dev: Any,
    lmbda: float | None,
    options: dict[str, bool],
) -> tuple[dict[str, Any], Path]:
    """:func:`evaluate_run` for a complex run (:mod:`sarcomp.evaluation.complex_eval`)."""
    data = data_cfg if data_cfg is not None else cfg.data
    refuse_real_options(run_dir, data, options)
    scenes = load_split(data, "test")
    scenes = exclude_training_scenes(scenes, used_scene_paths([run_dir]), used_scene_hashes([run_dir]))
    identity = ModelId.hashed(model_hash(cfg, model))
    rows = complex_rows(model, scenes, int(data["tile_size"]), dev, identity)
    name = str(cfg.get("experiment_name", run_dir.name))
    steps = {"step": int(state["step"]), "max_steps": int(cfg.trainer.max_steps)}
    payload = complex_payload(
        name, rows, model, cfg, data, run_dir=str(run_dir), checkpoint=checkpoint, **steps
    )
    tag = data_tag(None if data_cfg is None else str(data["root"]))
    path = Path(out) if out else metrics_path(run_dir, tag)
    if lmbda is not None and not out:
        path = path.with_name(f"{path.stem}_lmbda{lmbda:g}.json")
    write_json(path, payload)
    log.info(
        "%s: complex run; classic codecs skipped (BAQ, JPEG 2000 I/Q: experiments/complex_study.py)", run_dir
    )
    return payload, path


def _is_complex_run(run: Path, checkpoint: str) -> bool:
    return complex_form(run_config(run, checkpoint)) is not None


def evaluate_folder(
    folder: str | Path,
    data_cfg: Any | None = None,
    out: str | None = None,
    checkpoint: str = "best",
    device: str = "auto",
    classic: Mapping[str, Any] | None = None,
    save_recon: bool = False,
    lmbda: float | None = None,
    ablate: Sequence[str] | None = None,
    range_rule: RangeRule | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Path]]:
    """Evaluate one run or every run of a sweep folder; then the classic rate sweep, once.

    Returns (learned payloads, classic sweep payloads, written paths: metrics, ``matched*.json``,
    reconstruction folders and the sweep's ``classic*.json``). ``out`` is only allowed
    for a single run. The classic sweep (``classic.sweep``) uses the scenes that none of the
    runs trained on and goes to ``<folder>/eval/classic[_<tag>].json``.
    """
    folder = Path(folder)
    runs = find_runs(folder)
    if out and len(runs) > 1:
        raise SarcompError(f"{folder}: out= names one file, but the folder holds {len(runs)} runs")
    learned, paths = [], []
    for run in runs:
        log.info("evaluating %s", run)
        payload, path = evaluate_run(
            run,
            data_cfg,
            out if len(runs) == 1 else None,
            checkpoint,
            device,
            classic,
            save_recon,
            lmbda,
            ablate,
            range_rule,
        )
        learned.append(payload)
        paths.append(path)
        tag = data_tag(None if data_cfg is None else str(data_cfg["root"]))
        if matched_codecs(classic) and not _is_complex_run(run, checkpoint):
            paths.append(matched_path(path, tag))
        if save_recon:
            paths.append(recon_folder(run, tag))
    sweep: list[dict[str, Any]] = []
    real = [run for run in runs if not _is_complex_run(run, checkpoint)]  # classic codecs code real bands
    if classic and classic["sweep"] and classic["codecs"] and real:
        sweep, path = classic_sweep_for_runs(real, folder, classic, data_cfg, checkpoint, range_rule)
        paths.append(path)
    return learned, sweep, paths


def classic_sweep_for_runs(
    runs: Sequence[Path],
    folder: Path,
    classic: Mapping[str, Any],
    data_cfg: Any | None = None,
    checkpoint: str = "best",
    range_rule: RangeRule | None = None,
) -> tuple[list[dict[str, Any]], Path]:
    """The classic rate sweep on the test scenes (the first run's, or ``data_cfg``'s) that none of
    ``runs`` trained or validated on, written to ``classic_path(folder, tag)``."""
    cfg = run_config(runs[0], checkpoint)
    data, scenes = _test_scenes(cfg, data_cfg, runs[0], range_rule)
    scenes = exclude_training_scenes(scenes, used_scene_paths(runs), used_scene_hashes(runs))
    path = classic_path(folder, data_tag(None if data_cfg is None else str(data["root"])))
    results = evaluate_classic(
        scenes, int(data["tile_size"]), classic["codecs"], int(classic["bits"]), path, str(data["root"])
    )
    return results, path
