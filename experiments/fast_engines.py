"""Faster engines for g_a and g_s (issue 27, part 2): speed and RD cost of each, on one thread.

    OMP_NUM_THREADS=1 python experiments/fast_engines.py [--model baseline-ms-s8-l003] [--rounds 7]
        [--batch 4] [--out experiments/benchmarks/fast_engines]

Engines (:mod:`sarcomp.codec.engines` holds the ones kept in the code path, ``fp32`` and ``bf16``;
the others are built here, for measuring only):

- ``fp32``: the reference, as ``compress`` / ``decompress`` run them: g_a eager float32, g_s eager
  with every block's input in channels_last; ``channels_last`` (g_a) and ``nchw`` (g_s, the
  standard layout) measure the layout the other way round;
- ``compile``: ``torch.compile`` (inductor, float32, static shapes; its one-off compile time is
  reported apart);
- ``bf16``: bfloat16 autocast (this CPU has avx512_bf16 and AMX-BF16), channels_last;
- ``int8`` (g_s only): post-training static quantisation (torch.ao, eager mode, x86 backend):
  the transposed convolutions and the output block (as a 3×3 sub-pixel convolution and a pixel
  shuffle) in int8 with per-tensor weights, inverse GDN in float, calibrated on the val split's
  latents. Dynamic quantisation quantises Linear/LSTM layers only, so it has nothing to do here.

Speed: a batch of ``--batch`` 256² tiles (uniform noise through g_a, then rounded, for g_s: a
convolution's time does not depend on the values), engines interleaved round by round, medians.
RD: the test split's scenes (data/shared_sar_splits/test, cut to multiples of the stride), coded
by the real (portable) path; for g_s the bytes are those of fp32 and only the pixels change
(ΔPSNR at equal bytes); for g_a the bytes may change too (Δbpp and ΔPSNR, decoded by the
reference g_s). Then the fast family (``experiment=fast_cpu``, :mod:`sarcomp.models.shallow`)
beside the model: MACs per pixel, g_a and g_s times. Results: ``<out>.json`` and ``<out>.md``;
``experiments/benchmarks/fast_engines*`` hold ``--model baseline-ms-s8-l003`` (default) and
``--model baseline-ms-s8-l03 --out experiments/benchmarks/fast_engines_l03`` (the highest rate).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from torch import Tensor, nn
from torch.ao.quantization import DeQuantStub, HistogramObserver, QConfig, QuantStub, convert, prepare
from torch.ao.quantization.observer import default_weight_observer

from sarcomp.bench.measure import describe_machine
from sarcomp.codec.engines import ENGINES, analysis_engine, synthesis_engine
from sarcomp.config import CONFIG_DIR, project_root, register_resolvers
from sarcomp.data.loaders import load_split
from sarcomp.data.rasters import open_raster
from sarcomp.fileio import atomic_write_text
from sarcomp.metrics.scene import image_metrics
from sarcomp.models.blocks import SubpixelConvTranspose2d, run_channels_last, subpixel_weight
from sarcomp.models.complexity import count_macs
from sarcomp.models.zoo import load_pretrained
from sarcomp.runs import build_model

Transform = Callable[[Tensor], Tensor]
MIN_SPEEDUP, MAX_PSNR_LOSS_DB = 1.2, 0.05  # what an engine must reach to be kept (issue 27)
MAX_RATE_GAIN = 0.001  # a g_a engine's bytes may grow by 0.1 % at most (g_s engines: never change)


class _Int8Block(nn.Module):
    """One g_s block for eager-mode static quantisation: quantise, int8 convolution, dequantise,
    then the float rest (inverse GDN, pixel shuffle, sigmoid)."""

    def __init__(self, conv: nn.Module, rest: nn.Module):
        super().__init__()
        self.quant, self.conv, self.dequant, self.rest = QuantStub(), conv, DeQuantStub(), rest

    def forward(self, x: Tensor) -> Tensor:
        return self.rest(self.dequant(self.conv(self.quant(x))))


def int8_synthesis(g_s: nn.Sequential, calibration: list[Tensor]) -> Transform:
    """g_s with its convolutions in int8 (see module docstring), calibrated on ``calibration``."""
    blocks: list[nn.Module] = []
    for block in g_s:
        if not isinstance(block, nn.Sequential):
            blocks.append(copy.deepcopy(block))  # the sigmoid
            continue
        conv, rest = copy.deepcopy(block[0]), nn.Sequential(*copy.deepcopy(list(block)[1:]))
        if isinstance(conv, SubpixelConvTranspose2d):  # as a plain convolution + pixel shuffle
            sub = nn.Conv2d(conv.in_channels, 4 * conv.out_channels, 3, padding=1)
            sub.weight.data = subpixel_weight(conv.weight.data)
            sub.bias.data = conv.bias.data.repeat_interleave(4)
            conv, rest = sub, nn.Sequential(nn.PixelShuffle(2), *rest)
        blocks.append(_Int8Block(conv, rest))
    model = nn.Sequential(*blocks).eval()
    torch.backends.quantized.engine = "x86"
    model.qconfig = QConfig(
        activation=HistogramObserver.with_args(reduce_range=False), weight=default_weight_observer
    )
    prepared = prepare(model)
    with torch.no_grad():
        for y in calibration:
            prepared(y)
    return convert(prepared)


def data_config(root: str) -> dict:
    """The eval config's data node for a folder of rasters (as experiments/portable_rd.py builds it)."""
    register_resolvers()
    overrides = ["data=geotiff", f"data.root={root}", "data.band_specs=configs/bands/shared_sar.yaml"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="eval", overrides=overrides).data


