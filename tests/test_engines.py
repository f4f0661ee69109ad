"""Opt-in engines for g_a / g_s (sarcomp.codec.engines): same bytes for g_s, decodable files for g_a."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch

from sarcomp.codec.commands import main
from sarcomp.codec.engines import ENGINES, with_engines
from sarcomp.data.synthetic_tiff import write_scene
from sarcomp.errors import SarcompError
from sarcomp.models.autoencoder import SARCodec


@pytest.fixture(scope="module")
def model() -> SARCodec:
    torch.manual_seed(0)
    codec = SARCodec(channels=[8, 8], latent_channels=8, entropy="meanscale", hyper_channels=8)
    codec.update(force=True)
    return codec.eval()


def test_a_synthesis_engine_keeps_the_bytes_and_leaves_the_model_alone(model):
    x = torch.rand(2, 1, 32, 32)
    fast = with_engines(model, synthesis="bf16")
    coded, fast_coded = model.compress(x), fast.compress(x)
    assert coded == fast_coded  # g_a untouched: the same strings
    reference = model.decompress(coded["strings"], coded["shape"])["x_hat"]
    x_hat = fast.decompress(coded["strings"], coded["shape"])["x_hat"]
    assert x_hat.dtype == torch.float32 and x_hat.shape == x.shape
    assert (x_hat - reference).abs().max() < 0.02  # bfloat16 pixels, not bit-exact
    assert isinstance(model.g_s, torch.nn.Sequential) and model.g_s[0].__class__ is not fast.g_s[0].__class__


def test_an_analysis_engine_writes_files_the_reference_decodes(model):
    x = torch.rand(1, 1, 32, 32)
    coded = with_engines(model, analysis="bf16").compress(x)
    x_hat = model.decompress(coded["strings"], coded["shape"])["x_hat"]
    reference = model.decompress(**model.compress(x))["x_hat"]
    assert (x_hat - reference).abs().mean() < 0.01


def test_fp32_is_the_model_itself_and_unknown_engines_are_refused(model):
    assert ENGINES[0] == "fp32"
    same = with_engines(model)
    assert same.g_s.state_dict().keys() == model.g_s.state_dict().keys()
    with pytest.raises(SarcompError, match="^--engine int4: unknown engine; valid: fp32, bf16$"):
        with_engines(model, synthesis="int4")


def test_sarcomp_decompress_runs_g_s_on_the_engine_asked_for(tmp_path, capsys):
    """``--engine bf16``: the same file decodes to pixels within bfloat16's error of fp32's; an
    unknown engine is one line, and no output is written."""
    src = tmp_path / "s.tif"
    write_scene(src, np.random.default_rng(0).gamma(1.0, 1.0, (64, 96)).astype(np.float32), {}, 0)
    sarc = tmp_path / "s.sarc"
    main(
        [
            "compress",
            str(src),
            str(sarc),
            "--model",
            "fast-vr-s8",
            "--tile",
            "32",
            "--device",
            "cpu",
            "--quiet",
        ]
    )
    decoded = {}
    for engine in ENGINES:
        out = tmp_path / f"{engine}.tif"
        main(["decompress", str(sarc), str(out), "--engine", engine, "--quiet"])
        with rasterio.open(out) as ds:
            decoded[engine] = ds.read(1)
    db = {k: 10 * np.log10(np.maximum(v, 1e-10)) for k, v in decoded.items()}
    assert 0 < np.abs(db["bf16"] - db["fp32"]).mean() < 0.1
    with pytest.raises(SystemExit) as exc:
        main(["decompress", str(sarc), str(tmp_path / "x.tif"), "--engine", "int4", "--quiet"])
    assert exc.value.code == 2 and "--engine int4: unknown engine" in capsys.readouterr().err
    assert not (tmp_path / "x.tif").exists()
