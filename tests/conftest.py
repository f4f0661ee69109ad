"""Shared fixtures: a tiny synthetic data set, composed configs, a trained smoke run."""

from __future__ import annotations

from pathlib import Path

import pytest

from sarcomp.config import register_resolvers
from sarcomp.data.synthetic import generate_dataset
from tests.helpers import SHARED_SAR, compose_train, smoke_overrides

register_resolvers()


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """Synthetic GeoTIFFs: 3 train, 1 val, 2 test scenes of 96×96 pixels."""
    root = tmp_path_factory.mktemp("synthetic")
    generate_dataset(root, counts={"train": 3, "val": 1, "test": 2}, size=96, seed=0)
    return root


@pytest.fixture(scope="session")
def smoke_run(tiny_data, tmp_path_factory) -> Path:
    """A finished smoke training run folder (4 steps) shared by evaluation tests."""
    from sarcomp.training.trainer import train

    run_dir = tmp_path_factory.mktemp("run")
    train(compose_train(smoke_overrides(tiny_data), run_dir), run_dir)
    return run_dir


@pytest.fixture
def shared_sar() -> Path:
    if not SHARED_SAR.is_dir():
        pytest.skip("../shared/sar is not present")
    return SHARED_SAR


_LOADED: dict = {}


@pytest.fixture
def cached_models(monkeypatch) -> None:
    """``resolve_model`` loads each (model, device) once per session: a shipped model takes seconds
    to load, and every compress/decompress call resolves its model anew."""
    from sarcomp.codec import modelref

    original = modelref.resolve_model

    def cached(ref, device="cpu"):
        key = (str(ref), str(device))
        if key not in _LOADED:
            _LOADED[key] = original(ref, device)
        return _LOADED[key]

    monkeypatch.setattr(modelref, "resolve_model", cached)
