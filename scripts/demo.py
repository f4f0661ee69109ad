"""`make demo`: train the baseline and CBAM-at-bottleneck codecs with one budget, evaluate, compare.

Each run goes to outputs/train/runs/<overrides>_data-<tag of data/synthetic> (sarcomp.config.run_name_of);
running the demo again resumes or reuses them.
"""

import subprocess
import sys
import time
from pathlib import Path

from sarcomp.analysis.render import format_table, summary_rows
from sarcomp.config import project_root, run_name_of
from sarcomp.evaluation.evaluate import evaluate_run

EXPERIMENTS = ("baseline", "cbam_bottleneck")
ROOT = Path(__file__).resolve().parent.parent
DATA = project_root() / "data" / "synthetic"  # configs/data/synthetic.yaml's root


def main() -> int:
    start = time.time()
    payloads = []
    for name in EXPERIMENTS:
        overrides = [f"experiment={name}", "debug=demo"]
        cmd = [sys.executable, str(ROOT / "train.py"), *overrides, "trainer.resume=true"]
        print("$", " ".join(cmd[1:]), flush=True)
        if subprocess.call(cmd, cwd=ROOT) != 0:
            return 1
        runs = project_root() / "outputs" / "train" / "runs"
        run_dir = runs / run_name_of(overrides, data_root=DATA, parent=runs)
        payload, path = evaluate_run(run_dir)
        print(f"evaluated {run_dir} -> {path}", flush=True)
        payloads.append(payload)
    print()
    print(format_table(summary_rows(payloads)))
    print(
        f"\nsynthetic test split, {payloads[0]['mean']['bpp_n']} scenes; demo wall time "
        f"{time.time() - start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
