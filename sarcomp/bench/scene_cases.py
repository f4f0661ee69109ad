"""One whole-scene case, run in a child process by :mod:`sarcomp.bench.scenes` so that its peak RSS
is its own: ``python -m sarcomp.bench.scene_cases '<json args>'`` prints the case's result as one
JSON line.

A sarcomp case loads the model and codes one 2-tile batch first (table building and first-call
costs are not coding), then times ``compress_file`` and ``decompress_file``. A classic case
imports no torch: it reads the GeoTIFF, codes its [0, 1] image into a codestream file and decodes
that into a float32 GeoTIFF.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from sarcomp.codec.classic import build_codec, encode_at_bpp
from sarcomp.data.representation import Representation, Scaling
from sarcomp.host_memory import retain_freed_memory, share_one_heap

CLASSIC_BITS = {"JPEG2000": 16, "JPEGXL": 16, "JPEG": 8}  # codec: sample bits
SEARCH_ROWS = 1024  # a non-J2K codec's parameter is searched on this many rows (not timed)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sarcomp_case(args: dict[str, Any]) -> dict[str, Any]:
    """Compress (and unless ``encode_only`` decompress) one scene with one shipped model."""
    import torch

    from sarcomp.codec.decompressor import decompress_file
    from sarcomp.codec.loading import cached_model
    from sarcomp.codec.scene import compress_file

    torch.set_num_threads(1)
    retain_freed_memory()  # as the sarcomp command does (sarcomp.codec.commands)
    share_one_heap()
    model = cached_model(args["model"], "cpu").model
    tile = args["tile"]
    model.decompress(**model.compress(torch.zeros(2, 1, tile, tile)))  # first-call costs
    src, sarc, out = args["paths"]
    speed = {"batch": args["batch"], "workers": args["workers"], "device": "cpu", "progress": False}
    enc = compress_file(src, sarc, args["model"], tile=tile, force=True, **speed)
    dec = {"seconds": 0.0} if args["encode_only"] else decompress_file(sarc, out, force=True, **speed)
    return {"encode_s": enc["seconds"], "decode_s": dec["seconds"], "bytes": enc["bytes"]}


def classic_case(args: dict[str, Any]) -> dict[str, Any]:
    """One classic codec at the target bpp: seconds each way (I/O included), bytes, parameter."""
    src, stream, out = (Path(p) for p in args["paths"])
    codec = build_codec(args["codec"], bits=CLASSIC_BITS[args["codec"]])
    rep, scaling = Representation(units=args["units"]), Scaling(*args["scaling"])
    with rasterio.open(src) as ds:
        shape, profile = (ds.height, ds.width), ds.profile
        sample = ds.read(1, window=Window(0, 0, ds.width, min(SEARCH_ROWS, ds.height)))
    if codec.name == "JPEG2000":
        param = CLASSIC_BITS["JPEG2000"] / args["bpp"]  # a ratio to the raw samples: OpenJPEG's rate control
    else:  # a parameter search on the first rows, not timed
        param = encode_at_bpp(codec, _unit(rep, sample, scaling), args["bpp"]).param
    start = time.perf_counter()
    with rasterio.open(src) as ds:
        stream.write_bytes(codec.encode(_unit(rep, ds.read(1), scaling), param))
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = rep.from_unit(codec.decode(stream.read_bytes(), shape), scaling).astype(np.float32)
    profile.update(dtype="float32", compress="deflate", nodata=None)
    with rasterio.open(out, "w", **profile) as ds:
        ds.write(decoded[None])
    decode_s = time.perf_counter() - start
    return {"encode_s": encode_s, "decode_s": decode_s, "bytes": stream.stat().st_size, "param": param}


def _unit(rep: Representation, values: np.ndarray, scaling: Scaling) -> np.ndarray:
    return np.clip(rep.to_unit(values.astype(np.float64), scaling), 0, 1)


def main(argv: list[str]) -> None:
    args = json.loads(argv[0])
    result = sarcomp_case(args) if args["kind"] == "sarcomp" else classic_case(args)
    print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main(sys.argv[1:])
