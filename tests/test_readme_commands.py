"""Every command in README.md and experiments/README.md works when pasted (issue 11 item 5).

The commands are read from the ```bash blocks (``\\`` continuations joined, ``# comments`` and
empty lines dropped, ``NAME=value`` shell variables expanded) and run one after another with
bash, each expected to exit 0, under these rules:

- **Where.** A scratch project per scenario (README.md is one scenario; each block of
  experiments/README.md is one, since its second block records a rerun of the first at another
  budget): the current folder and ``SARCOMP_ROOT``, with links to train.py, scripts/, configs/
  and the Makefile, the tiny synthetic set as ``data/synthetic``, and ``python`` = this
  interpreter. ``/path/to/scenes`` is a copy of that set, ``../shared/sar`` a flat folder of other
  scenes.
- **Budget.** ``train.py`` runs for real at the smoke budget: ``debug=<preset>`` becomes
  ``debug=smoke`` (appended when absent, and then left out of the run folder's name through
  Hydra's ``exclude_keys``, so the folder has the name the README prints) with
  ``trainer.max_steps=2 trainer.val_every=2``.
- **Sweeps** (``-m``) run for real, thinned to one job: each ``a,b,c`` list keeps its first
  value, ``glob(*)`` becomes ``glob(baseline)``, and ``+hparams_search=rd_sweep`` gets
  ``model.lmbda=0.013`` when the line sets no λ (the config's own λ list would add four jobs).
- **Placeholders**: ``<run folder>`` and ``<run or sweep>`` are the last run folder made,
  ``<sweep folder>`` and ``<run or sweep folders...>`` the last sweep folder, optional
  ``[--option ...]`` parts are dropped, ``sarcomp compress scene.tif`` codes one of the other
  scenes, ``/tmp/`` is the scratch project's ``tmp/``; other ``<...>`` appear only in dry-run
  lines. A double-quoted argument spanning lines (``python -c "..."``) is one command.
- **Benchmark**: ``scripts/benchmark.py`` without ``--quick`` gets ``--quick`` (the same path at
  tiny sizes) and an output folder in the project; the full one runs for many minutes. A
  scenario runs the quick path once (the README shows both forms).
- **Probe**: ``scripts/probe.py`` gets ``PROBE_TINY`` (a probe trained for one epoch on a few
  small scenes; the default takes minutes).
- **Dry runs** where a real run needs more than this machine: ``torchrun ... train.py ARGS`` is
  ``python train.py ARGS --cfg job`` (the config composes; DDP itself: tests/test_ddp.py);
  ``make`` targets other than ``eval`` are ``make -n`` (demo, test and tensorboard run for
  minutes or forever); ``make eval`` runs for real with ``PY=`` this interpreter and the .venv
  stamp taken as made. ``pip install`` lines and the SLURM sweep (needs a cluster and the
  ``slurm`` extra) are skipped.
- A command identical to one already run in the scenario is run once (the README repeats the
  resume example).
- ``python script.py ARGS`` (and ``sarcomp ARGS``, the console script) runs in a process forked
  from a fork server that imported torch and sarcomp once (same argv after bash's expansion,
  folder and environment; importing is most of a command's time on a busy CPU, and forking the
  test process itself can hang once torch's thread pool has run); ``make`` lines run as real
  subprocesses.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.forked import run_forked
from tests.helpers import REPO

DOCS = {"README.md": REPO / "README.md", "experiments": REPO / "experiments" / "README.md"}
BUDGET = {"trainer.max_steps": "2", "trainer.val_every": "2"}
PROBE_TINY = "epochs=1 train_scenes=2 test_scenes=1 scene_size=128"
EXCLUDE = "trainer.resume,data.root,hydra.run.dir,hydra.sweep.dir,paths.log_dir,paths.root_dir"
SKIP = ("pip install", "hydra/launcher=slurm")


def code_blocks(doc: Path) -> list[list[str]]:
    """The command lines of each ```bash block."""
    blocks = re.findall(r"```bash\n(.*?)```", doc.read_text(), flags=re.S)
    out = []
    for block in blocks:
        joined = re.sub(r"\\\n\s*", " ", textwrap.dedent(block))
        lines: list[str] = []
        for line in joined.splitlines():
            if lines and lines[-1].count('"') % 2:  # inside a quoted multi-line argument
                lines[-1] += "\n" + line
            else:
                lines.append(re.sub(r"(^|\s)#.*$", "", line).strip())
        out.append([line for line in lines if line])
    return out


def scenarios() -> list[tuple[str, list[str]]]:
    readme = [line for block in code_blocks(DOCS["README.md"]) for line in block]
    experiments = code_blocks(DOCS["experiments"])
    return [("README.md", readme)] + [(f"experiments block {i + 1}", b) for i, b in enumerate(experiments)]


class Project:
    """A scratch project that runs pasted commands (see the module docstring)."""

    def __init__(self, root: Path, tiny_data: Path):
        self.root = root
        for name in ("train.py", "scripts", "configs", "Makefile", "pyproject.toml"):
            (root / name).symlink_to(REPO / name)
        shutil.copytree(tiny_data, root / "data" / "synthetic")
        shutil.copytree(tiny_data, root / "scenes")
        (root / "sar").mkdir()
        for scene in sorted((tiny_data / "test").glob("*.tif")):
            shutil.copy(scene, root / "sar" / f"other_{scene.name}")
        bin_dir = root / ".bin"
        bin_dir.mkdir()
        (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        (bin_dir / "python").chmod(0o755)
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(REPO),
            "SARCOMP_ROOT": str(root),
            "OMP_NUM_THREADS": "1",
        }
        self.variables: dict[str, str] = {}
        self.done: set[str] = set()
        self.last_run = self.last_sweep = ""

    def prepare(self, line: str) -> str | None:
        """The line as this test runs it, or None to skip it."""
        for name, value in self.variables.items():
            line = line.replace(f"${name}", value)
        if re.fullmatch(r"(\w+=(\"[^\"]*\"|\S+)\s*)+", line):  # S=a R=b: shell variables
            for name, value in re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", line):
                self.variables[name] = value.strip('"')
            return None
        if any(s in line for s in SKIP):
            return None
        line = re.sub(r"(?<![\w./-])/tmp/", f"{self.root}/tmp/", line)  # before paths of our own
        line = line.replace("/path/to/scenes", str(self.root / "scenes"))
        line = line.replace("../shared/sar", str(self.root / "sar"))
        line = re.sub(r"\s\[--[^\]]*\]", "", line)  # optional parts: [--tag sar], [--band 1]
        if line.startswith("sarcomp "):
            line = line.replace("scene.tif", str(next((self.root / "sar").glob("*.tif"))))
        line = line.replace("<run or sweep folders...>", self.last_sweep).replace(
            "<sweep folder>", self.last_sweep
        )
        line = line.replace("<run or sweep>", self.last_run).replace("<run folder>", self.last_run)
        if line.startswith("torchrun "):
            line = re.sub(r"^torchrun (--\S+ )*train.py", "python train.py", line) + " --cfg job"
        elif line.startswith("make "):
            target = line.split()[1]
            line = (
                f"make -o .venv/.installed {line[5:]} PY={sys.executable}"
                if target == "eval"
                else f"make -n {line[5:]}"
            )
            line = re.sub(r"<[^>]*>", "X", line)
        elif " train.py" in line:
            line = self.budget(line)
        elif "scripts/benchmark.py" in line and "--quick" not in line:
            line += " --quick --out tmp/bench-full"
        elif "scripts/probe.py" in line:
            line += " " + PROBE_TINY
        return line

    def budget(self, line: str) -> str:
        words = shlex.split(line)
        sweep = "-m" in words
        has_debug = any(w.startswith("debug=") for w in words)
        words = [w for w in words if w.split("=")[0] not in BUDGET]
        words = ["debug=smoke" if w.startswith("debug=") else w for w in words]
        if sweep:
            words = [_first_value(w) for w in words]
            if "+hparams_search=rd_sweep" in words and not any(w.startswith("model.lmbda=") for w in words):
                words.append("model.lmbda=0.013")
        words += [f"{k}={v}" for k, v in BUDGET.items()]
        exclude = EXCLUDE + "," + ",".join(BUDGET)
        if not has_debug:
            words.append("debug=smoke")
            exclude += ",debug"
        words.append(f"hydra.job.config.override_dirname.exclude_keys=[{exclude}]")
        return shlex.join(words)

    def run(self, line: str) -> None:
        prepared = self.prepare(line)
        key = prepared and re.sub(r"^(\w+=\S+\s+)*| --out \S+", "", prepared)  # the quick benchmark once
        if prepared is None or key in self.done:
            return
        self.done.add(key)
        before = self._folders()
        for part in prepared.split(" ; "):
            prefix = re.match(r"(?:\w+=\S+\s+)*", part).group(0)  # OMP_NUM_THREADS=1 python ...
            if part[len(prefix) :].startswith(("python ", "sarcomp ")):
                extra = dict(word.split("=", 1) for word in prefix.split())
                code, output = self.fork_python(part[len(prefix) :], extra)
            else:
                result = subprocess.run(
                    ["bash", "-c", part],
                    cwd=self.root,
                    env=self.env,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                code, output = result.returncode, result.stdout + result.stderr
            assert code == 0, f"{line}\n-> {part}\n{output[-4000:]}"
        for folder in sorted(self._folders() - before):
            if folder.parent.name == "runs":
                self.last_run = str(folder.relative_to(self.root))
            elif folder.parent.name == "multiruns":
                self.last_sweep = str(folder.relative_to(self.root))

    def fork_python(self, line: str, extra_env: dict[str, str] | None = None) -> tuple[int, str]:
        """``python script.py ARGS`` or ``sarcomp ARGS`` as the shell would run it (bash expands
        the words), in a forked child (:mod:`tests.forked`)."""
        program, _, args = line.partition(" ")
        words = subprocess.run(
            ["bash", "-c", f'printf "%s\\0" {args}'],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
        ).stdout.split("\0")[:-1]
        ran = run_forked([program, *words], self.root, {**self.env, **(extra_env or {})}, timeout=900)
        return ran.returncode, ran.stdout + ran.stderr

    def _folders(self) -> set[Path]:
        outputs = self.root / "outputs" / "train"
        return {p for p in outputs.glob("*/*") if p.is_dir()} if outputs.is_dir() else set()


def _first_value(word: str) -> str:
    """``key=a,b,c`` -> ``key=a``; ``key=glob(*...)`` -> ``key=glob(baseline)`` (sweep thinning)."""
    key, sep, value = word.partition("=")
    if not sep or key.startswith("hydra.") or value.startswith(("[", "{", "'", '"')):
        return word
    if value.startswith("glob(*"):
        return f"{key}=glob(baseline)"
    return f"{key}={value.split(',')[0]}"


def test_commands_are_found():
    found = dict(scenarios())
    assert any("scripts/evaluate.py outputs/train/runs/experiment-baseline" in c for c in found["README.md"])
    assert any(c.startswith("make eval RUN=") for c in found["README.md"])
    assert sum(len(c) for _, c in scenarios()) >= 40


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name, _ in scenarios()])
def test_readme_commands_work_when_pasted(name, tiny_data, tmp_path):
    project = Project(tmp_path, tiny_data)
    commands = dict(scenarios())[name]
    for line in commands:
        project.run(line)
    if any("scripts/evaluate.py" in line for line in commands):
        assert list((tmp_path / "outputs").rglob("eval/metrics*.json")), "no command evaluated a run"
