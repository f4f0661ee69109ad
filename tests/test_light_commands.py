"""Commands that code nothing import no torch nor rasterio (issue 24, part 4): ``sarcomp info``, ``sarcomp --help``
and ``import sarcomp`` stay light; the model is loaded once per process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sarcomp.codec.scene import compress_file
from tests.helpers import REPO, write_tif

CHECK = """
import sys
{code}
heavy = sorted(m for m in ("torch", "compressai", "hydra", "matplotlib", "rasterio") if m in sys.modules)
print("heavy:", ",".join(heavy))
"""


def _heavy_modules(code: str) -> tuple[list[str], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", CHECK.format(code=code)], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    return [m for m in last.removeprefix("heavy:").strip().split(",") if m], out.stdout


@pytest.fixture(scope="module")
def sarc(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("light")
    rng = np.random.default_rng(0)
    tif = write_tif(folder / "a.tif", (0.05 * rng.gamma(4.0, 0.25, (64, 64))).astype(np.float32))
    compress_file(tif, folder / "a.sarc", "baseline-ms-s8-l01", tile=64, device="cpu", progress=False)
    return folder / "a.sarc"


def test_info_imports_no_torch(sarc):
    heavy, out = _heavy_modules(f"from sarcomp.codec.commands import main\nmain(['info', {str(sarc)!r}])")
    assert heavy == [] and "model: baseline-ms-s8-l01" in out


def test_help_imports_no_torch():
    code = "from sarcomp.codec.commands import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    heavy, out = _heavy_modules(code)
    assert heavy == [] and "compress" in out


def test_import_sarcomp_imports_no_torch():
    heavy, _ = _heavy_modules("import sarcomp\nassert callable(sarcomp.__getattr__)")
    assert heavy == []
