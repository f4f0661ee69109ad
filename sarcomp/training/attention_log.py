"""Attention during training: gate statistics and residual gains at every validation, to
TensorBoard (``attention/<module>/<statistic>``) and to the run folder's ``attention.jsonl`` (one
line per validation: ``{"step": ..., "modules": {name: {statistic: value}}}``, strict JSON: a
non-finite statistic is ``null``), so a run shows whether its attention switched on
(sarcomp.models.attention_probe)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset
from torch.utils.tensorboard import SummaryWriter

from sarcomp.data.tiles import spread_sample
from sarcomp.fileio import json_safe
from sarcomp.models.attention_probe import attention_modules, attention_statistics
from sarcomp.runs import attention_log_path

PROBE_TILES = 16


def probe_tiles(dataset: Dataset, count: int = PROBE_TILES) -> torch.Tensor:
    """``count`` validation tiles spread over the whole validation set (so over its sources)."""
    return spread_sample(dataset, count)


@torch.no_grad()
def log_attention(
    model: nn.Module, x: torch.Tensor, step: int, run_dir: str | Path, writer: SummaryWriter | None
) -> dict[str, dict[str, float]]:
    """Measure the attention modules on ``x`` (the model's own operating point) and log them;
    returns the statistics (empty for a model without attention)."""
    if not attention_modules(model):
        return {}
    stats = attention_statistics(model, lambda: model(x))
    if writer is not None:
        for name, values in stats.items():
            for key, value in values.items():
                writer.add_scalar(f"attention/{name}/{key}", value, step)
    with open(attention_log_path(run_dir), "a") as fh:
        fh.write(json.dumps(json_safe({"step": step, "modules": stats}), allow_nan=False) + "\n")
    return stats


def read_attention_log(run_dir: str | Path) -> dict[int, dict[str, dict[str, float]]]:
    """The logged statistics by step (a step logged twice, e.g. around a resume, keeps the last)."""
    path = attention_log_path(run_dir)
    if not path.is_file():
        return {}
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {int(e["step"]): e["modules"] for e in entries}
