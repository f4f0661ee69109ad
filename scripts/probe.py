"""Does localisation survive compression? python scripts/probe.py runs=[<run>,...] [out=<folder>]

Trains the GAP + CAM probe (and its STN variant) on synthetic tiles, codes the test tiles with
each run's real bitstream and writes ``probe.md`` and ``probe.json`` into ``out``
(default ``outputs/probe``). CPU, a few minutes. Options (key=value): checkpoint=best and any
field of ``sarcomp.interpret.probe.ProbeConfig`` (e.g. epochs=15 train_scenes=32 seed=0).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sarcomp.cli import run_cli
from sarcomp.errors import SarcompError


def main(argv: Sequence[str]) -> None:
    from sarcomp.interpret.probe import ProbeConfig, probe_markdown, probe_rows, write_probe_report

    base = OmegaConf.create(
        {"runs": [], "out": "outputs/probe", "checkpoint": "best", **asdict(ProbeConfig())}
    )
    OmegaConf.set_struct(base, True)
    try:
        cfg = OmegaConf.to_container(OmegaConf.merge(base, OmegaConf.from_dotlist(list(argv))))
    except OmegaConfBaseException as exc:
        raise SarcompError(f"probe.py: {str(exc).splitlines()[0]}") from None
    runs, out, checkpoint = cfg.pop("runs"), cfg.pop("out"), cfg.pop("checkpoint")
    runs = [runs] if isinstance(runs, str) else runs
    pcfg = ProbeConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})
    rows = probe_rows(runs, pcfg, checkpoint)
    print(probe_markdown(rows, pcfg))
    for path in write_probe_report(rows, pcfg, out):
        print(path)


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
