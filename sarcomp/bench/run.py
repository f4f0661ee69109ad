"""One benchmark run: every section on the CPU, and on CUDA too when present; JSON + Markdown.

Files: ``<out>/benchmark-<device>[-quick].{json,md}``, written atomically. Data loading and the
whole-scene row are device-independent and live in the CPU files.
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from sarcomp.bench.attention_scaling import measure_attention
from sarcomp.bench.cbam_profile import measure_cbam
from sarcomp.bench.codec_speed import measure_codecs
from sarcomp.bench.loading import measure_loading
from sarcomp.bench.measure import describe_machine
from sarcomp.bench.report import markdown
from sarcomp.bench.scene import measure_scene
from sarcomp.bench.settings import BenchSettings, compose_experiment
from sarcomp.bench.synthetic_data import write_scenes
from sarcomp.bench.targets import judge
from sarcomp.bench.train_step import measure_train_memory, measure_train_steps
from sarcomp.fileio import atomic_write_text, write_json

NOT_ON_THIS_DEVICE = {"status": "not run: measured in the CPU run"}


def devices() -> list[torch.device]:
    """The CPU always; CUDA when present."""
    return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


def run_benchmark(out: Path, settings: BenchSettings, command: str, note: str = "", log=print) -> list[Path]:
    """Measure every section on every device; returns the files written."""
    written = []
    with tempfile.TemporaryDirectory(prefix="sarcomp-bench-") as work:
        root = write_scenes(Path(work), settings.scene_size)
        for device in devices():
            results = _run_on(device, settings, root, Path(work), command, note, log)
            stem = f"benchmark-{device.type}{'-quick' if settings.quick else ''}"
            write_json(out / f"{stem}.json", results)
            atomic_write_text(out / f"{stem}.md", markdown(results))
            written += [out / f"{stem}.json", out / f"{stem}.md"]
    return written


def _run_on(
    device: torch.device, settings: BenchSettings, root: Path, work: Path, command: str, note: str, log
) -> dict[str, Any]:
    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    results: dict[str, Any] = {
        "command": command,
        "mode": "quick (tiny sizes: a smoke test, not a measurement)" if settings.quick else "full",
        "note": note,
        "started_utc": started.strftime("%Y-%m-%d %H:%M"),
        "machine": describe_machine(device),
        "settings": settings.__dict__,
    }
    log(f"[{device}] training steps ({len(settings.experiments)} experiments)")
    results["train_step"] = measure_train_steps(settings, device)
    results["train_memory"] = measure_train_memory(settings, device)
    log(f"[{device}] CBAM: fused path vs formula, profile")
    results["cbam"] = measure_cbam(settings, device)
    log(f"[{device}] codec encode/decode")
    results["codec"] = measure_codecs(settings, root, device)
    log(f"[{device}] self-attention scaling")
    results["attention"] = measure_attention(
        settings.attention_sides, settings.attention_channels, settings.attention_repeats, device
    )
    if device.type == "cpu":
        log("[cpu] data loading")
        results["loading"] = measure_loading(settings, root)
        log("[cpu] whole scene")
        tile = int(compose_experiment(settings.experiments[0], settings.overrides).data.tile_size)
        results["whole_scene"] = measure_scene(settings, tile, work)
    else:
        results["loading"], results["whole_scene"] = None, NOT_ON_THIS_DEVICE
    results["targets"] = judge(results)
    results["elapsed_s"] = time.perf_counter() - t0
    return results
