"""Does a file decode to the same integers under another convolution backend? A synthetic scene
is coded by the float path (.sarc version 1) and the portable one (version 2); each file is
decoded with oneDNN on one thread (this process), with oneDNN off, on two threads, and with torch's
scalar CPU kernels
(ATEN_CPU_CAPABILITY=default, a child process): per variant, how many tiles decode to other
integers than the first decode, and the PSNR between the decoded images.

    OMP_NUM_THREADS=1 python experiments/portable_backends.py [--size 1024] [--model baseline-ms-s8-l01]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from sarcomp.bench.scene import write_synthetic_scene
from sarcomp.codec.container import iter_strings, read_header
from sarcomp.codec.golden import encode
from sarcomp.codec.modelref import resolve_model
from sarcomp.codec.scaling import stored_scaling
from sarcomp.codec.scene import decode_scene
from sarcomp.codec.symbols import checksums, tile_symbols
from sarcomp.data.rasters import BandSpec
from sarcomp.data.representation import Representation
from sarcomp.data.tiles import Scene


def decode(model_name: str, data: bytes) -> tuple[list, np.ndarray]:
    """Per-tile integer checksums and the decoded [0, 1] image of a container."""
    model = resolve_model(model_name).model
    fh = io.BytesIO(data)
    header, offset = read_header(fh, len(data), "file")
    sums = checksums(tile_symbols(model, header, iter_strings(fh, header, offset)))
    image = np.zeros((header.grid.height, header.grid.width), np.float32)

    def put(row: int, unit: np.ndarray, _valid: np.ndarray) -> None:
        image[row : row + len(unit)] = unit

    decode_scene(model, header, iter_strings(fh, header, offset), torch.device("cpu"), put)
    return sums, image


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--model", default="baseline-ms-s8-l01")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)  # container path, result path
    a = p.parse_args()
    torch.set_num_threads(1)  # the reference decode: oneDNN, one thread
    if a.child:
        sums, image = decode(a.model, Path(a.child[0]).read_bytes())
        np.save(a.child[1], image)
        Path(a.child[1] + ".json").write_text(json.dumps(sums))
        return
    loaded = resolve_model(a.model)
    with tempfile.TemporaryDirectory() as tmp:
        tif = write_synthetic_scene(Path(tmp) / "scene.tif", a.size)
        scene = stored_scaling(Scene.load(tif, BandSpec(), Representation(units="intensity")))
        print(f"{a.model}, synthetic {a.size}² scene in 256-px tiles")
        for version in (1, 2):
            data = encode(loaded, scene, 256, version)
            first, image = decode(a.model, data)
            with torch.backends.mkldnn.flags(enabled=False, deterministic=False, allow_tf32=False):
                off, image_off = decode(a.model, data)
            torch.set_num_threads(2)
            two, image_two = decode(a.model, data)
            torch.set_num_threads(1)
            path = Path(tmp) / f"v{version}.sarc"
            path.write_bytes(data)
            env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
            out = str(Path(tmp) / f"v{version}_scalar.npy")
            cmd = [sys.executable, __file__, "--model", a.model, "--child", str(path), out]
            subprocess.run(cmd, check=True, env=env, capture_output=True)
            scalar, image_scalar = json.loads(Path(out + ".json").read_text()), np.load(out)
            variants = (
                ("oneDNN off", off, image_off),
                ("2 threads", two, image_two),
                ("scalar kernels", scalar, image_scalar),
            )
            for label, sums, other in variants:
                moved = sum(x != y for x, y in zip(first, sums))
                print(
                    f"version {version}, {label}: {moved} of {len(first)} tiles decode to other integers; "
                    f"PSNR between the decoded images {psnr(image, other):.1f} dB"
                )


if __name__ == "__main__":
    main()
