"""See where a trained codec looks: python scripts/explain.py run_dir=<run> image=<raster> [out=<folder>]

``run_dir`` may also be a checkpoint file or a shipped model's name (``run_dir=v1-cbam-l0067``;
figures then go to ``outputs/explain/<model>/<image stem>``, and to no TensorBoard).

Writes PNGs (spatial attention maps, channel weights and their distribution over the image's
tiles, self-attention weights of query pixels, Grad-CAM for the distortion in a region of interest
and for the rate, augmented Grad-CAM, RISE, bits beside error) and ``explain.json`` into ``out``
(default ``<run>/explain/<image stem>``), and the same figures into the run's TensorBoard.

Options (key=value): crop=256 (centre crop side, multiple of 16; 0 for the whole image),
roi=[row,col,height,width], queries=[[row,col],...], rise_masks=256, rise_batch=16,
rise_cells=8, augmented=true, rise=true, seed=0, checkpoint=best, tiles_from=<raster or folder>
(the tiles whose channel weights make the distribution figure, e.g. the test split; default the image).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sarcomp.cli import run_cli
from sarcomp.errors import SarcompError


@dataclass
class Args:
    run_dir: str = "???"
    image: str = "???"
    out: str | None = None
    crop: int = 256
    roi: list[int] | None = None
    queries: list[list[int]] | None = None
    rise_masks: int = 256
    rise_batch: int = 16
    rise_cells: int = 8
    augmented: bool = True
    rise: bool = True
    seed: int = 0
    checkpoint: str = "best"
    tiles_from: str | None = None


def parse(argv: Sequence[str]) -> Args:
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(Args), OmegaConf.from_dotlist(list(argv)))
        return OmegaConf.to_object(cfg)
    except OmegaConfBaseException as exc:
        raise SarcompError(
            f"explain.py: {str(exc).splitlines()[0]} (usage: {__doc__.splitlines()[0].split(': ', 1)[1]})"
        ) from None


def main(argv: Sequence[str]) -> None:
    from sarcomp.interpret.explain import ExplainOptions, explain_run

    a = parse(argv)
    if a.roi is not None and len(a.roi) != 4:
        raise SarcompError(f"roi={a.roi}: give [row, col, height, width]")
    if a.queries is not None and any(len(q) != 2 for q in a.queries):
        raise SarcompError(f"queries={a.queries}: give [[row, col], ...]")
    opts = ExplainOptions(
        roi=tuple(a.roi) if a.roi else None,
        queries=tuple(tuple(q) for q in a.queries) if a.queries else None,
        rise_masks=a.rise_masks,
        rise_batch=a.rise_batch,
        rise_cells=a.rise_cells,
        augmented=a.augmented,
        rise=a.rise,
        seed=a.seed,
    )
    for path in explain_run(a.run_dir, a.image, a.out, a.crop or None, opts, a.checkpoint, a.tiles_from):
        print(path)


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
