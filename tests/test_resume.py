"""Nothing lost: SIGKILL and SIGTERM mid-run, resume, exactness, atomic saves, non-finite steps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from sarcomp.errors import SarcompError
from sarcomp.fileio import remove_stale_temporaries
from sarcomp.runs import checkpoint_path, load_checkpoint, save_checkpoint
from sarcomp.training.trainer import Trainer, train
from tests.helpers import REPO, compose_train, smoke_overrides

# 3 steps per epoch (12 samples / batch 4), so resumes land mid-epoch as well as on boundaries.
# Enough steps that a child run cannot finish while this (possibly starved) process polls and
# signals it on a loaded machine.
STEPS = 80
OVERRIDES = (
    f"trainer.max_steps={STEPS}",
    "trainer.val_every=10",
    "trainer.checkpoint_every=2",
    "data.train_samples=12",
    "seed=5",
)


# One intra-op thread, here and in the children: exactness needs the same thread count in
# every run, and on a shared 2-core machine two spinning OpenMP threads are many times slower.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def only_run_folder(log_dir: Path) -> Path:
    runs = list((log_dir / "train" / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    with open(log, "w") as fh:  # the child keeps its own descriptor
        return subprocess.Popen(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, env=ENV)


def wait_for_step(proc: subprocess.Popen, log_dir: Path, above: int, timeout: float = 240) -> int:
    """Poll until the run folder's last.pt holds a step > ``above``; return that step."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, "training ended before it could be interrupted"
        runs = log_dir / "train" / "runs"
        found = list(runs.glob("*/checkpoints/last.pt")) if runs.is_dir() else []
        if found:
            try:
                step = int(torch.load(found[0], weights_only=True)["step"])
            except Exception:  # not there yet: the rename is atomic, so only a missing file
                step = -1
            if step > above:
                return step
        time.sleep(0.01)
    raise AssertionError("no checkpoint appeared in time")


@pytest.mark.slow  # a subprocess: a fresh interpreter and Hydra
def test_kill_term_and_resume_match_an_uninterrupted_run(tiny_data, tmp_path, one_thread):
    # The reference: the same run, never interrupted (in this process).
    straight = tmp_path / "straight"
    train(compose_train(smoke_overrides(tiny_data, *OVERRIDES), straight), straight)

    # The same command twice: SIGKILL, then resume and SIGTERM (cluster preemption).
    log_dir = tmp_path / "logs"
    cmd = [sys.executable, "train.py", *smoke_overrides(tiny_data, *OVERRIDES), f"paths.log_dir={log_dir}"]
    killed = start(cmd, tmp_path / "1.log")
    wait_for_step(killed, log_dir, above=0)
    time.sleep(0.2)  # let it log a few steps past the checkpoint: they must not be duplicated
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(60) == -signal.SIGKILL
    run_dir = only_run_folder(log_dir)
    kill_step = load_checkpoint(checkpoint_path(run_dir))["step"]
    assert 0 < kill_step < STEPS

    termed = start(cmd + ["trainer.resume=true"], tmp_path / "2.log")
    term_step = wait_for_step(termed, log_dir, above=kill_step)
    termed.send_signal(signal.SIGTERM)
    assert termed.wait(120) == 128 + signal.SIGTERM
    second = (tmp_path / "2.log").read_text()
    assert f"resumed from step {kill_step} " in second
    saved = load_checkpoint(checkpoint_path(run_dir))["step"]
    assert f"signal 15: checkpoint saved at step {saved}, exiting" in second
    assert term_step <= saved < STEPS
    assert only_run_folder(log_dir) == run_dir  # same command + trainer.resume=true -> same folder

    # The rest in this process (same code path as train.py, one process start less).
    with pytest.raises(SarcompError, match="already has checkpoints"):
        train(compose_train(smoke_overrides(tiny_data, *OVERRIDES), run_dir), run_dir)
    train(compose_train(smoke_overrides(tiny_data, *OVERRIDES, "trainer.resume=true"), run_dir), run_dir)

    # Identical to the uninterrupted run: weights, optimisers, scheduler, scaler, RNG, counters.
    a = torch.load(checkpoint_path(straight), weights_only=True)
    b = torch.load(checkpoint_path(run_dir), weights_only=True)
    assert isinstance(b["config"], str) and b["step"] == a["step"] == STEPS
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for name in ("optimizer", "aux_optimizer"):
        for pid, state in a[name]["state"].items():
            for k, v in state.items():
                assert torch.equal(v, b[name]["state"][pid][k]), (name, pid, k)
        assert a[name]["param_groups"] == b[name]["param_groups"]
    assert a["scheduler"] == b["scheduler"] and a["scaler"] == b["scaler"]
    assert torch.equal(a["rng"][0]["torch"], b["rng"][0]["torch"])
    assert a["rng"][0]["python"] == b["rng"][0]["python"]
    assert a["best"] == b["best"] and a["val"] == b["val"]

    # TensorBoard: one point per step, the same curve as the uninterrupted run.
    for tag in ("train/loss", "train/lr", "val/loss"):
        assert scalars(run_dir, tag) == scalars(straight, tag), tag
    assert [s for s, _ in scalars(run_dir, "train/loss")] == list(range(1, STEPS + 1))
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))


