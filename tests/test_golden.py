"""Golden bitstreams (tests/golden, scripts/make_golden.py): committed .sarc files decode to the
recorded integers exactly and to the recorded pixels within a tolerance; a version-2 file's
integers stay the same with the float arithmetic around the integer path perturbed."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache

import numpy as np
import pytest
import torch

from sarcomp.codec import golden
from sarcomp.codec.container import iter_strings, read_header
from sarcomp.codec.symbols import checksum, checksums, tile_shapes, tile_symbols
from sarcomp.errors import SarcompError
from sarcomp.models import intnet, tables
from sarcomp.models.zoo import sha256
from tests.forked import run_forked
from tests.helpers import REPO

GOLDEN = REPO / "tests" / "golden"
RECORD = json.loads((GOLDEN / golden.RECORD).read_text())
CASES = {case.name: case for case in golden.CASES}
PORTABLE = [name for name, case in CASES.items() if case.version >= 2]


@cache
def _loaded(name: str):
    return golden.load_case_model(CASES[name], GOLDEN)


def _data(name: str) -> bytes:
    return (GOLDEN / f"{name}.sarc").read_bytes()


def _check(name: str, model: torch.nn.Module) -> None:
    """Symbols exact, pixels within the tolerance, against the record."""
    case, loaded = CASES[name], _loaded(name)
    header, sums, pixels = golden.decode_case(case, _data(name), model, loaded.identity)
    assert header.version == case.version
    assert sums == RECORD["files"][name]["tiles"], f"{name}: decoded integers differ from the record"
    reference = golden.reference_pixels(GOLDEN, case)
    np.testing.assert_allclose(pixels, reference, rtol=0, atol=golden.PIXEL_TOLERANCE + 0.5 / 65535)


def test_the_record_covers_every_case_and_the_files_are_small():
    assert set(RECORD["files"]) == set(CASES)
    for name, entry in RECORD["files"].items():
        assert sha256(GOLDEN / f"{name}.sarc") == entry["sha256"], f"{name}.sarc was changed"
        assert entry["bytes"] < 4096 and len(entry["tiles"]) == 3
    assert {"factorized", "hyperprior", "meanscale", "baseline-ms-s8", "baseline-ms-vr-s8"} <= set(PORTABLE)


@pytest.mark.parametrize("name", list(CASES))
def test_golden_file_decodes_to_the_recorded_symbols_and_pixels(name):
    _check(name, _loaded(name).model)


@contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def _network_input(
    model: torch.nn.Module, change: Callable, dtype: torch.dtype = torch.float32
) -> Iterator[None]:
    """The integer h_s fed ``change(z's symbols)`` and carrying its integers in ``dtype``."""
    if model.entropy == "factorized":  # no h_s
        yield
        return
    network = model.latent_codec.hyper.network()

    class Fed:
        def outputs(self, z, medians, size):
            return network.outputs(change(z), medians, size, dtype)

        def indexes(self, values):
            return network.indexes(values)

    hyper = model.latent_codec.hyper
    hyper.network = Fed
    try:
        yield
    finally:
        del hyper.network  # the class's method again


def _channels_last(model: torch.nn.Module):
    model.to(memory_format=torch.channels_last)  # g_s and everything else too
    return _network_input(model, lambda z: z.contiguous(memory_format=torch.channels_last))


def _float64(model: torch.nn.Module):
    """The whole model in float64 (ẑ, means, g_s), the integer path's integers too."""
    model.double()
    return _network_input(model, lambda z: z, torch.float64)


PERTURBATIONS = {
    "2 threads": lambda model: _threads(2),
    "oneDNN off": lambda model: torch.backends.mkldnn.flags(
        enabled=False, deterministic=False, allow_tf32=False, fp32_precision="none"
    ),
    "channels_last": _channels_last,
    "float64": _float64,
}


@pytest.mark.parametrize("perturbation", list(PERTURBATIONS))
@pytest.mark.parametrize("name", PORTABLE)
def test_version2_symbols_survive_perturbed_float_arithmetic(name, perturbation):
    model = golden.load_case_model(CASES[name], GOLDEN).model  # a fresh copy: perturbations may stick
    with PERTURBATIONS[perturbation](model):
        _check(name, model)


@pytest.mark.parametrize("name", PORTABLE)
def test_version2_symbols_of_a_batch_of_tiles_equal_those_of_each_tile(name):
    data, model = _data(name), _loaded(name).model
    fh = io.BytesIO(data)
    header, offset = read_header(fh, len(data), name)
    tiles = list(iter_strings(fh, header, offset))
    shapes = tile_shapes(header)
    assert shapes[0] == shapes[1] != shapes[2]
    batch = model.decode_latent([[tiles[0][g], tiles[1][g]] for g in range(header.groups)], shapes[0])
    recorded = RECORD["files"][name]["tiles"]
    for item in (0, 1):
        got = {key: checksum(values[item]) for key, values in batch.items() if key != "y_hat"}
        assert got == recorded[item], f"{name}: tile {item} decoded in a batch differs"


def _fresh_checksums(name: str) -> list[dict[str, str]]:
    loaded = golden.load_case_model(CASES[name], GOLDEN)
    data = _data(name)
    fh = io.BytesIO(data)
    header, offset = read_header(fh, len(data), name)
    try:
        return checksums(tile_symbols(loaded.model, header, iter_strings(fh, header, offset)))
    except ValueError:  # the range decoder may also fail outright
        return []


@pytest.mark.parametrize("name", ["meanscale", "baseline-ms-s8"])
def test_a_change_to_the_integer_path_of_encoder_and_decoder_fails_the_golden_check(name, monkeypatch):
    monkeypatch.setattr(intnet, "HIDDEN_BITS", intnet.HIDDEN_BITS - 1)
    assert _fresh_checksums(name) != RECORD["files"][name]["tiles"]


@pytest.mark.parametrize("name", ["factorized", "baseline-ms-s8"])
def test_a_change_to_the_coder_tables_fails_the_golden_check(name, monkeypatch):
    sigmoid = tables.em.sigmoid
    monkeypatch.setattr(tables.em, "sigmoid", lambda x: sigmoid(1.01 * x))  # the factorised priors
    monkeypatch.setattr(tables, "GAUSSIAN_TAIL", 5.0)  # the Gaussian tables' reach
    tables.gaussian_tables.cache_clear()
    try:
        assert _fresh_checksums(name) != RECORD["files"][name]["tiles"]
    finally:
        tables.gaussian_tables.cache_clear()


def test_make_golden_refuses_to_overwrite(tmp_path):
    (tmp_path / golden.RECORD).write_text("{}")
    with pytest.raises(SarcompError, match="--overwrite"):
        golden.make_golden(tmp_path)
    result = run_forked(
        [sys.executable, "scripts/make_golden.py", "--out", str(tmp_path)],
        REPO,
        {**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 2 and "--overwrite" in result.stderr
    assert (tmp_path / golden.RECORD).read_text() == "{}"


_SCALAR = """
import json, sys
from sarcomp.codec import golden
from tests.test_golden import GOLDEN, CASES, RECORD, _data
import torch
assert torch.backends.cpu.get_cpu_capability() == "DEFAULT"
bad = []
for name in sys.argv[1:]:
    loaded = golden.load_case_model(CASES[name], GOLDEN)
    _, sums, _ = golden.decode_case(CASES[name], _data(name), loaded.model, loaded.identity)
    bad += [name] if sums != RECORD["files"][name]["tiles"] else []
print(json.dumps(bad))
"""


@pytest.mark.slow
def test_version2_symbols_are_the_same_with_scalar_cpu_kernels():
    """ATEN_CPU_CAPABILITY=default: torch's scalar kernels instead of AVX2/AVX-512 (another CPU family)."""
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", _SCALAR, *PORTABLE],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_every_golden_file_re_encodes_byte_for_byte(tmp_path):
    """This checkout writes the recorded files exactly: the coder, the model's identity
    (``model_hash`` of the tiny codecs, names of shipped ones) and the header alike."""
    scene = golden.write_scene(tmp_path / "scene.tif")
    for name, case in CASES.items():
        assert golden.encode_case(case, GOLDEN, scene) == _data(name), f"{name}.sarc re-encodes differently"


def test_add_writes_only_the_cases_the_record_lacks(tmp_path):
    """--add for a new entropy model or shipped curve: the missing case comes back byte for byte,
    every other file and entry stays as it is."""
    shutil.copytree(GOLDEN, tmp_path, dirs_exist_ok=True)
    record = json.loads((tmp_path / golden.RECORD).read_text())
    del record["files"]["elic"]
    (tmp_path / golden.RECORD).write_text(json.dumps(record))
    for name in ("elic.sarc", "elic.npz", "tiny-elic.pt"):
        (tmp_path / name).unlink()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != golden.RECORD}
    written = golden.make_golden(tmp_path, add=True)
    assert sorted(p.name for p in written) == ["elic.npz", "elic.sarc", golden.RECORD, "tiny-elic.pt"]
    assert json.loads((tmp_path / golden.RECORD).read_text())["files"] == RECORD["files"]
    assert all((tmp_path / name).read_bytes() == data for name, data in before.items())
    assert (tmp_path / "elic.sarc").read_bytes() == (GOLDEN / "elic.sarc").read_bytes()
