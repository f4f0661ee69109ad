"""What portable coding (.sarc version 2) costs in speed: encode + decode of 256² tiles by the float
path (version 1, what sarcomp did before) and by the portable path, in one process, interleaved
round by round so that a shared machine's load falls on both alike.

    OMP_NUM_THREADS=1 python experiments/portable_speed.py [--models baseline-ms-s8-l01 ...] [--rounds 20]

Tiles: four 256² tiles of a synthetic 1-look 512² scene (sarcomp.data.synthetic). Per model and
path: the median over rounds of the time to compress and then decompress the four tiles (CPU time
of this process, and wall time), per tile; the ratio portable / float.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from sarcomp.data.synthetic import generate_scene
from sarcomp.models.zoo import load_pretrained


def tiles() -> list[torch.Tensor]:
    intensity, _ = generate_scene(512, 1, 0)
    unit = np.clip((10 * np.log10(intensity) + 30) / 40, 0, 1).astype(np.float32)
    return [
        torch.from_numpy(np.ascontiguousarray(unit[r : r + 256, c : c + 256]))[None, None]
        for r in (0, 256)
        for c in (0, 256)
    ]


def round_trip(model, xs: list[torch.Tensor], portable: bool) -> None:
    for x in xs:
        out = model.compress(x, portable=portable)
        model.decompress(out["strings"], out["shape"], portable=portable)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--models", nargs="+", default=["baseline-ms-s8-l001", "baseline-ms-s8-l01", "baseline-ms-vr"]
    )
    p.add_argument("--rounds", type=int, default=20)
    a = p.parse_args()
    torch.set_num_threads(1)
    xs = tiles()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}; ms per 256² tile, encode + decode, median of {a.rounds} rounds"
    )
    print("| model | float CPU | portable CPU | ratio | float wall | portable wall | ratio |")
    print("|---|---|---|---|---|---|---|")
    for name in a.models:
        _, model = load_pretrained(name)
        times = {(p, k): [] for p in (False, True) for k in ("cpu", "wall")}
        for portable in (False, True):
            round_trip(model, xs, portable)  # warm-up: tables, integer network, oneDNN primitives
        for _ in range(a.rounds):
            for portable in (False, True):
                cpu, wall = time.process_time(), time.perf_counter()
                round_trip(model, xs, portable)
                times[portable, "cpu"].append((time.process_time() - cpu) * 1e3 / len(xs))
                times[portable, "wall"].append((time.perf_counter() - wall) * 1e3 / len(xs))
        med = {key: statistics.median(v) for key, v in times.items()}
        print(
            f"| {name} | {med[False, 'cpu']:.1f} | {med[True, 'cpu']:.1f} | {med[True, 'cpu'] / med[False, 'cpu']:.3f} | "
            f"{med[False, 'wall']:.1f} | {med[True, 'wall']:.1f} | {med[True, 'wall'] / med[False, 'wall']:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
