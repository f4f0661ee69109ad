"""The compare report in TensorBoard: Markdown text and RD plots as images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def write_tensorboard(log_dir: Path, markdown: str, plots: Sequence[Path], name: str = "report") -> None:
    """The report as text (TensorBoard renders Markdown tables) and the plots as images, under
    ``compare/<name>/``; each call is a new step, so reruns into the same folder keep a history."""
    import matplotlib.image as mpimg
    from torch.utils.tensorboard import SummaryWriter

    step = len(list(Path(log_dir).glob("events.out.tfevents.*"))) if Path(log_dir).is_dir() else 0
    with SummaryWriter(log_dir=str(log_dir)) as writer:
        writer.add_text(f"compare/{name}/report", markdown, step)
        for path in plots:
            image = mpimg.imread(path)[..., :3]
            writer.add_image(f"compare/{name}/{path.stem}", image, step, dataformats="HWC")
