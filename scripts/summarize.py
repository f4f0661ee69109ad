"""Parameters and MACs of the V0-V3 plan and the CBAM placement sweep, against the baseline.

python scripts/summarize.py [--tile 256] [--markdown]
"""

import argparse

from sarcomp.analysis.render import format_table
from sarcomp.config import register_resolvers
from sarcomp.models.complexity import count_macs, count_parameters
from sarcomp.runs import build_model

# Rows: the four plan experiments (labelled by their plan_id), the other placements, other types.
PLAN = [
    (None, ["experiment=baseline"]),
    (None, ["experiment=cbam_bottleneck"]),
    (None, ["experiment=cbam_everywhere"]),
    (None, ["experiment=selfattn_bottleneck"]),
    *[
        (f"CBAM@{p}", ["experiment=cbam_bottleneck", f"model.attention.placement={p}"])
        for p in ("encoder", "decoder")
    ],
    ("SA@everywhere", ["experiment=selfattn_bottleneck", "model.attention.placement=everywhere"]),
    *[(None, [f"experiment={name}"]) for name in ("se_bottleneck", "eca_bottleneck", "spatial_bottleneck")],
]
COLUMNS = (
    ("variant", "variant", "s"),
    ("attention", "attention", "s"),
    ("placement", "placement", "s"),
    ("params", "params", ",d"),
    ("params_pct", "Δparams %", "+.2f"),
    ("gmacs", "GMACs/tile", ".3f"),
    ("macs_pct", "ΔMACs %", "+.2f"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tile", type=int, default=256, help="tile side for the MAC count")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()

    from hydra import compose, initialize_config_dir

    from sarcomp.config import CONFIG_DIR

    register_resolvers()
    rows = []
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        for variant, overrides in PLAN:
            cfg = compose(config_name="train", overrides=overrides)
            model = build_model(cfg.model)
            rows.append(
                {
                    "variant": variant or cfg.plan_id or cfg.experiment_name,
                    "attention": cfg.model.attention.type,
                    "placement": cfg.model.attention.placement,
                    "params": count_parameters(model),
                    "gmacs": count_macs(model, args.tile) / 1e9,
                }
            )
    base = rows[0]
    for r in rows:
        r["params_pct"] = 100 * (r["params"] / base["params"] - 1)
        r["macs_pct"] = 100 * (r["gmacs"] / base["gmacs"] - 1)
    print(f"Per {args.tile}x{args.tile} tile, default widths (configs/model/autoencoder.yaml):")
    print(format_table(rows, COLUMNS, markdown=args.markdown))


if __name__ == "__main__":
    main()
