"""Hydra/OmegaConf helpers shared by the entry points and the tests: resolvers and typed schemas.

The ``trainer`` group and ``eval.yaml`` are checked against the dataclasses below (registered in
Hydra's ConfigStore, named first in their defaults lists), so a mistyped key or a wrong type fails
at composition with Hydra's own message. The schemas hold no defaults: values live in the YAML.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from sarcomp.data.identity import root_tag

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PACKAGE_ROOT / "configs"
RANK_VARIABLES = ("RANK", "SLURM_PROCID", "SUBMITIT_LOCAL_GLOBALID")
# Run folder names: Hydra joins the overrides as key-value__key-value (configs/hydra/default.yaml);
# anything else a shell or Hydra's override parser would trip on becomes "-".
_UNSAFE = re.compile(r"-*[^A-Za-z0-9._+\-]+-*")
MAX_VALUE = 24  # longer override values are shortened in run folder names (run_name)
KEEP_VALUE = 16  # characters of a shortened value kept readable
MAX_NAME = 120  # longest override part of a run folder name
# Overrides whose values may be paths: quoted for Hydra's parser when they hold = , [ ] etc.
PATH_KEYS = ("run_dir", "out", "data.root")
_HYDRA_SPECIAL = re.compile(r"[=,\s()\[\]{}'\"\\:*?]")
# Hydra options followed by a value (not a run folder): python scripts/evaluate.py --cfg job
_VALUE_OPTIONS = frozenset(
    "--cfg -c --package -p --info -i --config-name -cn --config-path -cp --config-dir -cd".split()
)


def env_rank() -> int:
    """This process's global rank as the launcher announced it (0 when not distributed)."""
    for key in RANK_VARIABLES:
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return 0


def project_root() -> Path:
    """Where data/ and outputs/ live: ``$SARCOMP_ROOT``, else the checkout holding this package
    (so commands work from any folder)."""
    return Path(os.environ.get("SARCOMP_ROOT") or PACKAGE_ROOT).resolve()


def run_name(override_dirname: str | None) -> str:
    """A run folder's name from Hydra's ``job.override_dirname`` (``debug-smoke__experiment-x``):
    no ``=``, ``,``, brackets or quotes, so a pasted path survives shells and Hydra's parser;
    ``default`` when nothing was overridden. The one place run folders are named.

    Names stay short: a value longer than :data:`MAX_VALUE` characters keeps its readable part (a
    path's file name, else its first :data:`KEEP_VALUE` characters) and ``-h<6 hex>`` of the whole
    value; a name still longer than :data:`MAX_NAME` keeps its first items that fit and ``-h<8 hex>``
    of the whole. Names within both limits are those of earlier sarcomp versions."""
    items = [i for i in (_short_item(item) for item in (override_dirname or "").split("__")) if i]
    name = "__".join(items) or "default"
    if len(name) <= MAX_NAME:
        return name
    kept: list[str] = []
    for item in items:  # whole items while they fit, then a hash of the whole name
        if len("__".join([*kept, item])) > MAX_NAME - 10:
            break
        kept.append(item)
    return f"{'__'.join(kept)}-h{_digest(name, 8)}"


def _short_item(item: str) -> str:
    key, sep, value = item.partition("-")
    safe = _UNSAFE.sub("-", item).strip("-")
    if not sep or len(_UNSAFE.sub("-", value).strip("-")) <= MAX_VALUE:
        return safe
    tail = value.rstrip("/").rsplit("/", 1)[-1] if "/" in value else value[:KEEP_VALUE]
    readable = _UNSAFE.sub("-", tail).strip("-")[:KEEP_VALUE]
    return f"{_UNSAFE.sub('-', key).strip('-')}-{readable}-h{_digest(value, 6)}"


