"""Encode and decode time per 256² tile: mean-scale hyperprior against the checkerboard context
and ELIC's channel groups (issue 26), same widths, portable (version-2) path, interleaved repeats,
medians.

    OMP_NUM_THREADS=1 python experiments/context_timing.py [--steps 100] [--repeats 9]

The mean-scale model is the shipped ``baseline-ms-s8-l01`` (widths 48, 64, latent 96, hyper 64).
Each context model takes all its weights but the context networks, which are fitted for
``--steps`` steps on the rate of y alone (transforms and hyperprior frozen) so that its rate, and
so its rANS work, is that of a working model. Tiles: one-look synthetic scenes in dB, [0, 1].
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from omegaconf import OmegaConf

from sarcomp.data.synthetic import generate_scene
from sarcomp.models import SARCodec
from sarcomp.models.zoo import load_pretrained
from sarcomp.training.loss import bits_per_pixel

TILE = 256


def tiles(count: int, seed: int) -> torch.Tensor:
    """``count`` one-look synthetic tiles in dB scaled to [0, 1] (-30 … 10 dB)."""
    out = []
    for i in range(count):
        intensity, _ = generate_scene(TILE, 1, seed + i)
        out.append(np.clip((10 * np.log10(intensity) + 30) / 40, 0, 1).astype(np.float32))
    return torch.from_numpy(np.stack(out))[:, None]


def context_like(cfg, meanscale: SARCodec, entropy: str, steps: int) -> SARCodec:
    """A context model with ``meanscale``'s weights and context networks fitted to its y."""
    kwargs = {k: v for k, v in OmegaConf.to_container(cfg.model).items() if k != "_target_"}
    model = SARCodec(**{**kwargs, "entropy": entropy})
    # not the bounds: float16 in the zoo's files, the likelihood bound 1e-9 comes back as 0
    state = {k: v for k, v in meanscale.state_dict().items() if not k.endswith(".bound")}
    missing, _ = model.load_state_dict(state, strict=False)
    assert all(k.endswith(".bound") or k.startswith("latent_codec.y.") for k in missing)
    codec = model.latent_codec.y
    fitted = list(codec.parameters())
    optimizer = torch.optim.Adam(fitted, lr=1e-3)
    data = tiles(16, 100)
    model.train()
    for step in range(steps):
        x = data[torch.randint(0, len(data), (2,))][..., :128, :128]
        with torch.no_grad():
            y = model.g_a(x)
            params, _ = model.latent_codec.hyper(y)
        _, likelihoods = codec(y, params)
        loss = bits_per_pixel(likelihoods, x.numel())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0:
            print(f"{entropy} fit step {step}: y {float(loss.detach()):.3f} bpp")
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    torch.manual_seed(0)
    cfg, meanscale = load_pretrained("baseline-ms-s8-l01")
    models = {"meanscale": meanscale.eval()}
    for entropy in ("checkerboard", "elic"):
        models[entropy] = context_like(cfg, meanscale, entropy, args.steps)
        models[entropy].update(force=True)
    x_all = tiles(4, 0)
    times = {name: {"encode": [], "decode": []} for name in models}
    sizes = {name: [] for name in models}
    for r in range(args.repeats):
        x = x_all[r % len(x_all)][None]
        for name, model in models.items():  # interleaved: both see the same load
            start = time.perf_counter()
            out = model.compress(x)
            middle = time.perf_counter()
            model.decompress(out["strings"], out["shape"])
            end = time.perf_counter()
            times[name]["encode"].append(1e3 * (middle - start))
            times[name]["decode"].append(1e3 * (end - middle))
            sizes[name].append(8 * sum(len(s[0]) for s in out["strings"]) / x.numel())
    print(f"threads {torch.get_num_threads()}, {args.repeats} interleaved repeats, {TILE}² tiles, medians")
    for name in models:
        enc, dec = (statistics.median(times[name][k]) for k in ("encode", "decode"))
        print(
            f"{name:13s} encode {enc:7.1f} ms  decode {dec:7.1f} ms  {statistics.mean(sizes[name]):.3f} bpp"
        )


if __name__ == "__main__":
    main()
