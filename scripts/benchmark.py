"""Benchmarks and the speed targets (issues 14 and 27); the measuring lives in ``sarcomp.bench``.

    python scripts/benchmark.py [--out experiments/benchmarks/] [--quick] [--scene-model REF]
                                [--note TEXT]
    python scripts/benchmark.py --scenes [--sizes 4096,8192] [--models A,B] [--threads 1,2]
                                [--test-split data/shared_sar_splits] [--sentinel1] [--quick]

Training-step throughput per experiment (ratio to the baseline), codec encode/decode against
JPEG 2000, self-attention time and memory as the map grows, data loading, the whole-scene row,
and each target met or not. On the CPU always, on CUDA too when present. ``--quick`` uses tiny
sizes (a smoke test of the whole path, not a measurement).

``--scenes`` runs the whole-scene section only (:mod:`sarcomp.bench.scenes`): ``sarcomp compress``
+ ``decompress`` end to end on synthetic scenes against JPEG 2000 (and JPEG, JPEG XL) at the same
bpp, on one thread and on all cores, each case in its own process; the speed–quality plot when
the test split is there; ``--sentinel1`` adds the peak RSS of compressing a 25,000 × 16,700 scene.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from sarcomp.bench.run import run_benchmark
from sarcomp.bench.scenes import SceneBench
from sarcomp.bench.scenes_report import run_scenes
from sarcomp.bench.settings import BenchSettings
from sarcomp.cli import run_cli
from sarcomp.errors import SarcompError

ROOT = Path(__file__).resolve().parent.parent
QUICK_SCENE = 256  # --scenes --quick: one scene this size, one model, one thread
QUICK_SENTINEL1 = (200, 300)  # --scenes --quick --sentinel1: the path only, on a small scene


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "benchmarks", help="output folder")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the path, measures nothing")
    parser.add_argument("--scene-model", default=None, help="model reference for the whole-scene row")
    parser.add_argument("--note", default="", help="a remark written beside the numbers (e.g. shared CPU)")
    scenes = parser.add_argument_group("whole scenes (--scenes)")
    scenes.add_argument("--scenes", action="store_true", help="run the whole-scene section only")
    scenes.add_argument("--sizes", default=None, help="scene sides, comma-separated (default 4096,8192)")
    scenes.add_argument("--models", default=None, help="shipped models, comma-separated (default: stride 8)")
    scenes.add_argument("--threads", default=None, help="thread counts, comma-separated (default 1 and all)")
    scenes.add_argument(
        "--test-split",
        type=Path,
        default=ROOT / "data" / "shared_sar_splits",
        help="folder with test/ for the speed-quality plot (skipped when absent)",
    )
    scenes.add_argument("--sentinel1", action="store_true", help="also a 25,000 x 16,700 compress, peak RSS")
    return parser.parse_args(argv)


def _ints(text: str | None, name: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise SarcompError(f"--{name} {text}: comma-separated whole numbers, e.g. 1,2") from None
    if any(v < 1 for v in values):
        raise SarcompError(f"--{name} {text}: every value must be 1 or more")
    return values


def scene_bench(args: argparse.Namespace) -> SceneBench:
    """The whole-scene settings the arguments ask for (``--quick``: a tiny smoke test)."""
    given: dict = {}
    sizes, threads = _ints(args.sizes, "sizes"), _ints(args.threads, "threads")
    if args.quick:
        given = {"sizes": (QUICK_SCENE,), "threads": (1,), "quick": True, "sentinel1_shape": QUICK_SENTINEL1}
    if sizes:
        given["sizes"] = sizes
    if threads:
        given["threads"] = threads
    if args.models:
        given["models"] = tuple(m.strip() for m in args.models.split(","))
    elif args.quick:
        given["models"] = ("baseline-ms-s8-l003",)
    quality = args.test_split if (args.test_split / "test").is_dir() else None
    return SceneBench(**given, quality_root=quality, sentinel1=args.sentinel1)


def log(message: str) -> None:
    print(message, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", "scripts/benchmark.py", *(sys.argv[1:] if argv is None else argv)])
    if args.scenes:
        written = run_cli(lambda: run_scenes(scene_bench(args), args.out, command, args.note, log=log))
    else:
        settings = BenchSettings.for_mode(args.quick, whole_scene_model=args.scene_model)
        written = run_cli(run_benchmark, args.out, settings, command, args.note, log=log)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