def scene_crops(split: str, stride: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, [0, 1] pixels, valid mask) of each scene of a split, cut to multiples of ``stride``."""
    cfg = data_config(str(project_root() / "data/shared_sar_splits"))
    crops = []
    for scene in load_split(cfg, split):
        h, w = scene.info.height // stride * stride, scene.info.width // stride * stride
        if h and w:
            with open_raster(scene.path) as ds:
                unit, valid = scene.read_unit(ds, 0, 0, h, w)
            crops.append((scene.path.name, unit, valid))
    return crops


def interleaved_ms(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, dict[str, float]]:
    """Median and spread (ms) of each function, one call of each per round, after one warm-up."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(1e3 * (time.perf_counter() - start))
    return {
        name: {"median_ms": statistics.median(t), "min_ms": min(t), "max_ms": max(t)}
        for name, t in times.items()
    }


@torch.no_grad()
def rd_points(
    model: nn.Module, crops: list, g_a: dict[str, Transform], g_s: dict[str, Transform]
) -> dict[str, list[dict[str, float]]]:
    """Per engine and scene: bytes and PSNR. g_a engines code with that g_a and decode with the
    reference g_s; g_s engines decode the reference g_a's bytes."""
    reference_g_a, reference_g_s = model.g_a, g_s["fp32"]
    out: dict[str, list[dict[str, float]]] = {}

    def point(name: str, x: Tensor, valid: np.ndarray, coded: dict, transform: Transform) -> dict[str, float]:
        y_hat = model._inverse_gain(model.decode_latent(coded["strings"], coded["shape"])["y_hat"], None)
        x_hat = transform(y_hat).float().clamp(0, 1)[0, 0].numpy()
        nbytes = sum(len(s) for strings in coded["strings"] for s in strings)
        psnr = image_metrics(x[0, 0].numpy(), x_hat, valid)["psnr"]
        return {"scene": name, "bytes": nbytes, "bpp": 8 * nbytes / valid.size, "psnr": psnr}

    for name, unit, valid in crops:
        x = torch.from_numpy(unit)[None, None]
        for engine, transform in g_a.items():
            model.g_a = _Wrapped(transform)
            coded = model.compress(x)
            model.g_a = reference_g_a
            out.setdefault(f"g_a {engine}", []).append(point(name, x, valid, coded, reference_g_s))
        coded = model.compress(x)
        for engine, transform in g_s.items():
            out.setdefault(f"g_s {engine}", []).append(point(name, x, valid, coded, transform))
    return out


class _Wrapped(nn.Module):
    """A transform callable as a module (what ``compress`` calls as g_a)."""

    def __init__(self, fn: Transform):
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


