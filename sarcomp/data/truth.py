"""Ground truth of the synthetic scenes: their point targets and noise-free reflectivity.

The generator (:mod:`sarcomp.data.synthetic`) knows where it put every bright point target and
what the scene looks like without speckle, so target detection and radiometry can be judged
against the truth rather than against another noisy image. For a scene
``<root>/<split>/scene_XXXX.tif``:

- ``<root>/<split>/scene_XXXX.targets.json`` (every scene): one entry per target pixel, ``row`` and
  ``col`` (0-based pixel centre), ``peak_db`` (10·log10 of the noise-free reflectivity there, linear
  intensity), ``scr_db`` (the target's added intensity over the local land-cover level before
  texture: the generator's gain, summed over the scatterers on that pixel) and ``cover`` (the land
  cover under it: water targets are ships), with the scene's SHA-256 so a stale file is caught.
- ``<root>/<split>/reflectivity/scene_XXXX.tif`` (on request, e.g. the test split only): the
  noise-free reflectivity ``R`` as float32 GeoTIFF with the scene's georeferencing. A sub-folder, so
  data loaders (which list the rasters directly in a split folder) never take it for a scene.

``<root>/TRUTH.SHA256SUMS`` lists both kinds of files (``sha256sum -c``). Writing them regenerates
each scene's layers with the same seed; the scenes themselves are not touched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sarcomp.data.identity import file_sha256
from sarcomp.data.synthetic import generate_scene, scene_looks, scene_path, scene_seed
from sarcomp.data.terrain import CLASS_NAMES
from sarcomp.errors import SarcompError
from sarcomp.fileio import atomic_write, atomic_write_text

TARGETS_SUFFIX = ".targets.json"
REFLECTIVITY_DIR = "reflectivity"
SUMS = "TRUTH.SHA256SUMS"


@dataclass(frozen=True)
class SceneTruth:
    """A scene's targets (pixel rows, cols, peak and SCR in dB, land cover) and, when written, its
    noise-free reflectivity (linear intensity)."""

    rows: np.ndarray
    cols: np.ndarray
    peak_db: np.ndarray
    scr_db: np.ndarray
    cover: tuple[str, ...]
    reflectivity: np.ndarray | None = None


def targets_path(scene: str | Path) -> Path:
    """The targets file beside a scene."""
    scene = Path(scene)
    return scene.with_name(scene.stem + TARGETS_SUFFIX)


def reflectivity_path(scene: str | Path) -> Path:
    """Where a scene's noise-free reflectivity is written (when it is)."""
    scene = Path(scene)
    return scene.parent / REFLECTIVITY_DIR / scene.name


def target_table(record: Mapping[str, np.ndarray]) -> dict[str, list]:
    """One entry per target pixel from the generator's record (:func:`generate_scene`'s ``record``)."""
    refl, classes = record["reflectivity"], record["classes"]
    flat = np.asarray(record["rows"]) * refl.shape[1] + np.asarray(record["cols"])
    pixels, inverse = np.unique(flat, return_inverse=True)
    gain = np.bincount(inverse, weights=10.0 ** (np.asarray(record["gain_db"]) / 10.0), minlength=pixels.size)
    rows, cols = np.divmod(pixels, refl.shape[1])
    return {
        "row": rows.tolist(),
        "col": cols.tolist(),
        "peak_db": np.round(10.0 * np.log10(refl[rows, cols].astype(np.float64)), 3).tolist(),
        "scr_db": np.round(10.0 * np.log10(gain), 3).tolist(),
        "cover": [CLASS_NAMES[c] for c in classes[rows, cols]],
    }


def targets_text(record: Mapping[str, np.ndarray], scene: Path, meta: Mapping[str, object]) -> str:
    """The targets file of one scene (JSON text; one target per line)."""
    table = target_table(record)
    head = {
        "scene": scene.name,
        "scene_sha256": file_sha256(scene),
        "seed": meta["seed"],
        "looks": meta["looks"],
        "size": meta["size"],
        "pixel": "row, col: 0-based pixel centre",
        "peak_db": "10*log10 of the noise-free reflectivity (linear intensity) at the target pixel",
        "scr_db": "added intensity over the local land-cover level (before texture), dB",
        "count": len(table["row"]),
    }
    targets = [dict(zip(table, values)) for values in zip(*table.values())]
    lines = ",\n".join("    " + json.dumps(t) for t in targets)
    body = json.dumps(head, indent=2)[:-2]
    return f'{body},\n  "targets": [\n{lines}\n  ]\n}}\n'


