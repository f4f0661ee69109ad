"""Golden bitstreams: small ``.sarc`` files whose decoded integers must never change.

One file per entropy model (tiny untrained codecs whose checkpoints sit beside the files) and one
per shipped RD curve, each a synthetic 48 × 144 scene from the project's generator in 64-px tiles (two full, one 16 px),
plus one version-1 file (the float path). ``golden.json`` records, per file, its SHA-256, and per
tile the checksums of its decoded integers (:mod:`sarcomp.codec.symbols`); ``<name>.npz`` holds
its decoded pixels. ``scripts/make_golden.py`` writes them (and refuses to overwrite them),
``tests/test_golden.py`` decodes them and checks symbols exactly and pixels to a tolerance, also
with the float arithmetic around the integer path perturbed.

A change that moves any of these integers changes what every existing file decodes to: it must
come with a new ``.sarc`` version, not with regenerated golden files.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import torch
from omegaconf import OmegaConf
from rasterio.errors import NotGeoreferencedWarning

from sarcomp.codec.container import VERSION, Header, ModelId, iter_strings, read_header, write_container
from sarcomp.codec.modelref import LoadedModel, resolve_model
from sarcomp.codec.scaling import stored_scaling
from sarcomp.codec.scene import decode_scene, encode_scene, scene_grid
from sarcomp.codec.symbols import checksums, tile_symbols
from sarcomp.data.rasters import BandSpec, open_raster
from sarcomp.data.representation import Representation
from sarcomp.data.synthetic import generate_scene
from sarcomp.data.tiles import Scene
from sarcomp.errors import SarcompError
from sarcomp.fileio import atomic_write
from sarcomp.models.blocks import last_convolution
from sarcomp.models.portable import FloatPath
from sarcomp.models.zoo import sha256
from sarcomp.runs import build_model

RECORD = "golden.json"
HEIGHT, WIDTH, TILE, SEED = 48, 144, 64, 23
PIXEL_TOLERANCE = 1e-4  # decoded [0, 1] pixels: g_s rounds differently on other backends
TINY_MODEL = {"channels": [8, 8], "latent_channels": 8, "hyper_channels": 4, "lmbda": 0.01}


@dataclass(frozen=True)
class Case:
    """One golden file: ``model`` is a shipped name, or a checkpoint in the golden folder."""

    name: str
    model: str
    lmbda: float | None = None
    version: int = VERSION


CASES = (
    Case("factorized", "tiny-factorized.pt"),
    Case("hyperprior", "tiny-hyperprior.pt"),
    Case("meanscale", "tiny-meanscale.pt"),
    Case("baseline-ms-s8", "baseline-ms-s8-l003"),
    Case("baseline-ms-vr-s8", "baseline-ms-vr-s8", lmbda=0.003),
    Case("baseline-ms-vr", "baseline-ms-vr", lmbda=0.0067),
    Case("baseline-ms-l0067", "baseline-ms-l0067"),
    Case("v1-cbam-l0067", "v1-cbam-l0067"),
    Case("v3-selfattn-l0067", "v3-selfattn-l0067"),
    Case("baseline-ms-s8-version1", "baseline-ms-s8-l003", version=1),
    Case("checkerboard", "tiny-checkerboard.pt"),
    Case("elic", "tiny-elic.pt"),
    Case("fast-vr-s8", "fast-vr-s8", lmbda=0.003),
    Case("checkerboard-vr-s8", "checkerboard-vr-s8", lmbda=0.03),
    Case("highrate-vr-s4", "highrate-vr-s4", lmbda=0.03),
    Case("lowrate-vr-s4", "lowrate-vr-s4", lmbda=0.003),
    Case("linearpath-vr-s4", "linearpath-vr-s4", lmbda=0.03),
    Case("linearpath-vr-s8", "linearpath-vr-s8", lmbda=0.03),
)
TINY_ENTROPIES = ("factorized", "hyperprior", "meanscale", "checkerboard", "elic")


def model_ref(case: Case, folder: Path) -> str:
    """What ``resolve_model`` takes for a case: the shipped name or the checkpoint's path."""
    return str(folder / case.model) if case.model.endswith(".pt") else case.model


def load_case_model(case: Case, folder: Path) -> LoadedModel:
    loaded = resolve_model(model_ref(case, folder))
    if case.lmbda is not None:
        loaded.model.set_lmbda(case.lmbda)
    return loaded


def write_tiny_models(folder: Path, entropies: Sequence[str] = TINY_ENTROPIES) -> list[Path]:
    """The tiny codecs (one per entropy model) as float16 sarcomp checkpoints: initialised with seed
    0, untrained, the last convolution of g_a scaled by 40 and those of h_a and h_s by 20, so that
    y and z carry several symbols and the scale indexes spread over the table."""
    paths = []
    for entropy in entropies:
        cfg = OmegaConf.create(
            {"model": {"_target_": "sarcomp.models.SARCodec", **TINY_MODEL, "entropy": entropy}}
        )
        torch.manual_seed(0)
        model = build_model(cfg.model)
        with torch.no_grad():
            hyper = getattr(model.latent_codec, "hyper", None)  # h_a, h_s: none for factorized
            for transform, gain in (
                (model.g_a, 40.0),
                *((getattr(hyper, n, None), 20.0) for n in ("h_a", "h_s")),
            ):
                if transform is not None:
                    last_convolution(transform).weight.mul_(gain)
        state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
        path = folder / f"tiny-{entropy}.pt"
        atomic_write(
            path, lambda tmp, s=state, c=cfg: torch.save({"config": OmegaConf.to_yaml(c), "model": s}, tmp)
        )
        paths.append(path)
    return paths