def family_speed(shipped: nn.Module, batch: int, rounds: int) -> list[dict[str, object]]:
    """MACs per pixel and g_a / g_s times (fp32 and bf16 g_s) of a shipped model and of the fast
    family's model (``experiment=fast_cpu``, untrained: speed does not depend on the weights)."""
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        fast = build_model(compose(config_name="train", overrides=["experiment=fast_cpu"]).model).eval()
    x = torch.rand(batch, 1, 256, 256)
    models = {"shipped stride 8": shipped, "fast_cpu (shallow)": fast}
    fns: dict[str, Callable[[], object]] = {}
    with torch.no_grad():
        for name, model in models.items():
            y = model.g_a(x).round()
            g_s = {engine: synthesis_engine(model.g_s, engine) for engine in ("fp32", "bf16")}
            fns[f"{name}|g_a"] = lambda m=model: m.g_a(x)
            fns |= {f"{name}|g_s {e}": (lambda f=f, y=y: f(y)) for e, f in g_s.items()}
        speed = interleaved_ms(fns, rounds)
    return [
        {
            "model": name,
            "kmac_per_pixel": round(count_macs(model) / 256**2 / 1e3, 2),
            **{
                part: round(speed[f"{name}|{part}"]["median_ms"], 1)
                for part in ("g_a", "g_s fp32", "g_s bf16")
            },
        }
        for name, model in models.items()
    ]


def summarise(speed: dict, rd: dict, compile_s: dict[str, float]) -> list[dict[str, object]]:
    """One row per transform and engine: speed ratio to the reference and RD deltas."""
    rows = []
    for key, points in rd.items():
        transform, engine = key.split(" ")
        ref_points = rd[f"{transform} fp32"]
        ms, ref_ms = speed[key]["median_ms"], speed[f"{transform} fp32"]["median_ms"]
        d_psnr = float(np.mean([p["psnr"] - r["psnr"] for p, r in zip(points, ref_points)]))
        d_bytes = sum(p["bytes"] for p in points) - sum(r["bytes"] for r in ref_points)
        ref_bytes = sum(r["bytes"] for r in ref_points)
        same = all(p["bytes"] == r["bytes"] for p, r in zip(points, ref_points))
        pays = (
            ref_ms / ms >= MIN_SPEEDUP
            and d_psnr >= -MAX_PSNR_LOSS_DB
            and d_bytes <= MAX_RATE_GAIN * ref_bytes
        )
        rows.append(
            {
                "transform": transform,
                "engine": engine,
                "median_ms": round(ms, 2),
                "speedup": round(ref_ms / ms, 3),
                "delta_psnr_db": round(d_psnr, 4),
                "delta_bytes": d_bytes,
                "delta_bytes_pct": round(100 * d_bytes / ref_bytes, 4),
                "bytes_identical": same,
                "compile_s": compile_s.get(key),
                "pays": pays,
            }
        )
    return rows


