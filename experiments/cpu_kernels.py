"""The CPU kernel timings behind issue 14's CBAM, trainer and codec changes (one thread, medians).

    OMP_NUM_THREADS=1 python experiments/cpu_kernels.py [--retain]

- channel arg-max at 8×64×128×128: ``max(1)`` with indices against ``cbam_ops.channel_max``;
- Σ_hw x·v at 8×64×(128·128): ``bmm`` with one output column against ``cbam_ops.batched_mv``;
- a broadcast product at 8×64×128×128 into a new tensor against into an existing one (page faults
  on fresh memory; ``--retain`` first applies ``trainer.retain_host_memory``'s setting);
- scale indexes at 1×96×32×32: CompressAI's ``build_indexes`` against ``TableGaussianConditional``;
- Gaussian-conditional coding of 1×96×32×32 (a stride-8 model's y at a 256² tile), encode and
  decode: CompressAI's ``GaussianConditional`` against ``TableGaussianConditional`` (same bytes);
- factorised-prior coding of 1×192×16×16 (a default-width model's y at a 256² tile), encode and
  decode: CompressAI's ``EntropyBottleneck`` against ``TableEntropyBottleneck`` (same bytes);
- the synthesis's transposed convolutions (5×5, stride 2) at a 256² tile: standard layout,
  channels_last, and ``SubpixelConvTranspose2d`` (3×3 convolution to 4× the channels, pixel shuffle);
- the shipped stride-8 model's g_a and g_s (λ = 0.003, widths 48, 64, latent 96): standard layout
  against every block's input in channels_last (``SARCodec.decompress`` runs g_s so), each block's
  convolution and GDN, and both transforms under bfloat16 autocast.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

import torch
from compressai.entropy_models import EntropyBottleneck, GaussianConditional

from sarcomp.host_memory import retain_freed_memory
from sarcomp.models.blocks import SubpixelConvTranspose2d, run_channels_last
from sarcomp.models.cbam_ops import batched_mv, channel_max
from sarcomp.models.entropy import TableEntropyBottleneck, TableGaussianConditional
from sarcomp.models.zoo import load_pretrained


def ms(fn: Callable[[], object], repeats: int = 9) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    if "--retain" in sys.argv:
        print("retain_freed_memory:", retain_freed_memory())
    torch.manual_seed(0)
    x = torch.randn(8, 64, 128, 128)
    gate = torch.rand(8, 64)[:, :, None, None]
    out = torch.empty_like(x)
    flat, v = x.view(8, 64, -1), torch.randn(8, 128 * 128)
    print(
        f"channel arg-max: max(1) {ms(lambda: x.max(1, keepdim=True)):.1f} ms, channel_max {ms(lambda: channel_max(x)):.1f} ms"
    )
    print(
        f"single-column product: bmm {ms(lambda: torch.bmm(flat, v[:, :, None])):.1f} ms, batched_mv {ms(lambda: batched_mv(flat, v)):.1f} ms"
    )
    print(
        f"broadcast product: new tensor {ms(lambda: x * gate):.1f} ms, existing tensor {ms(lambda: torch.mul(x, gate, out=out)):.1f} ms"
    )
    table = torch.linspace(torch.tensor(0.11).log(), torch.tensor(256.0).log(), 64).exp()
    theirs, ours = GaussianConditional(table.tolist()), TableGaussianConditional(table.tolist())
    scales = torch.rand(1, 96, 32, 32) * 8
    print(
        f"scale indexes: CompressAI {ms(lambda: theirs.build_indexes(scales)):.2f} ms, bucketize {ms(lambda: ours.build_indexes(scales)):.2f} ms"
    )
    means = torch.randn(1, 96, 32, 32) * 2
    y = means + torch.randn_like(means) * scales
    indexes = ours.build_indexes(scales)
    for name, gc in (("CompressAI", theirs), ("TableGaussianConditional", ours)):
        gc.update()  # the coder's CDF tables
        strings = gc.compress(y, indexes, means=means)
        print(
            f"Gaussian-conditional coding, {name}: encode {ms(lambda g=gc: g.compress(y, indexes, means=means)):.2f} ms, "
            f"decode {ms(lambda g=gc, s=strings: g.decompress(s, indexes, means=means)):.2f} ms"
        )
    factorised = TableEntropyBottleneck(192)
    compressai_factorised = EntropyBottleneck(192)
    compressai_factorised.load_state_dict(factorised.state_dict())
    latent = torch.randn(1, 192, 16, 16) * 3
    for name, eb in (("CompressAI", compressai_factorised), ("TableEntropyBottleneck", factorised)):
        eb.update(force=True)
        strings = eb.compress(latent)
        print(
            f"factorised-prior coding, {name}: encode {ms(lambda e=eb: e.compress(latent)):.2f} ms, "
            f"decode {ms(lambda e=eb, s=strings: e.decompress(s, (16, 16))):.2f} ms"
        )
    with torch.inference_mode():
        for c_in, c_out, side in [(96, 64, 32), (64, 48, 64), (48, 1, 128)]:
            print(upsampling_timings(c_in, c_out, side))
        transform_timings()


def upsampling_timings(c_in: int, c_out: int, side: int) -> str:
    """One 5×5 stride-2 transposed convolution: standard layout, channels_last, sub-pixel form."""
    deconv = torch.nn.ConvTranspose2d(c_in, c_out, 5, stride=2, padding=2, output_padding=1)
    subpixel = SubpixelConvTranspose2d(c_in, c_out, 5, stride=2, padding=2, output_padding=1)
    x = torch.randn(1, c_in, side, side)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    return (
        f"transposed conv {c_in}->{c_out} at {side}²: {ms(lambda: deconv(x)):.2f} ms, "
        f"channels_last {ms(lambda: deconv(x_cl)):.2f} ms, sub-pixel {ms(lambda: subpixel(x)):.2f} ms"
    )


def transform_timings() -> None:
    """The shipped stride-8 model at λ = 0.003 on a random 256² tile: g_s and g_a in each layout,
    each block's convolution (with its arithmetic rate) and GDN, and both under bfloat16 autocast
    (with the RMS difference it makes to g_s's output, pixels in [0, 1])."""
    _, model = load_pretrained("baseline-ms-s8-l003", torch.device("cpu"))
    model.eval()
    tile = torch.rand(1, 1, 256, 256) * 0.3 + 0.35
    latent = model.g_a(tile)
    print(
        f"stride-8 g_s at 256²: standard layout {ms(lambda: model.g_s(latent), 21):.2f} ms, "
        f"as decompress runs it {ms(lambda: run_channels_last(model.g_s, latent), 21):.2f} ms"
    )
    print(
        f"stride-8 g_a at 256²: standard layout {ms(lambda: model.g_a(tile), 21):.2f} ms, "
        f"channels_last blocks {ms(lambda: run_channels_last(model.g_a, tile), 21):.2f} ms"
    )
    for name, transform, x in (("g_a", model.g_a, tile), ("g_s", model.g_s, latent)):
        for i, block in enumerate(transform):
            if isinstance(block, torch.nn.Sequential):
                print(f"  {name}[{i}] {block_timings(block, x)}")
            x = block(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half_g_a = ms(lambda: model.g_a(tile), 21)
        half_g_s = ms(lambda: run_channels_last(model.g_s, latent), 21)
        half = run_channels_last(model.g_s, latent).float()
    rms = (half - run_channels_last(model.g_s, latent)).square().mean().sqrt()
    print(
        f"bfloat16 autocast: g_a {half_g_a:.2f} ms, g_s {half_g_s:.2f} ms; RMS change of g_s's output {rms:.4f}"
    )


def block_timings(block: torch.nn.Sequential, x: torch.Tensor) -> str:
    """One down/up-sampling block: its convolution's ms and GMAC/s, its GDN's ms."""
    conv, rest = block[0], block[1:]
    y = conv(x)
    macs = conv.weight.numel() * (x if isinstance(conv, torch.nn.ConvTranspose2d) else y)[0, 0].numel()
    t_conv = ms(lambda: conv(x), 21)
    text = f"{type(conv).__name__} {conv.in_channels}->{conv.out_channels}: {t_conv:.2f} ms ({macs / t_conv / 1e6:.0f} GMAC/s)"
    return text + (f", GDN {ms(lambda: rest(y), 21):.2f} ms" if len(rest) else "")


if __name__ == "__main__":
    main()
