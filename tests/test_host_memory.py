"""Freed host memory kept for reuse (sarcomp.host_memory), and the trainer's switch."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

import sarcomp.training.trainer as trainer_module
from sarcomp.training.trainer import Trainer
from tests.helpers import REPO, compose_train, smoke_overrides

# minor page faults of a 32 MiB product made and freed 20 times; the last five counted (the
# heap settles within the first few)
REUSE = """
import resource, sys, torch
from sarcomp.host_memory import retain_freed_memory
if sys.argv[1] == "retain":
    assert retain_freed_memory()
x = torch.ones(8 * 2**20)
faults = []
for _ in range(20):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    y = x * 2
    del y
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(sum(faults[-5:]))
"""
PAGES = 8 * 2**20 * 4 // 4096  # of one product


def faults_of_reuse(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", REUSE, mode], cwd=REPO, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only"
)
def test_retained_memory_is_reused_without_page_faults() -> None:
    """Without it every product is fresh memory (one fault per page, unless huge pages hide them);
    with it the freed block is reused and the last five products fault less than a tenth of a
    product's pages in all."""
    assert faults_of_reuse("retain") < PAGES / 10
    assert faults_of_reuse("plain") > faults_of_reuse("retain")


@pytest.mark.parametrize("retain", [True, False])
def test_trainer_retains_host_memory_on_cpu_when_configured(tiny_data, tmp_path, monkeypatch, retain) -> None:
    calls = []
    monkeypatch.setattr(trainer_module, "retain_freed_memory", lambda: calls.append(1) or True)
    cfg = compose_train(smoke_overrides(tiny_data) + [f"trainer.retain_host_memory={retain}"], tmp_path)
    Trainer(cfg, tmp_path)
    assert len(calls) == int(retain)


def test_sarcomp_cli_retains_host_memory(tmp_path, monkeypatch) -> None:
    import sarcomp.codec.commands as commands

    calls = []
    monkeypatch.setattr(commands, "retain_freed_memory", lambda: calls.append(1) or True)
    with pytest.raises(SystemExit):
        commands.main(["info", str(tmp_path / "missing.sarc")])
    assert calls == [1]


ONE_HEAP = """
import sys, threading
import numpy as np
from sarcomp.host_memory import retain_freed_memory, share_one_heap
assert retain_freed_memory()
if sys.argv[1] == "shared":
    assert share_one_heap()
def peak():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) // 1024
def burst():
    arrays = [np.ones(4 * 2**20, np.float32) for _ in range(3)]  # 48 MB, freed on return
start = peak()
thread = threading.Thread(target=burst)
thread.start()
thread.join()
burst()
print(peak() - start)
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_one_heap_lets_the_main_thread_reuse_what_a_thread_freed():
    def growth(mode: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", ONE_HEAP, mode], cwd=REPO, capture_output=True, text=True, check=True
        )
        return int(out.stdout.strip())

    shared, own = growth("shared"), growth("own")
    assert shared < 70 and own > 90  # MB: one 48 MB burst held once, or once per heap
