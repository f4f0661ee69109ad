"""RD report of the shipped models (sarcomp/models/zoo) against the classic codecs on held-back scenes.

    python scripts/zoo_report.py data=geotiff data.root=../shared/sar \
        data.band_specs=configs/bands/shared_sar.yaml data.tile_size=128 data.stride=128 \
        out=experiments/results/zoo_shared_sar.md

Every operating point of every shipped model (``name=<one>`` for one model) is evaluated like
``scripts/evaluate.py model=pretrained`` (scenes a model trained or validated on are dropped),
the classic codecs (``classic.codecs``) are swept on the same scenes and rate-matched
(``classic.match_codecs``) at each point; the tables, the JSON beside ``out`` and a PSNR-bpp plot
are written (sarcomp/analysis/zoo.py).
"""

import hydra
from omegaconf import DictConfig, OmegaConf

from sarcomp.cli import run_cli
from sarcomp.config import register_resolvers

register_resolvers()


def report(cfg: DictConfig) -> None:
    from pathlib import Path

    from sarcomp.analysis.zoo import build_zoo_report, plot_zoo, render_zoo_markdown
    from sarcomp.codec.scaling import coding, parse_range, training_representation
    from sarcomp.data.loaders import load_split
    from sarcomp.errors import SarcompError
    from sarcomp.evaluation.classic import evaluate_classic
    from sarcomp.evaluation.pretrained import evaluate_pretrained, unused_scenes
    from sarcomp.fileio import atomic_write_text, write_json
    from sarcomp.models.zoo import curve_of, entry, shipped_names
    from sarcomp.runs import data_tag, load_results, matched_path
    from sarcomp.training.checks import check_data_config

    if cfg.get("data") is None:
        raise SarcompError("give the scenes: data=geotiff data.root=<folder of rasters>")
    check_data_config(cfg.data)
    names = [cfg.name] if cfg.name else shipped_names(complex=False)
    if not names:
        raise SarcompError("no shipped models in sarcomp/models/zoo")
    classic = OmegaConf.to_container(cfg.classic, resolve=True)
    tag = data_tag(str(cfg.data.root))
    learned, matched = [], []
    rule = parse_range(cfg.range, "range=")
    training = training_representation(entry(names[0])["config"])  # for range=model: the first model's
    scenes = load_split(cfg.data, "test", coding(rule, training))  # the classic sweep's, coded as the models'
    for name in names:
        item = entry(name)
        scenes = unused_scenes(item, scenes)  # the classic sweep codes what no shipped model saw
        lmbdas = item["config"]["model"].get("lmbdas") or [None]
        for lmbda in lmbdas:
            payload, path = evaluate_pretrained(
                name, cfg.data, None, cfg.paths.log_dir, cfg.device, classic, lmbda, range_rule=rule
            )
            learned.append({**payload, "curve": curve_of(item)})
            side = matched_path(path, tag)
            matched.append(load_results(side) if side.is_file() else [])
    out = Path(cfg.out or Path(cfg.paths.log_dir) / "zoo_report" / f"zoo{tag}.md")
    sweep = evaluate_classic(
        scenes,
        int(cfg.data.tile_size),
        classic["codecs"],
        int(classic["bits"]),
        out=out.with_name(f"{out.stem}_classic.json"),
        data_root=str(cfg.data.root),
    )
    result = build_zoo_report(learned, matched, sweep)
    write_json(out.with_suffix(".json"), result)
    plot = plot_zoo(result, out.with_name(f"{out.stem}_rd_psnr.png"))
    text = render_zoo_markdown(result, plot)
    atomic_write_text(out, f"# Shipped models on {cfg.data.root}\n\n{text}")
    print(text)
    print(f"written: {out}")


@hydra.main(config_path="../configs", config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_cli(report, cfg)


if __name__ == "__main__":
    main()
