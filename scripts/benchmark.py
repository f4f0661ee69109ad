"""Benchmarks and the speed targets (issue 14); the measuring lives in ``sarcomp.bench``.

    python scripts/benchmark.py [--out experiments/benchmarks/] [--quick] [--scene-model REF]
                                [--note TEXT]

Training-step throughput per experiment (ratio to the baseline), codec encode/decode against
JPEG 2000, self-attention time and memory as the map grows, data loading, the whole-scene row,
and each target met or not. On the CPU always, on CUDA too when present. ``--quick`` uses tiny
sizes (a smoke test of the whole path, not a measurement).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from sarcomp.bench.run import run_benchmark
from sarcomp.bench.settings import BenchSettings
from sarcomp.cli import run_cli

ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "benchmarks", help="output folder")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the path, measures nothing")
    parser.add_argument("--scene-model", default=None, help="model reference for the whole-scene row")
    parser.add_argument("--note", default="", help="a remark written beside the numbers (e.g. shared CPU)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = BenchSettings.for_mode(args.quick, whole_scene_model=args.scene_model)
    command = shlex.join(["python", "scripts/benchmark.py", *(sys.argv[1:] if argv is None else argv)])
    written = run_cli(
        run_benchmark, args.out, settings, command, args.note, log=lambda m: print(m, flush=True)
    )
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
