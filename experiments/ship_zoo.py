"""Ship trained runs into the package's model zoo, then record their measured metrics.

    # 1. weights + config + command + data hashes (float16) into sarcomp/models/zoo/
    python experiments/ship_zoo.py export <run folder> <name> "<exact train command>" [--curve <RD curve>]
    # 2. after scripts/zoo_report.py: each model's operating points from the report's JSON,
    #    with the command that produced them, into its manifest entry
    python experiments/ship_zoo.py record <report.json> "<exact report command>" [--names <model> ...]
    #    (a complex model: the JSON of experiments/complex_study.py, with --names <model>;
    #    one model on the frozen test split: the JSON of experiments/model_rd.py)

``record`` changes only the manifest's ``metrics``; the weight files and their SHA-256 stay.
"""

from __future__ import annotations

import argparse
import json

from sarcomp.fileio import write_json
from sarcomp.models.zoo import MANIFEST, curve_of, export_run, zoo_root


def record(report_path: str, command: str, names: list[str] | None = None) -> None:
    """Each model's metrics from a zoo report (``points``), a complex model's from
    ``experiments/complex_study.py``'s JSON (``rows``), or one model's from ``experiments/model_rd.py``'s
    (``anchors``); ``names`` limits which entries change."""
    report = json.loads(open(report_path).read())
    path = zoo_root() / MANIFEST
    manifest = json.loads(path.read_text())
    if "anchors" in report and report["model"] not in {m["name"] for m in manifest["models"]}:
        raise SystemExit(f"{report_path}: model {report['model']!r} is not in {path}")
    for item in manifest["models"]:
        if names and item["name"] not in names:
            continue
        if "anchors" in report:  # experiments/model_rd.py: one model against classic anchors
            if item["name"] == report["model"]:
                item["metrics"] = {
                    "command": command,
                    "scenes": report["scenes"],
                    "points": report["points"],
                    "against": {
                        k: {"stats": a["stats"], "verdict": a["verdict"]}
                        for k, a in report["anchors"].items()
                    },
                    "targets": report.get("targets", []),
                }
            continue
        if "points" not in report:  # a complex study: its learned rows and the 10° crossings
            if names:
                rows = [r for r in report["rows"] if r["codec"].startswith("learned")]
                item["metrics"] = {"command": command, "rows": rows, "crossings": report["crossings"]}
            continue
        points = [p for p in report["points"] if p["name"] == item["name"]]
        if points:
            curve = report["models"][curve_of(item)]
            item["metrics"] = {
                "command": command,
                "scenes": report["scenes"],
                "points": points,
                "bd": curve["bd"],
                "bd_in_range": curve["bd_in_range"],
            }
    write_json(path, manifest)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    e = sub.add_parser("export")
    e.add_argument("run_dir")
    e.add_argument("name")
    e.add_argument("command")
    e.add_argument("--curve", default=None, help="the RD curve this single-λ model is a point of")
    r = sub.add_parser("record")
    r.add_argument("report")
    r.add_argument("command")
    r.add_argument("--names", nargs="+", default=None, help="only these models (a complex study: one)")
    a = p.parse_args()
    if a.what == "export":
        print(export_run(a.run_dir, a.name, a.command, {}, curve=a.curve))
    else:
        record(a.report, a.command, a.names)


if __name__ == "__main__":
    main()
