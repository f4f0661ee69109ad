"""Measuring primitives: medians of repeated runs after warm-up, peak memory, the machine.

Peak memory on CPU comes from ``torch.profiler`` with ``profile_memory=True``: every allocation
event carries the CPU allocator's running total, and the peak is the largest total seen during
the call minus the total before its first allocation (tensors alive before the call are not
counted). On CUDA it is ``torch.cuda.max_memory_allocated`` minus the allocation before the call.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a timer measures the work and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(
    fn: Callable[[], Any], repeats: int, warmup: int = 1, device: torch.device | None = None
) -> dict[str, Any]:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed; median and all runs (s)."""
    device = device or torch.device("cpu")
    for _ in range(warmup):
        fn()
    sync(device)
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        runs.append(time.perf_counter() - start)
    return {"median_s": statistics.median(runs), "runs_s": runs}


def peak_bytes(fn: Callable[[], Any], device: torch.device) -> int:
    """Peak memory allocated while ``fn`` runs, above what was allocated before (see module doc)."""
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        sync(device)
        return int(torch.cuda.max_memory_allocated(device) - before)
    return _cpu_peak_bytes(fn)


def _cpu_peak_bytes(fn: Callable[[], Any]) -> int:
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events, stack = [], list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        event = stack.pop()
        stack.extend(event.children)
        kind, fields = event.typed
        if kind == _EventType.Allocation and fields.device.type == "cpu":
            events.append((event.start_time_ns, fields.total_allocated, fields.alloc_size))
    if not events:
        return 0
    events.sort()
    before = events[0][1] - events[0][2]
    return int(max(total for _, total, _ in events) - before)


def describe_machine(device: torch.device) -> dict[str, Any]:
    """CPU model, cores, torch threads, versions, the load average (other jobs on a shared CPU)
    and the GPU if one is used."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "gpu": None,
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = {"name": props.name, "memory_gb": round(props.total_memory / 1e9, 1)}
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
