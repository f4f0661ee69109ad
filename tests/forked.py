"""Command-line runs for tests without a fresh interpreter each: ``python script.py ARGS``,
``python -c CODE`` and ``sarcomp ARGS`` run in a child of a fork server that imported torch, Hydra
and sarcomp once (importing them is most of a short command's time, 4-15 s on a busy 2-core
machine).

The child gets the command's argv, folder and environment (``os.environ`` replaced), and its file
descriptors 1 and 2 go to files, so the result reads like :func:`subprocess.run`'s. What it cannot
give: what the interpreter reads at start-up (``PYTHONPATH``, ``PYTHONWARNINGS``, the hash seed)
or torch at import (``OMP_NUM_THREADS``, ``ATEN_CPU_CAPABILITY``), warnings and side effects of
importing the preloaded modules (already done in the server), a process whose imports are
themselves under test, or a real signal and resume cycle. Those tests keep :func:`subprocess.run`,
and so does one run of each entry point: ``train.py`` (tests/test_resume.py), ``sarcomp``
(tests/test_scene_codec.py), a light script (tests/test_light_commands.py).

Not forked from the test process itself: after torch has run a parallel (OpenMP) region there, a
forked child can hang for ever on the thread pool's locks.
"""

from __future__ import annotations

import multiprocessing
import os
import runpy
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

from sarcomp.codec.commands import main as sarcomp_main

_FORKSERVER = multiprocessing.get_context("forkserver")
_FORKSERVER.set_forkserver_preload(
    ["torch", "hydra", "sarcomp.analysis.compare", "sarcomp.training.trainer", "sarcomp.codec.commands"]
)


@dataclass(frozen=True)
class Ran:
    """What :func:`subprocess.run` with ``capture_output=True, text=True`` would have returned."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def run_forked(
    args: list[str], cwd: str | Path, env: dict[str, str] | None = None, timeout: float = 600
) -> Ran:
    """``args`` as a command line (``[sys.executable, script, ...]``, ``[sys.executable, "-c",
    code, ...]`` or ``["sarcomp", ...]``), run in a forked child (module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        child = _FORKSERVER.Process(
            target=_child, args=(args, str(cwd), dict(os.environ if env is None else env), str(out), str(err))
        )
        child.start()
        child.join(timeout=timeout)
        if child.is_alive():
            child.kill()
            child.join()
            return Ran(args, 124, _read(out), _read(err) + f"\n(timed out after {timeout:g} s)")
        return Ran(args, child.exitcode, _read(out), _read(err))


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _child(args: list[str], cwd: str, env: dict[str, str], out: str, err: str) -> None:
    """Run the command in this (forked) process and exit with its status."""
    code = 1
    try:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        for fd, path in ((1, out), (2, err)):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        program, words = Path(args[0]).name, args[1:]
        if program == "sarcomp":  # the console script (pyproject.toml's [project.scripts])
            sys.argv = ["sarcomp", *words]
            code = sarcomp_main() or 0
        elif words[0] == "-c":
            sys.argv = ["-c", *words[2:]]
            exec(compile(words[1], "<string>", "exec"), {"__name__": "__main__"})
            code = 0
        else:
            sys.argv = words
            sys.path[0] = str(Path(words[0]).resolve().parent)
            runpy.run_path(words[0], run_name="__main__")
            code = 0
    except SystemExit as exc:  # as the interpreter exits: sys.exit(obj) prints a non-int, status 1
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            stream.flush()
        os._exit(code)
