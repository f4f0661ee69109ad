"""How a scene's tiles go through a model fast: in batches, and tile rows in a pipeline.

This changes how a scene is coded, never what: the ``.sarc`` bytes and the decoded pixels are the
same for every batch size and worker count (``tests/test_scene_pipeline.py``).

- **Batches**: the tiles of a tile row that share a coded shape (all of them but, often, the last
  column) go through the model's ``compress`` / ``decompress`` up to ``batch`` at a time: one
  g_a / h_a / h_s / g_s call and one coder call per batch. The coder still writes one string per
  tile, so the file holds the strings of tile-by-tile coding. PyTorch picks a CPU convolution's
  backend by its shape, batch size included, and backends round floats differently (a moved
  quantised latent, a decoded pixel one ulp off), so every call has 2 to :data:`MAX_BATCH` items:
  a lone tile goes in twice (one item and a small input take PyTorch's own kernels, two or more
  oneDNN's), and from 16 items on GDN's 1×1 convolutions on one thread move to oneDNN and
  NNPACK's fast algorithms come in. Tested on the CPU; not on CUDA (no GPU lent yet), where cuDNN
  also picks algorithms by shape. The pair costs a second tile's work, so ``batch`` 1 codes at
  half speed (8192 × 1536 px: 16.6 s against 8.5 s at batch 4 and 9.7 s tile by tile before), and
  a row whose last tile is narrower pays one tile more.
- **Pipeline** (:func:`ordered_map`): a reader thread reads the next tile row (raster windows, or
  a file's tile strings) while ``workers`` threads code rows (PyTorch's kernels release the GIL);
  the calling thread takes coded rows in order and writes them (spool, GeoTIFF), so reading and
  writing overlap compute. Worker threads share PyTorch's intra-op thread setting
  (``OMP_NUM_THREADS`` / ``torch.set_num_threads``): ``--workers`` never changes it, since one
  thread and several take different convolution backends.
- **Memory**: at most ``workers + 2`` tile rows are in flight at once (:class:`Flight` counts
  them): one the reader has read ahead, ``workers + 1`` submitted to the workers (one of them
  being written). Each is a band of ``tile × width`` pixels.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from sarcomp.codec.container import Grid, Header
from sarcomp.errors import BitstreamError, SarcompError

MAX_BATCH = 15  # tiles per model call; 16 would switch PyTorch's CPU convolution backends
DEFAULT_BATCH = 4  # most of batching's gain; 8 held 90 MB more at 8192 px wide for a few %
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Throughput:
    """How fast a scene is coded (never what is coded): tiles per model call, rows coded at once."""

    batch: int = DEFAULT_BATCH
    workers: int = 1

    def __post_init__(self) -> None:
        if not 1 <= int(self.batch) <= MAX_BATCH:
            raise SarcompError(
                f"--batch {self.batch}: must be 1 to {MAX_BATCH} tiles (from 16 on PyTorch switches "
                "convolution backends, whose rounding could change the bytes)"
            )
        if int(self.workers) < 1:
            raise SarcompError(f"--workers {self.workers}: must be 1 or more")

    def check_device(self, device: torch.device) -> None:
        """Several workers on the CPU only: the integer h_s switches process-wide GPU settings
        (cuDNN, matmul precision) while it runs, which other workers' g_a / g_s would see."""
        if device.type != "cpu" and self.workers > 1:
            raise SarcompError(
                f"--workers {self.workers}: on {device.type} use one worker (the GPU runs the batches; "
                "several workers there could change the bytes)"
            )


class Flight:
    """Tile rows read and not yet written: how many now, and the most at once (the memory bound)."""

    def __init__(self) -> None:
        self.now = self.peak = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


_END = object()


def _prefetch(items: Iterable[T], flight: Flight) -> Iterator[T]:
    """``items``, read by a thread one item ahead of the consumer: it reads the next item only
    once the consumer has taken the last, so at most one item waits."""
    slot: queue.SimpleQueue = queue.SimpleQueue()
    turn = threading.Semaphore(1)  # released by the consumer: the reader may read one more item
    stop = threading.Event()

    def my_turn() -> bool:
        while not stop.is_set():
            if turn.acquire(timeout=0.05):
                return True
        return False

    def read() -> None:
        try:
            source = iter(items)
            while my_turn():
                item = next(source, _END)
                if item is not _END:
                    flight.enter()
                slot.put((item, None))
                if item is _END:
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            slot.put((_END, exc))

    thread = threading.Thread(target=read, name="sarcomp-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = slot.get()
            if item is _END:
                if exc is not None:
                    raise exc
                return
            turn.release()
            yield item
    finally:
        stop.set()
        thread.join()


def ordered_map(
    items: Iterable[T], work: Callable[[T], R], workers: int, flight: Flight | None = None
) -> Iterator[tuple[T, R]]:
    """``(item, work(item))`` for every item, in order: items read by a reader thread, ``work``
    run on ``workers`` threads, ``workers + 1`` items submitted ahead of the one handed out."""
    flight = flight or Flight()
    pending: deque[tuple[T, Future]] = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="sarcomp-code") as pool:
        try:
            with closing(_prefetch(items, flight)) as source:
                for item in source:
                    pending.append((item, pool.submit(work, item)))
                    if len(pending) > workers:
                        done, future = pending.popleft()
                        yield done, future.result()
                        flight.leave()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
                flight.leave()
        finally:
            for _, future in pending:
                future.cancel()


