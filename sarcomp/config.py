"""Hydra/OmegaConf helpers shared by the entry points and the tests."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PACKAGE_ROOT / "configs"
RANK_VARIABLES = ("RANK", "SLURM_PROCID", "SUBMITIT_LOCAL_GLOBALID")
# Run folder names: Hydra joins the overrides as key-value__key-value (configs/hydra/default.yaml);
# anything else a shell or Hydra's override parser would trip on becomes "-".
_UNSAFE = re.compile(r"-*[^A-Za-z0-9._+\-]+-*")
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
    ``default`` when nothing was overridden. The one place run folders are named."""
    items = [_UNSAFE.sub("-", item).strip("-") for item in (override_dirname or "").split("__")]
    return "__".join(i for i in items if i) or "default"


def run_name_of(overrides: Sequence[str], exclude: Sequence[str] = ("trainer.resume", "data.root")) -> str:
    """The run folder name Hydra gives ``python train.py <overrides>`` (same rule, for scripts)."""
    kept = sorted(o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in exclude)
    return run_name("__".join(o.replace("=", "-") for o in kept))


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


def register_resolvers() -> None:
    """Resolvers the configs use.

    ``${run_name:override_dirname}``: a run folder's name (:func:`run_name`);
    ``${project_root:}``: the project folder (:func:`project_root`);
    ``${rank_zero:value}``: the value on rank 0, null on other ranks (only rank 0 writes .hydra/).
    """
    resolvers = {
        "run_name": run_name,
        "project_root": lambda: str(project_root()),
        "rank_zero": lambda value: value if env_rank() == 0 else None,
    }
    for name, fn in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


def experiment_names() -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))
