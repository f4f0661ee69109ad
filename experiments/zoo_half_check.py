"""Is float16 weight storage free? Evaluate a run's model as trained (float32) and after a
float16 round trip of its weights (what the zoo stores with ``half``), on the same scenes.

    python experiments/zoo_half_check.py <run folder> [data root] [--tile 128] [--band-specs FILE]
"""

from __future__ import annotations

import argparse
import copy

import torch
from omegaconf import OmegaConf

from sarcomp.data.loaders import load_split
from sarcomp.evaluation.scenes import evaluate_scenes, exclude_training_scenes
from sarcomp.runs import load_run, read_scenes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument(
        "data_root", nargs="?", default=None, help="a folder of rasters (default: the run's test split)"
    )
    p.add_argument("--tile", type=int, default=128)
    p.add_argument("--band-specs", default=None, help="band-spec file for the data root (data.band_specs)")
    a = p.parse_args()
    cfg, model, _ = load_run(a.run_dir)
    data = cfg.data
    if a.data_root:  # configs/data/geotiff.yaml's representation: units per file, per-scene percentiles
        real = {"units": "auto", "db_range": None, "percentiles": [1.0, 99.0]}
        data = OmegaConf.merge(
            cfg.data, {"root": a.data_root, "representation": real, "band_specs": a.band_specs}
        )
    scenes = exclude_training_scenes(load_split(data, "test"), read_scenes(a.run_dir))
    half = copy.deepcopy(model)
    half.load_state_dict(
        {k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    )
    half.update(force=True)
    for name, m in (("float32", model), ("float16 storage", half)):
        rows, _ = evaluate_scenes(m, scenes, a.tile, torch.device("cpu"))
        bpp = sum(r["bpp"] for r in rows) / len(rows)
        psnr = sum(r["psnr"] for r in rows) / len(rows)
        print(f"{name}: {len(rows)} scenes, mean bpp {bpp:.5f}, mean PSNR {psnr:.4f} dB")


if __name__ == "__main__":
    main()
