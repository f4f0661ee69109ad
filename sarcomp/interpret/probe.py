"""Does localisation survive compression? A GAP + CAM classification probe on synthetic tiles.

The probe (small CNN, global average pooling, one linear layer) tells whether a tile holds a
bright target cluster (at least ``min_target_pixels`` pixels of the noise-free reflectivity
``threshold_db`` above their 15-px median background: ships, buildings, farmsteads) and which
land-cover class dominates. Its class activation map for "target" is ``M = Σ_k w_k f_k``
(CAM, Zhou et al. 2016). For each codec run the test tiles are coded with the real bitstream
(``compress``/``decompress``); the report gives the probe's accuracy on the decoded tiles and
the IoU between the thresholded CAMs of the original and the decoded tile, against bpp.

The Spatial Transformer's natural role: probes with and without an STN front end are trained
on randomly shifted, rotated and scaled tiles and tested on such tiles, original and decoded.

Probe scenes are drawn with their own seeds (never the codec's training scenes); the probe
trains on one set of scenes and is tested on another.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor, nn

from sarcomp.data.loaders import representation
from sarcomp.data.representation import Representation
from sarcomp.data.speckle import SPECKLE_CORRELATION, apply_speckle
from sarcomp.data.terrain import CLASS_NAMES, generate_layers
from sarcomp.errors import SarcompError
from sarcomp.fileio import atomic_write_text, write_json
from sarcomp.models.attention import build_attention
from sarcomp.runs import load_run


@dataclass(frozen=True)
class ProbeConfig:
    train_scenes: int = 32
    test_scenes: int = 12
    scene_size: int = 256
    tile: int = 64
    looks: tuple[int, ...] = (1, 4)
    threshold_db: float = 15.0
    min_target_pixels: int = 10
    max_clutter_pixels: int = 2  # tiles with 3..9 bright pixels are ambiguous: left out
    epochs: int = 10
    batch: int = 64
    lr: float = 2e-3
    cam_threshold: float = 0.5  # of each CAM's maximum
    max_shift: float = 0.2  # of the half-width (normalised coordinates)
    max_rotation_deg: float = 30.0
    scale_range: tuple[float, float] = (0.8, 1.2)
    seed: int = 0


@dataclass
class ProbeData:
    """Tiles ``x`` ``[N, 1, t, t]`` in [0, 1], noise-free target masks and class maps (same
    shape), and the labels derived from them."""

    x: Tensor
    mask: Tensor
    cls_map: Tensor
    target: Tensor = field(init=False)
    cls: Tensor = field(init=False)
    min_pixels: int = 10

    def __post_init__(self) -> None:
        self.target, self.cls = labels(self.mask, self.cls_map, self.min_pixels)

    def __len__(self) -> int:
        return self.x.shape[0]


def labels(mask: Tensor, cls_map: Tensor, min_pixels: int) -> tuple[Tensor, Tensor]:
    """(target present ``[N]`` float, dominant class ``[N]`` long) of mask/class-map tiles."""
    target = (mask.flatten(1).sum(1) >= min_pixels).float()
    counts = F.one_hot(cls_map.flatten(1).long(), len(CLASS_NAMES)).sum(1)
    return target, counts.argmax(1)


def make_tiles(cfg: ProbeConfig, split: str, rep: Representation) -> ProbeData:
    """Synthetic probe tiles of ``split`` (``train``: half-overlapping, ``test``: a grid)."""
    n_scenes = cfg.train_scenes if split == "train" else cfg.test_scenes
    stride = cfg.tile // 2 if split == "train" else cfg.tile
    xs, masks, maps = [], [], []
    for i in range(n_scenes):
        ss_refl, ss_speckle = np.random.SeedSequence([cfg.seed, split == "test", i, 0x9B0BE]).spawn(2)
        refl, cls, _ = generate_layers(np.random.default_rng(ss_refl), cfg.scene_size)
        looks = cfg.looks[i % len(cfg.looks)]
        intensity = apply_speckle(np.random.default_rng(ss_speckle), refl, looks, SPECKLE_CORRELATION)
        unit = rep.to_unit(intensity, rep.scaling(intensity, np.ones(intensity.shape, bool)))
        db = 10 * np.log10(refl)
        bright = (db - ndimage.median_filter(db, size=15)) > cfg.threshold_db
        for r in range(0, cfg.scene_size - cfg.tile + 1, stride):
            for c in range(0, cfg.scene_size - cfg.tile + 1, stride):
                win = (slice(r, r + cfg.tile), slice(c, c + cfg.tile))
                xs.append(unit[win])
                masks.append(bright[win])
                maps.append(cls[win])

    def stack(a: list, dtype: torch.dtype) -> Tensor:
        return torch.from_numpy(np.stack(a)[:, None].astype(np.float32)).to(dtype)

    data = ProbeData(
        stack(xs, torch.float32), stack(masks, torch.float32), stack(maps, torch.uint8), cfg.min_target_pixels
    )
    count = data.mask.flatten(1).sum(1)
    keep = (count >= cfg.min_target_pixels) | (count <= cfg.max_clutter_pixels)
    return subset(data, torch.nonzero(keep)[:, 0])


def random_affine(n: int, cfg: ProbeConfig, generator: torch.Generator) -> Tensor:
    """``[n, 2, 3]`` affine transforms: rotation, isotropic scale and shift drawn uniformly."""
    u = torch.rand(n, 4, generator=generator)
    angle = math.radians(cfg.max_rotation_deg) * (2 * u[:, 0] - 1)
    lo, hi = cfg.scale_range
    scale = lo + (hi - lo) * u[:, 1]
    shift = cfg.max_shift * (2 * u[:, 2:] - 1)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    return torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)


def warp(data: ProbeData, theta: Tensor) -> ProbeData:
    """The tiles, masks and class maps resampled by ``theta`` (reflection at the borders;
    bilinear for the image, nearest for masks), labels recomputed from the warped maps."""
    grid = F.affine_grid(theta, list(data.x.shape), align_corners=False)

    def sample(t: Tensor, mode: str) -> Tensor:
        return F.grid_sample(t.float(), grid, mode=mode, padding_mode="reflection", align_corners=False)

    return ProbeData(
        sample(data.x, "bilinear"),
        sample(data.mask, "nearest"),
        sample(data.cls_map, "nearest").to(torch.uint8),
        data.min_pixels,
    )


def subset(data: ProbeData, idx: Tensor) -> ProbeData:
    return ProbeData(data.x[idx], data.mask[idx], data.cls_map[idx], data.min_pixels)


def _conv(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class Probe(nn.Module):
    """Conv features → global average pooling → linear (1 target logit + class logits).

    ``stn=True`` puts the ``stn`` attention module (identity at initialisation) in front.
    """

    def __init__(self, stn: bool = False, classes: int = len(CLASS_NAMES), width: int = 32):
        super().__init__()
        self.stn = build_attention("stn", 1) if stn else nn.Identity()
        self.features = nn.Sequential(
            *_conv(1, width // 2, 1),
            *_conv(width // 2, width, 2),
            *_conv(width, width, 1),
            *_conv(width, 2 * width, 2),
        )
        self.head = nn.Linear(2 * width, 1 + classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(self.stn(x)).mean((2, 3)))

    def cam(self, x: Tensor, index: int = 0) -> Tensor:
        """CAM ``Σ_k w_k^c f_k`` ``[B, 1, h, w]`` of output ``index`` (0: target); its spatial
        mean plus the bias is that logit."""
        f = self.features(self.stn(x))
        return torch.einsum("k,bkhw->bhw", self.head.weight[index], f)[:, None]


def train_probe(data: ProbeData, cfg: ProbeConfig, stn: bool = False, affine: bool = False) -> Probe:
    """Fit a probe (BCE for the target + cross-entropy for the class, Adam). ``affine``: every
    batch is warped by fresh random transforms (labels follow); else random flips."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    probe = Probe(stn=stn)
    opt = torch.optim.Adam(probe.parameters(), lr=cfg.lr)
    probe.train()
    for _ in range(cfg.epochs):
        for idx in torch.randperm(len(data), generator=gen).split(cfg.batch):
            b = subset(data, idx)
            if affine:
                b = warp(b, random_affine(len(b), cfg, gen))
            x = b.x
            if not affine and torch.rand(1, generator=gen) < 0.5:
                x = x.flip(-1)
            logits = probe(x)
            loss = F.binary_cross_entropy_with_logits(logits[:, 0], b.target) + F.cross_entropy(
                logits[:, 1:], b.cls
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return probe.eval()


@torch.no_grad()
def accuracy(probe: Probe, x: Tensor, data: ProbeData) -> tuple[float, float]:
    """(target accuracy, dominant-class accuracy) of the probe on tiles ``x`` with ``data``'s labels."""
    logits = torch.cat([probe(b) for b in x.split(256)])
    target = ((logits[:, 0] > 0).float() == data.target).float().mean()
    cls = (logits[:, 1:].argmax(1) == data.cls).float().mean()
    return float(target), float(cls)


@torch.no_grad()
def cam_iou(probe: Probe, a: Tensor, b: Tensor, threshold: float) -> Tensor:
    """Per-tile IoU of the target CAMs of ``a`` and ``b``, each thresholded at ``threshold`` ×
    its maximum (ReLU first); 1 where both are empty."""

    def region(x: Tensor) -> Tensor:
        m = F.relu(torch.cat([probe.cam(t) for t in x.split(256)])).flatten(1)
        return (m >= threshold * m.amax(1, keepdim=True)) & (m > 0)

    ra, rb = region(a), region(b)
    inter, union = (ra & rb).sum(1).float(), (ra | rb).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


@torch.no_grad()
def code_tiles(model: nn.Module, x: Tensor, batch: int = 32) -> tuple[Tensor, float]:
    """Tiles through the real bitstream: (decoded tiles, mean bpp from the byte counts)."""
    outs, nbytes = [], 0
    for b in x.split(batch):
        enc = model.compress(b)
        nbytes += sum(len(s) for strings in enc["strings"] for s in strings)
        outs.append(model.decompress(enc["strings"], enc["shape"])["x_hat"].float())
    return torch.cat(outs), 8 * nbytes / (x.shape[0] * x.shape[-2] * x.shape[-1])


@dataclass
class Probes:
    plain: Probe
    affine_plain: Probe
    affine_stn: Probe


def fit_probes(train: ProbeData, cfg: ProbeConfig) -> Probes:
    return Probes(
        train_probe(train, cfg),
        train_probe(train, cfg, stn=False, affine=True),
        train_probe(train, cfg, stn=True, affine=True),
    )


def _row(
    name: str,
    bpp: float | None,
    probes: Probes,
    x: Tensor,
    test: ProbeData,
    xa: Tensor,
    affine: ProbeData,
    ref: Tensor,
    cfg: ProbeConfig,
) -> dict[str, Any]:
    t_acc, c_acc = accuracy(probes.plain, x, test)
    iou = cam_iou(probes.plain, ref, x, cfg.cam_threshold)
    pos = test.target.bool()
    return {
        "variant": name,
        "bpp": bpp,
        "target_acc": t_acc,
        "class_acc": c_acc,
        "cam_iou_target_tiles": float(iou[pos].mean()) if pos.any() else None,
        "cam_iou_all": float(iou.mean()),
        "affine_target_acc": accuracy(probes.affine_plain, xa, affine)[0],
        "affine_target_acc_stn": accuracy(probes.affine_stn, xa, affine)[0],
        "affine_class_acc": accuracy(probes.affine_plain, xa, affine)[1],
        "affine_class_acc_stn": accuracy(probes.affine_stn, xa, affine)[1],
    }


def probe_rows(
    run_dirs: Sequence[str | Path], cfg: ProbeConfig | None = None, checkpoint: str = "best"
) -> list[dict[str, Any]]:
    """Report rows: the original tiles, then each run's decoded tiles (see the module docstring).

    All runs must share one data representation (the probe tiles are made in it).
    """
    cfg = cfg or ProbeConfig()
    runs = [load_run(r, checkpoint) for r in run_dirs]
    reps = {representation(c.data) for c, _, _ in runs} or {Representation()}
    if len(reps) > 1:
        raise SarcompError(
            f"probe: the runs use different data representations ({', '.join(map(str, reps))})"
        )
    rep = reps.pop()
    train, test = make_tiles(cfg, "train", rep), make_tiles(cfg, "test", rep)
    affine = warp(test, random_affine(len(test), cfg, torch.Generator().manual_seed(cfg.seed + 2)))
    probes = fit_probes(train, cfg)
    rows = [_row("original", None, probes, test.x, test, affine.x, affine, test.x, cfg)]
    for run_dir, (run_cfg, model, _) in zip(run_dirs, runs):
        name = f"{run_cfg.get('experiment_name', Path(run_dir).name)} (λ={float(run_cfg.model.lmbda):g})"
        decoded, bpp = code_tiles(model, test.x)
        decoded_affine, _ = code_tiles(model, affine.x)
        rows.append(_row(name, bpp, probes, decoded, test, decoded_affine, affine, test.x, cfg))
    for row in rows:
        row |= {"test_tiles": len(test), "target_tiles": int(test.target.sum()), "train_tiles": len(train)}
    return rows


COLUMNS = (
    ("variant", "variant", "{}"),
    ("bpp", "bpp", "{:.3f}"),
    ("target_acc", "target acc", "{:.3f}"),
    ("class_acc", "class acc", "{:.3f}"),
    ("cam_iou_target_tiles", "CAM IoU (target tiles)", "{:.3f}"),
    ("cam_iou_all", "CAM IoU (all)", "{:.3f}"),
    ("affine_target_acc", "warped: target acc", "{:.3f}"),
    ("affine_target_acc_stn", "warped: target acc, STN", "{:.3f}"),
    ("affine_class_acc", "warped: class acc", "{:.3f}"),
    ("affine_class_acc_stn", "warped: class acc, STN", "{:.3f}"),
)


def probe_markdown(rows: Sequence[dict[str, Any]], cfg: ProbeConfig) -> str:
    """The rows as a Markdown section (table and how to read it)."""
    head = "| " + " | ".join(h for _, h, _ in COLUMNS) + " |"
    lines = [head, "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = ["–" if r.get(k) is None else fmt.format(r[k]) for k, _, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    r0 = rows[0] if rows else {}
    return "\n".join(
        [
            "## Does localisation survive compression? (GAP + CAM probe)",
            "",
            f"Probe trained on {r0.get('train_tiles', '?')} synthetic {cfg.tile}-px tiles, tested on "
            f"{r0.get('test_tiles', '?')} tiles of other scenes ({r0.get('target_tiles', '?')} with a "
            f"bright target cluster). Decoded tiles went through the real bitstream. CAM IoU: "
            f"overlap of the target CAMs of original and decoded tile, each thresholded at "
            f"{cfg.cam_threshold:g} × its maximum. *Warped*: tiles randomly rotated "
            f"(±{cfg.max_rotation_deg:g}°), scaled ({cfg.scale_range[0]:g}–{cfg.scale_range[1]:g}×) and shifted "
            f"(±{cfg.max_shift:g} of the half-width), probes trained on warped tiles with and without an STN "
            "front end.",
            "",
            *lines,
            "",
        ]
    )


def write_probe_report(rows: Sequence[dict[str, Any]], cfg: ProbeConfig, out: str | Path) -> list[Path]:
    """``probe.md`` and ``probe.json`` (rows + config) in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "probe.md", probe_markdown(rows, cfg))
    write_json(out / "probe.json", {"config": asdict(cfg), "rows": list(rows)})
    return [out / "probe.md", out / "probe.json"]