def timed(device: torch.device, fn: Callable[..., Any], *args: Any, **kw: Any) -> tuple[Any, float]:
    """``fn(*args, **kw)`` and its wall time in ms (CUDA-synchronised)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = fn(*args, **kw)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out, (time.perf_counter() - start) * 1e3


def lmbda_kw(lmbda: float | None) -> dict[str, float]:
    return {} if lmbda is None else {"lmbda": lmbda}


def decode_kw(header: Header) -> dict[str, Any]:
    """``decompress`` keywords for a file: its λ, and the float path for a version-1 file."""
    return {**lmbda_kw(header.lmbda), **({} if header.version >= 2 else {"portable": False})}


def column_batches(grid: Grid, batch: int) -> list[list[int]]:
    """Tile column indexes in batches: consecutive columns of one coded width, at most ``batch``."""
    out: list[list[int]] = []
    last = None
    for ci, c in enumerate(grid.cols):
        width = grid.coded(grid.extent(c, grid.width))
        if out and width == last and len(out[-1]) < batch:
            out[-1].append(ci)
        else:
            out.append([ci])
        last = width
    return out


def _at_least_two(items: list[Any]) -> list[Any]:
    """A lone item twice, so that it takes the convolution backends of a batch (module docstring)."""
    return items * 2 if len(items) == 1 else items


@torch.no_grad()  # grad mode is per thread: a worker does not inherit the caller's
def encode_row(
    model: torch.nn.Module,
    device: torch.device,
    grid: Grid,
    unit: np.ndarray,
    batch: int,
    lmbda: float | None,
) -> tuple[list[list[bytes]], list[float]]:
    """Every tile of one tile row (``unit``: its [0, 1] values, tile rows × scene width, or
    [C, rows, width] for a complex scene's channels) coded: per tile its strings (one per string
    group) and its share of the batch's ms."""
    channels = unit if unit.ndim == 3 else unit[None]
    h, stride = channels.shape[1], int(model.stride)
    ch = grid.coded(h)
    strings: list[list[bytes]] = []
    times: list[float] = []
    for group in column_batches(grid, batch):
        tiles = []
        for ci in group:
            c = grid.cols[ci]
            w = grid.extent(c, grid.width)
            pad = ((0, 0), (0, ch - h), (0, grid.coded(w) - w))
            tiles.append(np.pad(channels[:, :, c : c + w], pad, mode="edge"))
        x = torch.from_numpy(np.stack(_at_least_two(tiles))).to(device)
        coded, ms = timed(device, model.compress, x, **lmbda_kw(lmbda))
        shape = tuple(int(v) for v in coded["shape"])
        cw = x.shape[-1]
        if (-(-ch // stride), -(-cw // stride)) != shape:
            raise SarcompError(
                f"model returned latent shape {shape} for a {ch}x{cw} tile, expected stride {stride}"
            )
        if any(len(group_strings) != len(x) for group_strings in coded["strings"]):
            raise SarcompError(f"model returned strings for {len(coded['strings'][0])} of {len(x)} tiles")
        strings += [[group_strings[i] for group_strings in coded["strings"]] for i in range(len(group))]
        times += [ms / len(group)] * len(group)
    return strings, times


@torch.no_grad()
def decode_row(
    model: torch.nn.Module,
    device: torch.device,
    header: Header,
    h: int,
    tiles: list[list[bytes]],
    batch: int,
    name: str,
) -> tuple[list[np.ndarray], list[float]]:
    """Every tile of one tile row (``h`` px high; ``tiles``: each tile's strings) decoded: its
    [0, 1] pixels [C, h, w] cut to the scene, and its share of the batch's ms."""
    grid = header.grid
    ch = grid.coded(h)
    pixels: list[np.ndarray] = []
    times: list[float] = []
    for group in column_batches(grid, batch):
        widths = [grid.extent(grid.cols[ci], grid.width) for ci in group]
        groups = [_at_least_two([tiles[ci][g] for ci in group]) for g in range(len(tiles[group[0]]))]
        try:
            out, ms = timed(
                device,
                model.decompress,
                groups,
                header.tile_shape(ch, grid.coded(widths[0])),
                **decode_kw(header),
            )
        except (RuntimeError, ValueError, IndexError) as exc:
            raise BitstreamError(
                f"{name}: tile string does not decode ({str(exc).splitlines()[0]})"
            ) from None
        x_hat = out["x_hat"][:, :, :h].float().cpu().numpy()
        if x_hat.shape[1] != header.channels:
            raise BitstreamError(
                f"{name}: the model decodes {x_hat.shape[1]} channel(s), the file {header.channels}"
            )
        pixels += [x_hat[i, :, :, :w] for i, w in enumerate(widths)]
        times += [ms / len(group)] * len(group)
    return pixels, times
