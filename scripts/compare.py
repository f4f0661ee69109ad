"""Compare runs: python scripts/compare.py <run or sweep folders...> --out <file.md> [options]

Writes <file.md> (the experiment-plan table, BD-rates, RD points, SAR fidelity), <file.json>
beside it, <file>_rd_<metric>.png plots, and the report as TensorBoard text. See
sarcomp/analysis/ for how results are collected, the statistics and the report.
"""

import argparse
import logging
import sys

from sarcomp.cli import run_cli
from sarcomp.config import register_resolvers

register_resolvers()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folders", nargs="+", help="run folders and/or sweep folders")
    parser.add_argument("--out", required=True, help="the Markdown report (.md); JSON and PNGs go beside it")
    parser.add_argument(
        "--tag",
        default="",
        help="results on other data: e.g. 'sar' reads eval/metrics_sar.json "
        "(written by scripts/evaluate.py ... data.root=../shared/sar)",
    )
    parser.add_argument(
        "--lmbda", type=float, default=None, help="λ of the table (default: the λ most variants share)"
    )
    parser.add_argument("--baseline", default="baseline", help="experiment_name of the baseline variant")
    parser.add_argument(
        "--bd-method",
        choices=["cubic", "pchip"],
        default="cubic",
        help="Bjøntegaard fit: cubic (standard, >= 4 points) or pchip (>= 2, labelled)",
    )
    parser.add_argument(
        "--no-evaluate", action="store_true", help="fail instead of evaluating runs that have no metrics yet"
    )
    parser.add_argument(
        "--codecs",
        nargs="*",
        default=None,
        help="classic codecs for on-the-fly evaluation (default: configs/eval.yaml's classic.codecs)",
    )
    parser.add_argument(
        "--tensorboard",
        default=None,
        help="event folder for the report text (default: tensorboard/ beside --out)",
    )
    parser.add_argument(
        "--exclude",
        nargs="*",
        default=[],
        metavar="PATTERN",
        help="scene file-name patterns to leave out on purpose (named in the report), "
        "e.g. a raster the data config misreads",
    )
    parser.add_argument(
        "--exclude-reason", default="", help="why --exclude, written beside each excluded scene"
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help="add the localisation probe (GAP + CAM on original vs decoded tiles; minutes on CPU)",
    )
    parser.add_argument("--title", default=None)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    from sarcomp.analysis.compare import compare
    from sarcomp.analysis.render import plan_table, verdict
    from sarcomp.config import classic_defaults

    classic = classic_defaults()
    if args.codecs is not None:
        classic["codecs"] = args.codecs
    tag = "_" + args.tag.lstrip("_") if args.tag else ""
    report = run_cli(
        compare,
        args.folders,
        args.out,
        tag,
        args.lmbda,
        args.baseline,
        args.bd_method,
        not args.no_evaluate,
        classic,
        args.tensorboard,
        args.title,
        args.device,
        args.exclude,
        args.exclude_reason,
        args.probe,
    )
    for warning in report["warnings"]:
        print(f"warning: {warning}")
    print(plan_table(report))
    print()
    print(verdict(report))
    for key, path in report["outputs"].items():
        print(f"{key}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
