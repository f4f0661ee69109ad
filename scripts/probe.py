"""Does localisation survive compression? python scripts/probe.py runs=[<run>,...] [out=<folder>]

Trains the GAP + CAM probe (and its STN variant) on synthetic tiles, codes the test tiles with
each run's real bitstream and writes ``probe.md`` and ``probe.json`` into ``out``
(default ``outputs/probe``). CPU, a few minutes. Options (key=value): checkpoint=best and any
field of ``sarcomp.interpret.probe.ProbeConfig`` (e.g. epochs=15 train_scenes=32 seed=0).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sarcomp.cli import run_cli
from sarcomp.errors import SarcompError


def main(argv: Sequence[str]) -> None:
    from sarcomp.interpret.probe import ProbeConfig, probe_markdown, probe_rows, write_probe_report

    own = ("runs=", "out=", "checkpoint=")
    try:
        args = OmegaConf.merge(
            OmegaConf.create({"runs": [], "out": "outputs/probe", "checkpoint": "best"}),
            OmegaConf.from_dotlist([a for a in argv if a.startswith(own)]),
        )
        probe = OmegaConf.merge(
            OmegaConf.structured(ProbeConfig),
            OmegaConf.from_dotlist([a for a in argv if not a.startswith(own)]),
        )
        cfg = OmegaConf.to_object(probe)
    except (OmegaConfBaseException, IndexError, ValueError) as exc:  # from_dotlist on a malformed word
        raise SarcompError(
            f"probe.py: {str(exc).splitlines()[0] or type(exc).__name__} (expected key=value)"
        ) from None
    pcfg = replace(cfg, **{k: tuple(v) for k, v in vars(cfg).items() if isinstance(v, list)})
    runs = [args.runs] if isinstance(args.runs, str) else list(args.runs)
    rows = probe_rows(runs, pcfg, args.checkpoint)
    print(probe_markdown(rows, pcfg))
    for path in write_probe_report(rows, pcfg, args.out):
        print(path)


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
