"""The batched, pipelined scene path (sarcomp.codec.pipeline): the same .sarc bytes and decoded
pixels for every batch size and worker count, a bounded number of tile rows in memory, and worker
errors that surface as one line."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from sarcomp.codec.commands import main
from sarcomp.codec.container import iter_strings, read_header, write_container
from sarcomp.codec.decompressor import decompress_file
from sarcomp.codec.loading import cached_model
from sarcomp.codec.pipeline import MAX_BATCH, Flight, Throughput, column_batches, ordered_map
from sarcomp.codec.scaling import stored_scaling
from sarcomp.codec.scene import compress_file, decode_scene, encode_scene, scene_grid
from sarcomp.data.rasters import BandSpec, open_raster
from sarcomp.data.representation import Representation
from sarcomp.data.tiles import Scene
from sarcomp.errors import SarcompError
from tests.helpers import write_tif

MODEL = "baseline-ms-s8-l003"  # shipped, stride 8, mean-scale hyperprior: the integer h_s path
SETTINGS = [(1, 1), (4, 1), (1, 2), (4, 2), (MAX_BATCH, 3)]  # (batch, workers)


def _scene(path: Path, height: int = 150, width: int = 300) -> Path:
    rng = np.random.default_rng(3)
    rr, cc = np.mgrid[0:height, 0:width]
    values = 0.05 * (1.5 + np.sin(rr / 13.0) * np.cos(cc / 17.0)) * rng.gamma(4.0, 0.25, (height, width))
    values = values.astype(np.float32)
    values[:20, :30] = -9999.0
    return write_tif(path, values, nodata=-9999.0)


@pytest.mark.parametrize("overlap", [0, 16])
def test_bytes_and_pixels_are_the_same_for_any_batch_and_worker_count(tmp_path, overlap):
    src = _scene(tmp_path / "s.tif")
    files, pixels = [], []
    for batch, workers in SETTINGS:
        sarc = tmp_path / f"b{batch}w{workers}.sarc"
        compress_file(
            src,
            sarc,
            MODEL,
            tile=64,
            overlap=overlap,
            device="cpu",
            progress=False,
            batch=batch,
            workers=workers,
        )
        files.append(sarc.read_bytes())
    assert all(f == files[0] for f in files[1:])
    for batch, workers in SETTINGS:
        out = tmp_path / f"d{batch}w{workers}.tif"
        decompress_file(
            tmp_path / "b1w1.sarc", out, device="cpu", progress=False, batch=batch, workers=workers
        )
        with rasterio.open(out) as ds:
            pixels.append(ds.read(1))
    for other in pixels[1:]:
        np.testing.assert_array_equal(other, pixels[0])


def test_the_integer_hyper_synthesis_gives_each_tile_the_same_outputs_in_a_batch():
    model = cached_model(MODEL).model
    hyper = model.latent_codec.hyper
    network, medians = hyper.network(), hyper.z.entropy_bottleneck.quantiles[:, 0, 1]
    z = torch.randint(-6, 7, (5, medians.numel(), 4, 6), dtype=torch.int32)
    batched = network.outputs(z, medians, (16, 24))
    for i in range(len(z)):
        assert torch.equal(network.outputs(z[i : i + 1], medians, (16, 24))[0], batched[i])


def test_tiles_of_one_coded_width_are_batched_and_the_padded_column_apart():
    model = cached_model(MODEL).model
    grid = scene_grid(64, 64 * 7 + 20, 64, 0, model)  # 7 full columns and a 24-px one
    assert column_batches(grid, 3) == [[0, 1, 2], [3, 4, 5], [6], [7]]
    assert column_batches(grid, 1) == [[i] for i in range(8)]


def test_tile_rows_in_flight_stay_bounded_whatever_the_scene_height(tmp_path):
    src = _scene(tmp_path / "tall.tif", height=16 * 40, width=48)  # 40 tile rows of 16 px
    scene = stored_scaling(Scene.load(src, BandSpec(), Representation(units="intensity")))
    loaded, cpu = cached_model(MODEL), torch.device("cpu")
    grid = scene_grid(scene.info.height, scene.info.width, 16, 0, loaded.model)
    for workers in (1, 2):
        speed, encoding, decoding = Throughput(2, workers), Flight(), Flight()
        spool, buf = io.BytesIO(), io.BytesIO()
        with open_raster(src) as ds:
            header = encode_scene(
                loaded.model, scene, ds, grid, loaded.identity, cpu, spool, throughput=speed, flight=encoding
            )
        write_container(buf, header, [spool.getvalue()])
        parsed, offset = read_header(buf, len(buf.getvalue()), "tall")
        strings = iter_strings(buf, parsed, offset)
        decode_scene(loaded.model, parsed, strings, cpu, lambda *_: None, throughput=speed, flight=decoding)
        for flight in (encoding, decoding):
            assert 1 <= flight.peak <= workers + 2 < len(grid.rows) and flight.now == 0


def test_a_slow_writer_holds_back_the_reader():
    flight = Flight()
    seen = []
    for item, result in ordered_map(iter(range(30)), lambda i: i * i, 2, flight):
        time.sleep(0.002)  # the writer is the bottleneck: reader and workers must wait for it
        seen.append((item, result))
    assert seen == [(i, i * i) for i in range(30)]
    assert flight.peak <= 2 + 2 and flight.now == 0


def test_an_error_in_a_worker_surfaces_once_and_stops_the_pipeline():
    started = []

    def work(i: int) -> int:
        started.append(i)
        if i == 3:
            raise SarcompError("tile row 3 failed")
        return i

    got = []
    with pytest.raises(SarcompError, match="tile row 3 failed"):
        for item, _ in ordered_map(iter(range(1000)), work, 2):
            got.append(item)
    assert got == [0, 1, 2] and max(started) < 10  # nothing read far beyond the failure


@pytest.mark.parametrize("batch, workers", [(0, 1), (MAX_BATCH + 1, 1), (4, 0)])
def test_bad_batch_or_worker_counts_are_one_line_errors(batch, workers):
    with pytest.raises(SarcompError, match=r"^--(batch|workers) -?\d+: must be"):
        Throughput(batch, workers)


def test_the_cli_takes_batch_and_workers_and_refuses_a_bad_batch(tmp_path, capsys):
    src = _scene(tmp_path / "s.tif", 64, 96)
    sarc = tmp_path / "s.sarc"
    common = ["--model", MODEL, "--tile", "32", "--device", "cpu", "--quiet"]
    main(["compress", str(src), str(sarc), *common, "--batch", "3", "--workers", "2"])
    main(["decompress", str(sarc), str(tmp_path / "d.tif"), "--batch", "2", "--workers", "2", "--quiet"])
    assert (tmp_path / "d.tif").exists()
    with pytest.raises(SystemExit) as exc:
        main(["compress", str(src), str(tmp_path / "t.sarc"), *common, "--batch", "16"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--batch 16: must be 1 to 15" in err and not (tmp_path / "t.sarc").exists()
    with pytest.raises(SystemExit) as exc:
        main(["compress", str(src), "-o", str(tmp_path / "many"), "--mkdir", *common, "--batch", "0"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("--batch 0: must be") == 1 and not (tmp_path / "many").exists()


def test_the_cli_default_batch_is_the_pipelines():
    from sarcomp.codec import commands, pipeline

    assert commands.DEFAULT_BATCH == pipeline.DEFAULT_BATCH


def test_several_workers_are_refused_on_a_gpu_and_allowed_on_the_cpu():
    Throughput(4, 2).check_device(torch.device("cpu"))
    Throughput(4, 1).check_device(torch.device("cuda"))
    with pytest.raises(SarcompError, match=r"^--workers 2: on cuda use one worker"):
        Throughput(4, 2).check_device(torch.device("cuda"))