def write_scene(path: Path) -> Scene:
    """The golden scene: a 1-look synthetic intensity crop, as a GeoTIFF at ``path``."""
    intensity, _ = generate_scene(max(HEIGHT, WIDTH), 1, SEED)
    profile = {"driver": "GTiff", "dtype": "float32", "width": WIDTH, "height": HEIGHT, "count": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as ds:
            ds.write(intensity[:HEIGHT, :WIDTH][None])
    return stored_scaling(Scene.load(path, BandSpec(), Representation(units="intensity")))


def encode_case(case: Case, folder: Path, scene: Scene) -> bytes:
    """The case's ``.sarc`` file (without georeferencing: nothing machine-specific in it)."""
    loaded = load_case_model(case, folder)
    return encode(loaded, scene, TILE, case.version, case.lmbda)


def encode(
    loaded: LoadedModel, scene: Scene, tile: int, version: int = VERSION, lmbda: float | None = None
) -> bytes:
    """A ``.sarc`` container of ``scene`` (no georeferencing) as ``version`` codes it: 2 portable,
    1 by the float path."""
    model = loaded.model if version >= 2 else FloatPath(loaded.model)
    grid = scene_grid(scene.info.height, scene.info.width, tile, 0, loaded.model)
    spool = io.BytesIO()
    with open_raster(scene.path) as ds:
        header = encode_scene(
            model, scene, ds, grid, loaded.identity, torch.device("cpu"), spool, lmbda=lmbda
        )
    header.version = version
    out = io.BytesIO()
    write_container(out, header, [spool.getvalue()])
    return out.getvalue()


def decode_case(
    case: Case, data: bytes, model: torch.nn.Module, identity: ModelId
) -> tuple[Header, list[dict[str, str]], np.ndarray]:
    """A golden file's header, its tiles' checksums and its decoded [0, 1] pixels."""
    fh = io.BytesIO(data)
    header, offset = read_header(fh, len(data), case.name)
    if header.model != identity:
        raise ValueError(f"{case.name}: made with {header.model}, not {identity}")
    sums = checksums(tile_symbols(model, header, iter_strings(fh, header, offset)))
    pixels = np.zeros((header.grid.height, header.grid.width), np.float32)

    def put(row: int, unit: np.ndarray, _valid: np.ndarray) -> None:
        pixels[row : row + len(unit)] = unit

    decode_scene(model, header, iter_strings(fh, header, offset), torch.device("cpu"), put, name=case.name)
    return header, sums, pixels


def make_golden(folder: Path, overwrite: bool = False, add: bool = False) -> list[Path]:
    """Write every golden file, its pixels and ``golden.json`` into ``folder``; refuse to replace
    existing ones unless ``overwrite``. ``add``: write only the cases ``golden.json`` does not hold
    yet (a new entropy model or shipped curve), leaving every existing file and entry as it is."""
    folder.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "scene": {"height": HEIGHT, "width": WIDTH, "tile": TILE, "seed": SEED},
        "files": {},
    }
    cases, entropies = list(CASES), list(TINY_ENTROPIES)
    if add and (folder / RECORD).exists():
        record = json.loads((folder / RECORD).read_text())
        if record.get("scene") != {"height": HEIGHT, "width": WIDTH, "tile": TILE, "seed": SEED}:
            raise SarcompError(f"{folder / RECORD}: not a golden record of this scene; nothing added")
        cases = [c for c in CASES if c.name not in record["files"]]
        if not cases:
            return []
        entropies = [e for e in TINY_ENTROPIES if any(c.model == f"tiny-{e}.pt" for c in cases)]
    targets = [folder / RECORD] * (not add) + [folder / f"tiny-{e}.pt" for e in entropies]
    targets += [folder / f"{c.name}{suffix}" for c in cases for suffix in (".sarc", ".npz")]
    present = [p for p in targets if p.exists()]
    if present and not overwrite:
        raise SarcompError(
            f"{len(present)} golden files exist (e.g. {present[0]}); a changed golden file means files "
            "written before decode differently: pass --overwrite only with a new .sarc version"
            + ("" if add else ", or --add for cases the record does not hold yet")
        )
    written = write_tiny_models(folder, entropies)
    scene = write_scene(folder / "scene.tif")
    try:
        for case in cases:
            data = encode_case(case, folder, scene)
            loaded = load_case_model(case, folder)
            _, sums, pixels = decode_case(case, data, loaded.model, loaded.identity)
            sarc, npz = folder / f"{case.name}.sarc", folder / f"{case.name}.npz"
            atomic_write(sarc, lambda tmp, d=data: tmp.write_bytes(d))
            np.savez_compressed(npz, pixels=np.round(pixels * 65535).astype(np.uint16))
            record["files"][case.name] = {
                "model": case.model,
                "lmbda": case.lmbda,
                "version": case.version,
                "bytes": len(data),
                "sha256": sha256(sarc),
                "tiles": sums,
            }
            written += [sarc, npz]
    finally:
        (folder / "scene.tif").unlink()
    atomic_write(folder / RECORD, lambda tmp: tmp.write_text(json.dumps(record, indent=1) + "\n"))
    return [*written, folder / RECORD]


def reference_pixels(folder: Path, case: Case) -> np.ndarray:
    """A golden file's recorded decoded pixels, in [0, 1]."""
    with np.load(folder / f"{case.name}.npz") as stored:
        return stored["pixels"].astype(np.float32) / 65535
