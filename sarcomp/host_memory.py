"""Keeping freed host memory for reuse, so CPU training does not page-fault its activations anew
at every step.

PyTorch takes CPU tensors from the C library's ``malloc``. glibc serves a block above its mmap
threshold (at most 32 MB on 64-bit) with a fresh ``mmap`` and unmaps it on ``free``, so a training
step's large activations and gradients are new memory each time, and the kernel zero-fills every
page on first touch. Measured on one thread at 8×64×128×128 float32 (33.5 MB): a broadcast product
takes 1.4 ms into an existing tensor and 12–30 ms into a new one. PyTorch's CPU performance guide
suggests preloading jemalloc or TCMalloc for this; that needs a system library and an environment
variable set before Python starts. glibc's own ``mallopt`` does the same from inside the process:
no ``mmap`` for large blocks (``M_MMAP_MAX = 0``) and no trimming of the heap's top
(``M_TRIM_THRESHOLD``), so freed blocks stay mapped and the next step reuses them. The cost is that
resident memory stays at its high-water mark until the process ends, which suits the trainer
(``trainer.retain_host_memory``) and the coding commands (``sarcomp``, ``scripts/evaluate.py``),
where it applies. Numbers are not affected, only where the bytes live: 300 steps of ``recipe_cpu`` at stride
8 gave bit-identical weights with and without it, at 4.05 against 3.23 steps/s and 1.59 against
1.48 GB peak RSS (beside two other trainings on the 2-core VM).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

M_TRIM_THRESHOLD = -1  # from glibc's <malloc.h>
M_MMAP_MAX = -4
M_ARENA_MAX = -8
NEVER_TRIM = 2**31 - 1


def retain_freed_memory() -> bool:
    """Make this process's ``malloc`` keep freed memory for reuse (glibc only); returns whether it
    took effect. Applies to allocations made from now on, in this process and children it forks."""
    libc = _glibc()
    return (
        libc is not None
        and bool(libc.mallopt(M_MMAP_MAX, 0))
        and bool(libc.mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))
    )


def share_one_heap() -> bool:
    """Make every thread of this process allocate from glibc's main arena (glibc only); returns
    whether it took effect. glibc gives threads heaps (arenas) of their own, and with freed memory
    retained each keeps its own high-water mark. Coding a scene 8192 px wide with the pipeline's
    reader and worker threads (:mod:`sarcomp.codec.pipeline`; batch 8, one worker) peaked at 1239
    MB RSS with a heap per thread and 1110 MB with one (``MALLOC_ARENA_MAX=1``). Their allocations
    are few and large, so sharing one lock costs nothing measurable. Applies to threads that
    allocate for the first time from now on."""
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(M_ARENA_MAX, 1))


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c")
    return None if name is None else ctypes.CDLL(name)