def _digest(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _legacy_run_name(override_dirname: str | None) -> str:
    """The name earlier sarcomp versions gave (no shortening), to find their run folders again."""
    items = [_UNSAFE.sub("-", item).strip("-") for item in (override_dirname or "").split("__")]
    return "__".join(i for i in items if i) or "default"


def run_folder(override_dirname: str | None, data_root: str | Path | None, parent: str | Path | None) -> str:
    """The run folder's name in ``parent`` (``${run_folder:...}`` in configs/hydra/default.yaml):
    :func:`run_name` + :func:`data_root_suffix`; or, so that ``trainer.resume=true`` finds a run
    made before names were shortened, that run's long name when such a folder exists in ``parent``
    and the short one does not."""
    name = run_name(override_dirname) + data_root_suffix(data_root)
    return _existing_or(name, [_legacy_run_name(override_dirname) + data_root_suffix(data_root)], parent)


def sweep_folder(
    override_dirname: str | None, data_root: str | Path | None, parent: str | Path | None
) -> str:
    """A sweep job's folder in the sweep folder ``parent`` (``${sweep_folder:...}``): named as a run
    folder, data hash included; a job folder of an earlier version (a long name, or one without
    ``_data-<hash>``) is found again when it exists and the new one does not, so that relaunching a
    sweep into a fixed ``hydra.sweep.dir`` with ``trainer.resume=true`` continues its jobs."""
    name = run_name(override_dirname) + data_root_suffix(data_root)
    short, legacy = run_name(override_dirname), _legacy_run_name(override_dirname)
    return _existing_or(name, [legacy + data_root_suffix(data_root), legacy, short], parent)


def _existing_or(name: str, legacy: Sequence[str], parent: str | Path | None) -> str:
    if parent is None or (Path(parent) / name).exists():
        return name
    return next((old for old in legacy if old != name and (Path(parent) / old).is_dir()), name)


def run_name_of(
    overrides: Sequence[str],
    data_root: str | Path | None = None,
    exclude: Sequence[str] = ("trainer.resume", "data.root"),
    parent: str | Path | None = None,
) -> str:
    """The run folder name Hydra gives ``python train.py <overrides>`` on the data folder
    ``data_root`` in the runs folder ``parent`` (same rule as configs/hydra/default.yaml, for
    scripts and tests)."""
    kept = sorted(o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in exclude)
    return run_folder("__".join(o.replace("=", "-") for o in kept), data_root, parent)


def quote_path_overrides(argv: Sequence[str], positional_key: str | None = None) -> list[str]:
    """Command-line arguments made safe for Hydra's override parser.

    ``key=<path>`` for the keys in :data:`PATH_KEYS` is quoted when the path holds characters
    Hydra would parse (``=``, ``,``, brackets, spaces), and with ``positional_key`` a bare
    argument that is no option and no override (``scripts/evaluate.py outputs/train/runs/x``)
    becomes ``<positional_key>=<path>``.
    """
    out: list[str] = []
    for i, arg in enumerate(argv):
        key, sep, value = arg.partition("=")
        takes_value = i > 0 and argv[i - 1] in _VALUE_OPTIONS
        if positional_key and not arg.startswith("-") and not takes_value and (not sep or Path(arg).exists()):
            key, sep, value = positional_key, "=", arg
        if sep and key in PATH_KEYS and _HYDRA_SPECIAL.search(value) and value[:1] not in "'\"":
            escaped = value.replace("\\", "\\\\").replace("'", "\\'")
            arg = f"{key}='{escaped}'"
        elif sep:
            arg = f"{key}={value}"
        out.append(arg)
    return out


@dataclass
class TrainerSchema:
    """``configs/trainer/default.yaml`` (meanings there)."""

    max_steps: int = MISSING
    lr: float = MISSING
    aux_lr: float = MISSING
    entropy_lr_scale: float = MISSING
    gamma_lr_scale: float = MISSING
    lr_schedule: str = MISSING
    min_lr_ratio: float = MISSING
    grad_clip: float | None = MISSING
    accumulate: int = MISSING
    device: str = MISSING
    precision: str = MISSING
    channels_last: bool = MISSING
    retain_host_memory: bool = MISSING
    compile: bool = MISSING
    log_every: int = MISSING
    val_every: int = MISSING
    val_max_tiles: int | None = MISSING
    checkpoint_every: int = MISSING
    keep_every: int | None = MISSING
    explain_at_val: bool = MISSING
    max_nonfinite_streak: int = MISSING
    resume: bool = MISSING


@dataclass
class ClassicSchema:
    """``classic`` of ``configs/eval.yaml``: the classic codecs beside a learned run."""

    codecs: list[str] = MISSING
    bits: int = MISSING
    sweep: bool = MISSING
    match_rates: bool = MISSING
    match_codecs: list[str] | None = MISSING
    tol: float = MISSING


@dataclass
class EvalSchema:
    """``configs/eval.yaml``; ``data``, ``model`` and ``paths`` are the (untyped) config groups."""

    run_dir: str | None = MISSING
    name: str | None = MISSING
    lmbda: float | None = MISSING
    range: Any = MISSING  # scene | model | [LO, HI] (sarcomp.codec.scaling.parse_range)
    out: str | None = MISSING
    checkpoint: str = MISSING
    ablate: list[str] | None = MISSING
    device: str = MISSING
    save_recon: bool = MISSING
    classic: ClassicSchema = field(default_factory=ClassicSchema)
    data: Any = None
    model: Any = None
    paths: Any = None


def register_resolvers() -> None:
    """Resolvers the configs use, and the schemas (``trainer/schema``, ``eval_schema``).

    ``${run_name:override_dirname}``: a run folder's name (:func:`run_name`);
    ``${run_folder:override_dirname,data_root,parent}`` and ``${sweep_folder:...}``: the folder of a
    run or a sweep job, data hash included (:func:`run_folder`, :func:`sweep_folder`);
    ``${project_root:}``: the project folder (:func:`project_root`);
    ``${rank_zero:value}``: the value on rank 0, null on other ranks (only rank 0 writes .hydra/);
    ``${data_root_suffix:root}``: ``_data-<8 hex>`` naming the resolved data folder (empty when unset), so two
    data folders never share a run folder.
    """
    store = ConfigStore.instance()
    store.store(group="trainer", name="schema", node=TrainerSchema)
    store.store(name="eval_schema", node=EvalSchema)
    resolvers = {
        "run_name": run_name,
        "run_folder": run_folder,
        "sweep_folder": sweep_folder,
        "project_root": lambda: str(project_root()),
        "rank_zero": lambda value: value if env_rank() == 0 else None,
        "data_root_suffix": data_root_suffix,
    }
    for name, fn in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


def data_root_suffix(root: str | Path | None) -> str:
    """The run-folder suffix for a data folder (``${data_root_suffix:...}`` in configs/hydra/default.yaml)."""
    return f"_data-{root_tag(root)}" if root else ""


def experiment_names() -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))


def classic_defaults() -> dict:
    """The classic-codec settings of ``configs/eval.yaml`` (their one home), as a plain dict."""
    return OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "eval.yaml").classic, resolve=True)