def _write_reflectivity(path: Path, scene: Path, reflectivity: np.ndarray) -> None:
    import rasterio

    with rasterio.open(scene) as src:
        profile = src.profile

    def write(tmp: Path) -> None:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(reflectivity.astype(np.float32), 1)
            dst.update_tags(UNITS="linear intensity", CONTENT="noise-free reflectivity", SCENE=scene.name)
            dst.set_band_description(1, "reflectivity")

    atomic_write(path, write, suffix=".tmp.tif")


def _reflectivity_differs(path: Path, reflectivity: np.ndarray) -> bool:
    import rasterio

    with rasterio.open(path) as src:
        return not np.array_equal(src.read(1), reflectivity)


def write_truth(
    root: str | Path,
    counts: Mapping[str, int],
    size: int,
    looks: Sequence[int],
    seed: int,
    reflectivity_splits: Sequence[str] = (),
    overwrite: bool = False,
) -> tuple[list[Path], list[Path]]:
    """Targets files for every scene of ``counts`` (written by
    :func:`~sarcomp.data.synthetic.generate_dataset` with the same settings) and the reflectivity of
    the scenes of ``reflectivity_splits``. Existing files are kept only when they hold what would be
    written (else SarcompError, or rewritten with ``overwrite``). Returns (written, all truth files)."""
    root = Path(root)
    written: list[Path] = []
    files: list[Path] = []
    differing: list[str] = []
    for split, n in counts.items():
        for i in range(int(n)):
            scene = scene_path(root, split, i)
            s = scene_seed(seed, split, i)
            record: dict = {}
            _, meta = generate_scene(size, scene_looks(looks, split, i, s), s, record=record)
            path = targets_path(scene)
            text = targets_text(record, scene, meta)
            files.append(path)
            if path.exists() and not overwrite:
                if path.read_text() != text:
                    differing.append(str(path))
            else:
                atomic_write_text(path, text)
                written.append(path)
            if split not in reflectivity_splits:
                continue
            path = reflectivity_path(scene)
            files.append(path)
            if path.exists() and not overwrite:
                if _reflectivity_differs(path, record["reflectivity"]):
                    differing.append(str(path))
            else:
                _write_reflectivity(path, scene, record["reflectivity"])
                written.append(path)
    if differing:
        raise SarcompError(
            f"{len(differing)} ground-truth file(s) differ from what the generator gives for seed={seed}, "
            f"size={size}: {'; '.join(differing[:3])}; regenerate them with --overwrite"
        )
    return written, files


def write_sums(root: str | Path, files: Sequence[Path]) -> Path:
    """``<root>/TRUTH.SHA256SUMS`` for ``files``."""
    root = Path(root)
    path = root / SUMS
    atomic_write_text(path, "".join(f"{file_sha256(f)}  {f.relative_to(root).as_posix()}\n" for f in files))
    return path


def load_truth(scene: str | Path, sha256: str | None = None) -> SceneTruth | None:
    """The ground truth beside ``scene`` (None when there is none); SarcompError when it was written
    for another scene (``sha256``, the scene's, differs from the one recorded)."""
    path = targets_path(scene)
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if sha256 is not None and data.get("scene_sha256") != sha256:
        raise SarcompError(
            f"{path}: ground truth of another scene (its SHA-256 differs from {Path(scene).name}'s); "
            "rewrite it with scripts/make_synthetic.py"
        )
    targets = data["targets"]
    refl = None
    if reflectivity_path(scene).is_file():
        import rasterio

        with rasterio.open(reflectivity_path(scene)) as src:
            refl = src.read(1).astype(np.float64)
    column = lambda key, dtype: np.array([t[key] for t in targets], dtype)  # noqa: E731
    return SceneTruth(
        column("row", np.int64),
        column("col", np.int64),
        column("peak_db", np.float64),
        column("scr_db", np.float64),
        tuple(t["cover"] for t in targets),
        refl,
    )
