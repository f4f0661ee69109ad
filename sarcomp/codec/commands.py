"""The ``sarcomp`` command: compress a SAR raster to ``.sarc``, decompress it to GeoTIFF, inspect a file.

    sarcomp compress <in.tif> <out.sarc> --model <run folder | checkpoint | shipped name> [--band N | --bands 1,2 | --iq]
        [--tile 256] [--lmbda L | --quality N | --bpp T] [--range scene | model | --range=LO,HI] [--force] [--mkdir]
    sarcomp compress <in.tif | folder>... -o <folder> --model ... [--workers N] [--batch B] [...]
    sarcomp decompress <in.sarc> <out.tif> [--model ...] [--force] [--mkdir] [--workers N] [--batch B]
        [--engine fp32 | bf16]
    sarcomp info <in.sarc>

Argument plumbing only: the work is in :mod:`sarcomp.codec.compressor` (one file), :mod:`sarcomp.codec.batch`
(``-o``: many files), :mod:`sarcomp.codec.scene` and :mod:`sarcomp.codec.container`; errors are one line
on stderr and exit status 2 (:func:`sarcomp.cli.run_cli`). ``info`` and ``--help`` import no torch.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from sarcomp.codec.bands import parse_bands
from sarcomp.codec.container import ID_NAME, Header, Notes
from sarcomp.codec.rate import describe_point
from sarcomp.codec.sarcfile import open_sarc
from sarcomp.errors import SarcompError
from sarcomp.host_memory import retain_freed_memory, share_one_heap

DEFAULT_BATCH = 4  # sarcomp.codec.pipeline's (not imported: info and --help import no torch)
BATCH_HELP = (
    "tiles per model call, 1 to 15 (default 4; the bytes are the same for any; 1 runs at half speed: "
    "a lone tile goes in as a pair)"
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sarcomp", description="Learned compression of SAR scenes (.sarc files)."
    )
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compress", help="raster(s) -> .sarc")
    c.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="input raster (GeoTIFF or any GDAL format) and output .sarc file (never a raster; an existing "
        ".sarc file only with --force); with -o: input rasters and folders of rasters",
    )
    c.add_argument(
        "-o",
        "--out-dir",
        default=None,
        help="output folder: every input (folders: their rasters) becomes <folder>/<name>.sarc",
    )
    c.add_argument(
        "--workers",
        type=int,
        default=1,
        help="one file: threads coding tile rows at once; with -o: processes coding files in parallel, "
        "each loading the model once (default 1; the bytes are the same for any N)",
    )
    c.add_argument("--batch", type=int, default=DEFAULT_BATCH, help=BATCH_HELP)
    c.add_argument(
        "--model", required=True, help="run folder, checkpoint file, shipped model or shipped curve name"
    )
    rate = c.add_mutually_exclusive_group()
    rate.add_argument(
        "--lmbda",
        type=float,
        default=None,
        help="operating point of a variable-rate model (its trained range)",
    )
    rate.add_argument(
        "--quality",
        type=int,
        default=None,
        help="N-th operating point, 1 = lowest rate: a variable-rate model's trained λ, or the models of "
        "a shipped curve (e.g. --model baseline-ms-s8)",
    )
    rate.add_argument(
        "--bpp",
        type=float,
        default=None,
        help="target rate: the highest-rate operating point whose file is at most this many bits per pixel",
    )
    c.add_argument("--band", type=int, default=None, help="1-based band to compress (default 1)")
    c.add_argument(
        "--bands",
        default=None,
        help="1-based bands to compress into one multi-band .sarc file, in this order (e.g. 1,2)",
    )
    c.add_argument(
        "--iq",
        action="store_true",
        help="bands 1 and 2 hold I and Q of complex samples (a complex model codes them with their phase)",
    )
    c.add_argument(
        "--range",
        default="scene",
        help="clip range of the dB level: scene (default: the scene's own percentiles), model (the "
        "model's training range) or LO,HI in dB, written --range=LO,HI when LO is negative",
    )
    c.add_argument("--force", action="store_true", help="replace an existing .sarc output")
    c.add_argument("--mkdir", action="store_true", help="create the output folder if it does not exist")
    c.add_argument(
        "--units",
        default="auto",
        choices=("auto", "intensity", "amplitude", "db", "display8"),
        help="what the raster holds (default auto: uint8 -> display8, negative values -> db, else intensity)",
    )
    c.add_argument(
        "--band-specs",
        default=None,
        help="band-spec YAML (e.g. configs/bands/shared_sar.yaml): its entry for the file sets bands "
        "(two-band I/Q too) and units",
    )
    c.add_argument("--tile", type=int, default=256, help="tile size, a multiple of 16 (default 256)")
    c.add_argument(
        "--overlap", type=int, default=0, help="tile overlap in px, blended on decoding (default 0)"
    )
    c.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    d = sub.add_parser("decompress", help=".sarc -> GeoTIFF in the source's physical units")
    d.add_argument("src", help="input .sarc file")
    d.add_argument("dst", help="output GeoTIFF")
    d.add_argument("extra", nargs="*", help=argparse.SUPPRESS)
    d.add_argument("--force", action="store_true", help="replace an existing output file")
    d.add_argument("--mkdir", action="store_true", help="create the output folder if it does not exist")
    d.add_argument("--model", default=None, help="needed only if the model recorded in the file has moved")
    d.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.add_argument(
        "--workers", type=int, default=1, help="threads decoding tile rows at once (default 1; same pixels)"
    )
    d.add_argument("--batch", type=int, default=DEFAULT_BATCH, help=BATCH_HELP)
    d.add_argument(
        "--engine",
        default="fp32",
        help="g_s engine: fp32 (default, the reference) or bf16 (faster where the CPU has bfloat16; "
        "pixels move ~0.01 dB, see experiments/benchmarks/fast_engines.md)",
    )
    i = sub.add_parser("info", help="print a .sarc file's header, bpp and compression ratios")
    i.add_argument("src", help=".sarc file")
    return p


def info_lines(path: str | Path) -> list[str]:
    """Header fields, bpp and compression ratios of a ``.sarc`` file, as ``key: value`` lines
    (reads the header only: no torch, no model)."""
    path = Path(path)
    fh, header, _ = open_sarc(path)
    fh.close()
    g, geo, size = header.grid, header.geo, path.stat().st_size
    shipped = str(header.model) if header.model.kind == ID_NAME else None
    pixels, count = g.height * g.width, header.bands
    geo_bytes = header.metadata_bytes()
    lines = [
        f"file: {path} ({size} bytes)",
        f"format: .sarc version {header.version}"
        + (
            " (portable: decodes to the same symbols on any machine)"
            if header.version >= 2
            else " (float path)"
        ),
        f"size: {g.height} x {g.width} px ({pixels} pixels)",
        f"tiles: {g.n_tiles} ({len(g.rows)} x {len(g.cols)}) of {g.tile} px, overlap {g.overlap}, "
        f"padded to a multiple of {g.pad}; coded area {g.coded_pixels() / pixels:.3f}x the scene",
        f"model: {header.model}" + (f" (lmbda {header.lmbda:g})" if header.lmbda is not None else ""),
        f"rate: {describe_point(shipped, header.lmbda)}",
        f"string groups per tile: {header.groups}",
        f"units: {header.units}, scaling [{header.lo:g}, {header.hi:g}]" + (" (band 1)" if count > 1 else ""),
        *([f"complex: {header.complex.describe()}"] if header.complex is not None else []),
        *_notes_lines(header.notes),
        *_band_lines(header),
        f"nodata mask: {'yes (' + str(len(header.mask)) + ' bytes)' if header.mask is not None else 'none'}",
        f"header: {len(header.decoder_bytes())} bytes for decoding, {geo_bytes} bytes metadata "
        "(georeferencing, notes)",
        f"bpp: {8 * size / (pixels * count):.4f} (file), {8 * (size - geo_bytes) / (pixels * count):.4f} "
        "(without metadata)" + (f"; bits / (pixels x {count} bands)" if count > 1 else ""),
        f"ratio vs float32: {4 * pixels * count / size:.1f}:1"
        if header.complex is None
        else f"ratio vs complex64: {8 * pixels / size:.1f}:1",
    ]
    if geo is not None:
        crs = f"EPSG:{geo.crs_epsg}" if geo.crs_epsg else ("WKT" if geo.crs_wkt else "none")
        lines += [
            f"crs: {crs}",
            f"transform: {', '.join(f'{v:g}' for v in geo.transform) if geo.transform else 'none'}",
            f"nodata value: {'none' if geo.nodata is None else geo.nodata}",
            *([f"band description: {geo.description or '-'}"] if count == 1 else []),
            f"source: {geo.source or '-'}"
            + (
                f" ({geo.source_bytes} bytes, ratio {geo.source_bytes / size:.1f}:1)"
                if geo.source_bytes
                else ""
            ),
        ]
        if geo.model_hint:
            lines.append(f"model recorded at: {geo.model_hint}")
    return lines


def operating_point(out: dict) -> str:
    """``model <name>, λ <λ> (quality N of M), chosen by <how>`` for a :func:`compress_file` result."""
    quality = f", quality {out['quality']} of {out['qualities']}" if out["quality"] else ""
    return f"model {out['model']}, λ {out['lmbda']:g}{quality}; chosen by {out['rate']}"


def _speed(out: dict) -> str:
    if out["encodings"] > 1:
        return f"{out['seconds']:.2f} s for {out['encodings']} encodings"
    return f"{out['pixels'] / max(out['seconds'], 1e-9) / 1e6:.2f} MPixel/s"


def _notes_lines(notes: Notes | None) -> list[str]:
    if notes is None:
        return ["range rule, clipped pixels, dropped information: not recorded (file from an older sarcomp)"]
    lines = [
        f"range: {notes.range_rule}",
        f"clipped: {100 * notes.clipped_low:.2f}% of valid pixels below the range, "
        f"{100 * notes.clipped_high:.2f}% above",
    ]
    return lines + [f"dropped: {text}" for text in notes.dropped]


def _band_lines(header: Header) -> list[str]:
    """One line per band of a multi-band file (none for a single-band one)."""
    if header.band_table is None:
        return []
    lines = [f"bands: {header.bands} in one file (source bands, in order)"]
    for k, e in enumerate(header.band_table.entries, 1):
        mask = header.mask if k == 1 else e.mask
        lines.append(
            f"band {k}: source band {e.source} '{e.description or '-'}', {e.units}, scaling [{e.lo:g}, "
            f"{e.hi:g}], clipped {100 * e.clipped_low:.2f}% low, {100 * e.clipped_high:.2f}% high, "
            f"nodata mask {'yes' if mask is not None else 'none'}"
        )
    return lines


def _run(args: argparse.Namespace) -> None:
    if args.command == "info":
        print("\n".join(info_lines(args.src)))
        return
    if args.command == "compress":
        _compress(args)
        return
    from sarcomp.codec.decompressor import decompress_file  # torch: only to code
    from sarcomp.codec.guard import one_input_one_output  # rasterio: not for info or --help

    src, dst = one_input_one_output(args.command, [args.src, args.dst, *args.extra])
    out = decompress_file(
        src,
        dst,
        model=args.model,
        device=args.device,
        progress=not args.quiet,
        force=args.force,
        mkdir=args.mkdir,
        batch=args.batch,
        workers=args.workers,
        engine=args.engine,
    )
    rate = out["pixels"] / max(out["seconds"], 1e-9) / 1e6
    print(f"{dst}: {out['pixels']} pixels from {out['bpp']:.4f} bpp, {rate:.2f} MPixel/s")


def _compress(args: argparse.Namespace) -> None:
    from sarcomp.codec.compressor import CodingSettings, compress_one  # torch: only to code
    from sarcomp.codec.guard import one_input_one_output
    from sarcomp.codec.rate import RateRequest
    from sarcomp.codec.scaling import parse_range

    rate = RateRequest(args.lmbda, args.quality, args.bpp)
    quiet = args.quiet or args.out_dir is not None
    rule = parse_range(args.range)
    bands = parse_bands(args.bands)
    workers = 1 if args.out_dir is not None else args.workers  # with -o: processes (sarcomp.codec.batch)
    settings = CodingSettings(
        args.band,
        args.tile,
        args.overlap,
        args.device,
        not quiet,
        args.units,
        args.band_specs,
        rule,
        bands,
        args.iq,
        args.batch,
        workers,
    )
    if args.out_dir is not None:
        _compress_many(args, settings, rate)
        return
    src, dst = one_input_one_output("compress", args.paths)
    out = compress_one(src, dst, args.model, settings, rate, args.force, args.mkdir)
    per = f" per band ({len(out['bands'])} bands)" if len(out["bands"]) > 1 else ""
    print(
        f"{dst}: {out['bytes']} bytes, {out['bpp']:.4f} bpp{per} ({out['billed_bpp']:.4f} without metadata), "
        f"{_speed(out)}"
    )
    print(f"{dst}: {operating_point(out)}")
    several = len(out["bands"]) > 1
    for band, how, (low, high) in zip(out["bands"], out["ranges"], out["clipped"], strict=True):
        print(
            f"{dst}: {f'band {band}: ' if several else ''}range {how}; clipped {100 * low:.2f}% of valid pixels "
            f"low, {100 * high:.2f}% high"
        )


def _compress_many(args: argparse.Namespace, settings, rate) -> None:
    from sarcomp.codec import batch

    jobs = batch.plan_jobs(args.paths, args.out_dir, args.force, args.mkdir)
    batch.check_rate(args.model, rate, args.device)
    code = partial(batch.compress_job, model_ref=args.model, settings=settings, rate=rate, force=args.force)

    def report(done: batch.Done, count: int) -> None:
        if done.error is not None:
            print(f"error: {done.error}", file=sys.stderr)
        else:
            print(f"[{count}/{len(jobs)}] {done.job.src} -> {done.job.dst}: {done.result['bpp']:.4f} bpp")

    outcomes = batch.run_jobs(jobs, code, args.workers, report)
    print(batch.summary_table(outcomes))
    failed = sum(d.error is not None for d in outcomes)
    if failed:
        raise SarcompError(f"{failed} of {len(outcomes)} files not compressed (errors above)")


def main(argv: Sequence[str] | None = None) -> None:
    from sarcomp.cli import run_cli

    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    retain_freed_memory()  # tiles reuse their buffers instead of page-faulting (sarcomp.host_memory)
    share_one_heap()  # the pipeline's threads do not each keep a high-water mark
    run_cli(_run, args)


if __name__ == "__main__":
    main()
