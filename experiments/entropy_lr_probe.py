"""Why ``trainer.entropy_lr_scale`` exists: rate after 300 steps with and without it.

    make data && .venv/bin/python experiments/entropy_lr_probe.py

Trains the demo-sized codec (widths 32/64/128, latent 96) on 64-px random crops of
data/synthetic for 300 steps at lr 5e-4, λ = 0.013, batch 8, one thread, once with the
entropy model's density parameters at the network's lr and once at 10x, and prints bpp and MSE
of the last batch every 100 steps.
"""

import torch
from omegaconf import OmegaConf

from sarcomp.data.loaders import load_split
from sarcomp.data.tiles import RandomTiles
from sarcomp.models import SARCodec
from sarcomp.training.loss import RateDistortionLoss

STEPS, LR, BATCH = 300, 5e-4, 8


def probe(scale: float, dataset: RandomTiles) -> None:
    torch.manual_seed(0)
    model = SARCodec((32, 64, 128), 96)
    named = list(model.named_parameters())
    density = [p for n, p in named if ".entropy_bottleneck." in n and not n.endswith("quantiles")]
    network = [p for n, p in named if ".entropy_bottleneck." not in n]
    optimizer = torch.optim.Adam([{"params": network}, {"params": density, "lr": LR * scale}], lr=LR)
    loss_fn = RateDistortionLoss(0.013)
    for step in range(STEPS):
        x = torch.stack([dataset[step * BATCH + i]["x"] for i in range(BATCH)])
        parts = loss_fn(model(x), x)
        optimizer.zero_grad()
        parts["loss"].backward()
        optimizer.step()
        if (step + 1) % 100 == 0:
            print(
                f"entropy_lr_scale={scale:g} step {step + 1}: bpp {float(parts['bpp'].detach()):.3f} "
                f"mse {float(parts['mse'].detach()):.5f}",
                flush=True,
            )


def main() -> None:
    torch.set_num_threads(1)
    cfg = OmegaConf.load("configs/data/synthetic.yaml")
    cfg.root = "data/synthetic"
    dataset = RandomTiles(load_split(cfg, "train"), 64, STEPS * BATCH, seed=0)
    for scale in (1.0, 10.0):
        probe(scale, dataset)


if __name__ == "__main__":
    main()
