"""Many files in one command (issue 24, part 2): ``sarcomp compress IN... -o OUTDIR/``, folders as
inputs, ``--workers``, a summary table, every output guarded before anything is coded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sarcomp.codec.commands import main
from sarcomp.codec.sarcfile import open_sarc
from tests.helpers import write_tif

CODE = ["--model", "baseline-ms-vr-s8", "--quality", "2", "--tile", "64", "--device", "cpu"]


def _scene(path: Path, seed: int, shape=(64, 80)) -> Path:
    rng = np.random.default_rng(seed)
    return write_tif(path, (0.05 * rng.gamma(4.0, 0.25, shape)).astype(np.float32))


@pytest.fixture
def inputs(tmp_path) -> tuple[Path, Path]:
    folder = tmp_path / "scenes"
    folder.mkdir()
    _scene(folder / "a.tif", 0)
    _scene(folder / "b.tif", 1, (48, 96))
    return folder, _scene(tmp_path / "c.tif", 2)


def _run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_folder_and_a_file_into_an_output_folder_with_a_summary(inputs, tmp_path, capsys, cached_models):
    folder, c = inputs
    out = tmp_path / "out"
    out.mkdir()
    code, printed, err = _run(capsys, "compress", str(folder), str(c), "-o", str(out), *CODE)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a.sarc", "b.sarc", "c.sarc"]
    table = printed[printed.index("file ") :]
    for name in ("a", "b", "c"):
        fh, header, _ = open_sarc(out / f"{name}.sarc")
        fh.close()
        bpp = 8 * (out / f"{name}.sarc").stat().st_size / (header.grid.height * header.grid.width)
        row = next(line for line in table.splitlines() if line.startswith(f"{name}.tif"))
        assert f"{bpp:.4f}" in row and "baseline-ms-vr-s8, λ 0.001 (q2)" in row and " / " in row
    assert "all 3 of 3" in table and "clipped % (low/high)" in table


def test_a_missing_output_folder_is_an_error_unless_mkdir(inputs, tmp_path, capsys, cached_models):
    folder, _ = inputs
    typo = tmp_path / "ouput"
    code, _, err = _run(capsys, "compress", str(folder), "-o", str(typo), *CODE)
    assert code == 2 and err == f"error: {typo}: output folder does not exist; create it or pass --mkdir\n"
    assert not typo.exists()
    code, _, err = _run(capsys, "compress", str(folder), "-o", str(typo), "--mkdir", *CODE)
    assert code == 0 and sorted(p.name for p in typo.iterdir()) == ["a.sarc", "b.sarc"]
    single = tmp_path / "nowhere" / "a.sarc"
    code, _, err = _run(capsys, "compress", str(folder / "a.tif"), str(single), *CODE)
    assert code == 2 and "output folder does not exist" in err and not single.parent.exists()


def test_every_output_is_guarded_before_anything_is_coded(inputs, tmp_path, capsys):
    folder, c = inputs
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.sarc").write_text("not a .sarc file")
    code, _, err = _run(capsys, "compress", str(folder), str(c), "-o", str(out), *CODE, "--force")
    assert code == 2 and "b.sarc: output exists and is not a .sarc file" in err
    assert sorted(p.name for p in out.iterdir()) == ["b.sarc"]  # a.sarc was not coded first
    (tmp_path / "other").mkdir()
    _scene(tmp_path / "other" / "a.tif", 5)
    code, _, err = _run(capsys, "compress", str(folder), str(tmp_path / "other"), "-o", str(tmp_path), *CODE)
    assert code == 2 and "would be written here" in err and str(tmp_path / "other" / "a.tif") in err


def test_a_failing_file_is_reported_and_the_others_are_written(inputs, tmp_path, capsys, cached_models):
    folder, _ = inputs
    write_tif(folder / "blank.tif", np.zeros((64, 64), np.float32))
    out = tmp_path / "out"
    code, printed, err = _run(capsys, "compress", str(folder), "-o", str(out), "--mkdir", *CODE)
    assert code == 2 and "blank.tif: every valid pixel has the same value" in err
    assert err.strip().splitlines()[-1] == "error: 1 of 3 files not compressed (errors above)"
    assert sorted(p.name for p in out.iterdir()) == ["a.sarc", "b.sarc"]
    assert "not compressed (error above)" in printed and "all 2 of 3" in printed


def test_a_rate_request_the_model_cannot_meet_stops_before_coding(inputs, tmp_path, capsys):
    folder, _ = inputs
    out = tmp_path / "out"
    args = ["compress", str(folder), "-o", str(out), "--mkdir", "--model", "baseline-ms-s8-l003"]
    code, _, err = _run(capsys, *args, "--lmbda", "0.003")
    assert code == 2 and "fixed-rate model" in err and err.count("\n") == 1 and not any(out.iterdir())


@pytest.mark.slow
def test_workers_write_the_same_bytes_as_one_process(inputs, tmp_path, capsys):
    folder, c = inputs
    one, two = tmp_path / "one", tmp_path / "two"
    for out, workers in ((one, "1"), (two, "2")):
        code, _, err = _run(
            capsys, "compress", str(folder), str(c), "-o", str(out), "--mkdir", *CODE, "--workers", workers
        )
        assert code == 0, err
    for name in ("a.sarc", "b.sarc", "c.sarc"):
        assert (one / name).read_bytes() == (two / name).read_bytes()
