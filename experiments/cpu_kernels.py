"""The CPU kernel timings behind issue 14's CBAM, trainer and codec changes (one thread, medians).

    OMP_NUM_THREADS=1 python experiments/cpu_kernels.py [--retain]

- channel arg-max at 8×64×128×128: ``max(1)`` with indices against ``cbam_ops.channel_max``;
- Σ_hw x·v at 8×64×(128·128): ``bmm`` with one output column against ``cbam_ops.batched_mv``;
- a broadcast product at 8×64×128×128 into a new tensor against into an existing one (page faults
  on fresh memory; ``--retain`` first applies ``trainer.retain_host_memory``'s setting);
- scale indexes at 1×96×32×32: CompressAI's ``build_indexes`` against ``TableGaussianConditional``;
- the synthesis's transposed convolutions (5×5, stride 2) at a 256² tile against a 3×3 convolution
  to 4× the channels plus ``pixel_shuffle``, the shape of a polyphase rewrite (speed only).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from compressai.entropy_models import GaussianConditional

from sarcomp.host_memory import retain_freed_memory
from sarcomp.models.cbam_ops import batched_mv, channel_max
from sarcomp.models.entropy import TableGaussianConditional


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
    with torch.inference_mode():
        for c_in, c_out, side in [(64, 48, 64), (48, 1, 128), (96, 64, 32), (144, 96, 16)]:
            deconv = torch.nn.ConvTranspose2d(c_in, c_out, 5, stride=2, padding=2, output_padding=1)
            conv = torch.nn.Conv2d(c_in, 4 * c_out, 3, padding=1)
            y = torch.randn(1, c_in, side, side)
            print(
                f"transposed conv {c_in}->{c_out} at {side}²: {ms(lambda d=deconv, t=y: d(t)):.2f} ms, "
                f"3x3 conv + pixel_shuffle {ms(lambda c=conv, t=y: F.pixel_shuffle(c(t), 2)):.2f} ms"
            )


if __name__ == "__main__":
    main()