def markdown(result: dict) -> str:
    m, s = result["machine"], result["settings"]
    lines = [
        "# Faster engines for g_a and g_s (issue 27, part 2)",
        "",
        f"`{result['command']}`",
        "",
        f"Model `{s['model']}`; speed on a batch of {s['batch']} × 256² tiles, {s['rounds']} interleaved "
        f"rounds, medians, {m['torch_threads']} thread, on a **loaded** {m['cpu_count']}-core VM "
        f"(load average {m['load_average_at_start']} at start: training jobs ran beside it, so ratios, "
        "not absolute times, are the result). RD: the test split's "
        f"{len(s['scenes'])} scenes (cut to multiples of 8), ΔPSNR mean over scenes against the "
        "reference engine fp32 (g_a as `compress` runs it, g_s with channels_last blocks as `decompress` runs it).",
        "",
        "| transform | engine | ms / batch | speed-up | ΔPSNR (dB) | Δbytes | bytes identical | compile (s) | pays |",
        "|---|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for r in result["rows"]:
        compile_s = "" if r["compile_s"] is None else f"{r['compile_s']:.0f}"
        lines.append(
            f"| {r['transform']} | {r['engine']} | {r['median_ms']:.1f} | {r['speedup']:.2f}× | "
            f"{r['delta_psnr_db']:+.4f} | {r['delta_bytes']:+d} ({r['delta_bytes_pct']:+.3f} %) | {'yes' if r['bytes_identical'] else 'no'} | "
            f"{compile_s} | {'**yes**' if r['pays'] else 'no'} |"
        )
    lines += [
        "",
        "The fast family (issue 27 part 3) beside the shipped model: MACs per pixel end to end "
        "(g_a + h_a + h_s + g_s, `sarcomp.models.complexity.count_macs`) and ms per batch, interleaved:",
        "",
        "| model | kMAC / px | g_a (ms) | g_s fp32 (ms) | g_s bf16 (ms) |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {r['model']} | {r['kmac_per_pixel']} | {r['g_a']} | {r['g_s fp32']} | {r['g_s bf16']} |"
            for r in result["family"]
        ),
    ]
    lines += [
        "",
        f"Pays: ≥ {MIN_SPEEDUP}× and ΔPSNR ≥ -{MAX_PSNR_LOSS_DB} dB; for g_a also bytes up by ≤ "
        f"{100 * MAX_RATE_GAIN:g} % (a g_a engine may change the bytes: opt in, documented).",
        *(f"- {note}" for note in result["notes"]),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="baseline-ms-s8-l003")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--out", default="experiments/benchmarks/fast_engines")
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    torch._dynamo.config.recompile_limit = 64  # the RD pass compiles once per scene shape
    machine = describe_machine(torch.device("cpu"))
    _, model = load_pretrained(a.model)
    with torch.no_grad():
        x = torch.rand(a.batch, 1, 256, 256)
        y = model.g_a(x).round()
        calibration = [
            model.g_a(torch.from_numpy(unit)[None, None]).round()
            for _, unit, _ in scene_crops("val", model.stride)
        ]
    g_a = {name: analysis_engine(model.g_a, name) for name in ENGINES}
    g_s = {name: synthesis_engine(model.g_s, name) for name in ENGINES}
    g_a["compile"] = torch.compile(model.g_a, dynamic=False)
    g_s["compile"] = torch.compile(model.g_s, dynamic=False)
    g_a["channels_last"] = lambda t, g_a_fp32=model.g_a: run_channels_last(g_a_fp32, t)
    g_s["nchw"] = model.g_s
    g_s["int8"] = int8_synthesis(model.g_s, calibration)
    compile_s = {}
    with torch.no_grad():
        for key, fn, arg in (("g_a compile", g_a["compile"], x), ("g_s compile", g_s["compile"], y)):
            start = time.perf_counter()
            fn(arg)
            compile_s[key] = round(time.perf_counter() - start, 1)
        fns: dict[str, Callable[[], object]] = {f"g_a {n}": (lambda f=f: f(x)) for n, f in g_a.items()}
        fns |= {f"g_s {n}": (lambda f=f: f(y)) for n, f in g_s.items()}
        speed = interleaved_ms(fns, a.rounds)
    crops = scene_crops("test", model.stride)
    rd = rd_points(model, crops, g_a, g_s)
    rows = summarise(speed, rd, compile_s)
    family = family_speed(model, a.batch, a.rounds)
    result = {
        "command": "OMP_NUM_THREADS=1 python experiments/fast_engines.py "
        + " ".join(f"--{k} {v}" for k, v in vars(a).items()),
        "machine": machine | {"load_average_at_end": [round(v, 2) for v in os.getloadavg()]},
        "settings": vars(a) | {"scenes": [name for name, _, _ in crops], "calibration": "val split latents"},
        "speed": speed,
        "rd": rd,
        "rows": rows,
        "family": family,
        "notes": [
            "compile's time is the first call at the batch's shape (inductor; cached on disk for later runs); "
            "every new input shape compiles again.",
            "ONNX Runtime is not installed in this environment and was not added.",
        ],
    }
    out = Path(a.out)
    atomic_write_text(out.with_suffix(".json"), json.dumps(result, indent=1) + "\n")
    atomic_write_text(out.with_suffix(".md"), markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