def test_checkpoint_writes_are_atomic(tmp_path):
    path = tmp_path / "checkpoints" / "last.pt"
    save_checkpoint(path, {"step": 1, "w": torch.ones(3)})

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        save_checkpoint(path, {"step": 2, "w": torch.zeros(10_000), "x": Unpicklable()})
    assert load_checkpoint(path)["step"] == 1  # the previous checkpoint is intact
    assert list(path.parent.iterdir()) == [path]
    # what a SIGKILL during torch.save leaves: a temporary beside it, removed on the next start
    (path.parent / ".last.pt.abc123.tmp").write_bytes(b"partial")
    assert [p.name for p in remove_stale_temporaries(path.parent)] == [".last.pt.abc123.tmp"]
    assert list(path.parent.iterdir()) == [path]


def test_nonfinite_steps_are_skipped_counted_and_stop_the_run(tiny_data, tmp_path, one_thread):
    cfg = compose_train(
        smoke_overrides(
            tiny_data, "trainer.max_steps=12", "trainer.val_every=100", "trainer.max_nonfinite_streak=3"
        ),
        tmp_path,
    )
    trainer = Trainer(cfg, tmp_path)
    loss_fn = trainer.step.loss_fn
    bad_steps = {3, 7, 8, 9, 10, 11, 12}  # the step being computed is progress.step + 1

    def poisoned(out, x, mask):
        parts = loss_fn(out, x, mask)
        if trainer.progress.step + 1 in bad_steps:
            parts["loss"] = parts["loss"] * float("nan")
        return parts

    trainer.step.loss_fn = poisoned
    with pytest.raises(SarcompError, match="non-finite for 3 steps in a row at step 9") as err:
        trainer.fit()
    assert "\n" not in str(err.value) and "last good checkpoint kept" in str(err.value)
    state = load_checkpoint(checkpoint_path(tmp_path))
    assert state["step"] == 8 and state["nonfinite_total"] == 3  # step 3, 7, 8 (9 stopped it)
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    steps = [s for s, _ in scalars(tmp_path, "train/nonfinite_steps")]
    assert steps == [3, 7, 8, 9]


def test_sigterm_while_waiting_for_data_saves_and_exits(tiny_data, tmp_path, one_thread):
    """A scheduler signals the DataLoader workers too: the fetch fails; the step before is saved."""
    trainer = Trainer(
        compose_train(smoke_overrides(tiny_data, "trainer.max_steps=40", "trainer.val_every=100"), tmp_path),
        tmp_path,
    )
    original = type(trainer.dataset).__getitem__

    def getitem(dataset, index):
        if trainer.progress.step == 3:
            os.kill(os.getpid(), signal.SIGTERM)
            raise RuntimeError("DataLoader worker (pid(s) 4242) exited unexpectedly")
        return original(dataset, index)

    trainer.dataset.__class__ = type("Interrupted", (type(trainer.dataset),), {"__getitem__": getitem})
    with pytest.raises(SystemExit) as exit_:
        trainer.fit()
    assert exit_.value.code == 128 + signal.SIGTERM
    assert load_checkpoint(checkpoint_path(tmp_path))["step"] == 3
    assert signal.getsignal(signal.SIGTERM) != trainer.signals.on_signal  # handler restored
