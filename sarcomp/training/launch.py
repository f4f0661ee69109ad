"""What the ``train.py`` entry does around a run: argument checks, rank-aware logging, clean-up."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from sarcomp.config import env_rank, experiment_names
from sarcomp.errors import SarcompError


def check_experiment_overrides(argv: list[str]) -> None:
    """Refuse ``experiment=<unknown>`` with one line listing the valid names (Hydra's own
    message spans a dozen lines). Sweep syntax other than ``a,b,c`` is left to Hydra."""
    valid = experiment_names()
    for arg in argv:
        match = re.fullmatch(r"\+{0,2}experiment=([\w\-]+(?:,[\w\-]+)*)", arg)
        if not match:
            continue
        unknown = [n for n in match.group(1).split(",") if n not in valid and n != "null"]
        if unknown:
            raise SarcompError(
                f"experiment={','.join(unknown)}: unknown experiment; valid: {', '.join(valid)}"
            )


def quiet_other_ranks() -> None:
    """Ranks other than 0 log warnings and errors to the console only (no train.log)."""
    if env_rank() == 0:
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.WARNING)


def remove_bookkeeping_only(run_dir: Path, log_dir: Path | None = None) -> None:
    """After an error: a run folder holding only what Hydra wrote before training started
    (``.hydra/``, ``train.log``) is removed, so a failed command leaves no partial run, and so
    are the parents up to ``log_dir`` that it leaves empty (no empty ``outputs/`` behind)."""
    from sarcomp.runs import HYDRA_FILES  # imports torch: only on this error path, not at train.py start

    if env_rank() != 0 or not run_dir.is_dir():
        return
    if not {p.name for p in run_dir.iterdir()} <= HYDRA_FILES:
        return
    for handler in list(logging.getLogger().handlers):
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename).parent == run_dir:
            logging.getLogger().removeHandler(handler)
            handler.close()
    for name in HYDRA_FILES:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    run_dir = run_dir.resolve()
    folders = [run_dir]
    if log_dir is not None and log_dir.resolve() in run_dir.parents:
        top = log_dir.resolve()
        folders += [p for p in run_dir.parents if p == top or top in p.parents]
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            break
