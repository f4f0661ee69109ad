"""The benchmark's Markdown: machine, then one table per section, then the targets."""

from __future__ import annotations

from typing import Any

from sarcomp.bench.attention_scaling import METHODS, growth_exponents
from sarcomp.models.autoencoder import CODING_STAGES

MB = 1e6


def md_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """A Markdown table (header row, separator, rows)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def _verdict(met: bool | None) -> str:
    return "not run" if met is None else "MET" if met else "NOT MET"


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# sarcomp benchmark",
        "",
        f"Command: `{results['command']}`  ",
        f"Started {results['started_utc']} UTC, {results['elapsed_s']:.0f} s. Mode: {results['mode']}.",
        "",
        f"Machine: {m['cpu']}, {m['cpu_count']} cores, torch {m['torch']} with {m['torch_threads']} "
        f"thread(s) (OMP_NUM_THREADS={m['omp_num_threads']}), Python {m['python']}; device {m['device']}"
        f"{'; GPU ' + m['gpu']['name'] if m['gpu'] else '; no GPU'}. Load average at start "
        f"{' / '.join(map(str, m['load_average_at_start']))} (1/5/15 min).",
    ]
    if results.get("note"):
        lines += ["", f"Note: {results['note']}"]
    lines += ["", "Each figure is the median of repeated runs after warm-up.", ""]
    lines += (
        _train(results["train_step"])
        + _cbam(results["cbam"])
        + _codec(results["codec"])
        + _attention(results["attention"])
    )
    lines += _memory(results["train_memory"])
    if results["loading"] is not None:
        lines += _loading(results["loading"], results["train_step"])
    lines += _scene(results["whole_scene"])
    lines += ["## Targets", ""]
    lines += md_table(
        ["target", "verdict", "figure"],
        [[t["target"], _verdict(t["met"]), t["figure"]] for t in results["targets"]],
    )
    return "\n".join(lines) + "\n"


def _train(s: dict[str, Any]) -> list[str]:
    head = [
        "## Training step",
        "",
        f"Tile {s['tile_size']}, batch {s['batch_size']} x accumulate {s['accumulate']}; the trainer's step "
        "(forward, loss, backward, Adam, auxiliary step); repeats interleaved across experiments; the "
        "ratio is the median over rounds of the step time over the baseline's in the same round."
        + (
            " Freed host memory kept for reuse, as the trainer does." if s.get("host_memory_retained") else ""
        ),
        "",
    ]
    rows = [
        [
            r["label"],
            f"{r['median_step_s']:.3f}",
            f"{r['tiles_per_s']:.2f}",
            "" if r["ratio_to_baseline"] is None else f"{r['ratio_to_baseline']:.3f}",
            "" if r["ratio_range"] is None else "{:.2f}-{:.2f}".format(*r["ratio_range"]),
        ]
        for r in s["rows"]
    ]
    header = ["experiment", "step s", "tiles/s", "x baseline (median)", "x baseline (range over rounds)"]
    return head + md_table(header, rows) + [""]


def _codec(s: dict[str, Any]) -> list[str]:
    head = [
        "## Codec encode / decode",
        "",
        f"{s['tiles']} test tiles of {s['tile_size']}², one at a time, on {s['device']}; entropy coding included; "
        "the experiments' models untrained (speed only: their bpp is not a trained operating point), "
        "`zoo:` rows the shipped trained models at their operating points; JPEG 2000 "
        "rate-matched to each model's bpp tile by tile.",
        "",
    ]
    rows = []
    for r in s["rows"]:
        for c in (r, r["jpeg2000"]):
            if c is None:
                continue
            name = r["label"] if c is r else f"  JPEG 2000 at {r['codec']}'s bpp"
            kmac = c.get("kmac_per_pixel")
            rows.append(
                [
                    name,
                    f"{c['bpp']:.3f}",
                    f"{c['encode_mpix_s']:.2f}",
                    f"{c['decode_mpix_s']:.2f}",
                    f"{c['encode_decode_mpix_s']:.2f}",
                    "" if kmac is None else f"{kmac:.1f}",
                    "" if kmac is None else f"{kmac * c['encode_decode_mpix_s']:.1f}",
                ]
            )
    header = ["codec", "bpp", "encode MPix/s", "decode MPix/s", "enc+dec MPix/s", "kMAC/pixel", "GMAC/s"]
    notes = [
        "kMAC/pixel: convolution and attention multiply-accumulates of analysis + synthesis "
        "(sarcomp.models.complexity.count_macs); GMAC/s = kMAC/pixel x enc+dec MPix/s, the "
        "arithmetic rate the codec sustains.",
        "",
    ]
    return head + md_table(header, rows) + [""] + notes + _codec_stages(s)


def _codec_stages(s: dict[str, Any]) -> list[str]:
    """Per-stage milliseconds per tile of each model (CPU runs), beside JPEG 2000's whole time."""
    rows = [r for r in s["rows"] if r.get("stages_ms")]
    if not rows:
        return []
    enc = [k for k in CODING_STAGES if any(k in r["stages_ms"]["encode"] for r in rows)] + ["total"]
    dec = [k for k in CODING_STAGES if any(k in r["stages_ms"]["decode"] for r in rows)] + ["total"]

    def ms(stages: dict[str, float], key: str) -> str:
        return f"{stages[key]:.2f}" if key in stages else ""

    table = [
        [
            r["label"],
            *(ms(r["stages_ms"]["encode"], k) for k in enc),
            *(ms(r["stages_ms"]["decode"], k) for k in dec),
            "" if r["jpeg2000"] is None else f"{1e3 * r['jpeg2000']['encode_decode_s'] / s['tiles']:.2f}",
        ]
        for r in rows
    ]
    header = ["codec", *(f"enc {k}" for k in enc), *(f"dec {k}" for k in dec), "JPEG 2000 enc+dec"]
    return [
        "### Where the codec's time goes",
        "",
        "Milliseconds per tile in each stage of compress (enc) and decompress (dec), from torch.profiler "
        "over one pass through the tiles (the profiler adds a little to every operator: compare a row's "
        "stages with its own total). z coding: the side latent coded and decoded; indexes: each Gaussian's "
        "scale to its coder table; y coding: the latent's rANS coding. Last column: JPEG 2000 on the same "
        "tile, encode + decode, without a profiler.",
        "",
        *md_table(header, table),
        "",
    ]


def _attention(s: dict[str, Any]) -> list[str]:
    m = s["module"]
    head = [
        "## Self-attention",
        "",
        f"{s['mode']}, batch {s['batch']}, {s['channels']} channels. fused = scaled_dot_product_attention, "
        f"explicit = softmax(QK^T/sqrt(d))V, module = the self_attention block (global up to {m['max_tokens']} "
        f"positions with queries in blocks of {m['query_chunk']}, {m['window_size']}x{m['window_size']} windows "
        "above). Peak: allocations above the inputs (CPU: torch.profiler memory events; CUDA: max_memory_allocated).",
        "",
    ]
    by_side: dict[int, dict[str, dict]] = {}
    for r in s["rows"]:
        by_side.setdefault(r["side"], {})[r["method"]] = r
    header = ["tokens"] + [f"{m} ms" for m in METHODS] + [f"{m} peak MB" for m in METHODS]
    rows = [
        [f"{side}² = {side * side}"]
        + [f"{by[m]['median_s'] * 1e3:.2f}" for m in METHODS]
        + [f"{by[m]['peak_bytes'] / MB:.2f}" for m in METHODS]
        for side, by in sorted(by_side.items())
    ]
    growth = [f"{m}: " + ", ".join(f"{e:.2f}" for e in growth_exponents(s["rows"], m)) for m in METHODS]
    return (
        head
        + md_table(header, rows)
        + ["", "Memory growth exponents between sizes: " + "; ".join(growth), ""]
    )


def _loading(s: dict[str, Any], train: dict[str, Any]) -> list[str]:
    need = [r for r in train["rows"] if r["experiment"] == "baseline"] or train["rows"][:1]
    fastest = max(r["tiles_per_s"] for r in train["rows"])
    head = [
        "## Data loading",
        "",
        f"Random training tiles of {s['tile_size']}² from GeoTIFF (rasterio windows, representation, "
        f"augmentation), batch {s['batch_size']}. A training step consumes {need[0]['tiles_per_s']:.2f} "
        f"tiles/s ({need[0]['label']}); the fastest experiment {fastest:.2f}.",
        "",
    ]
    rows = [
        [r["workers"], f"{r['tiles_per_s']:.1f}", f"{r['tiles_per_s'] / fastest:.1f}x"] for r in s["rows"]
    ]
    return head + md_table(["workers", "tiles/s", "vs fastest train step"], rows) + [""]


def _scene(s: dict[str, Any]) -> list[str]:
    lines = ["## Whole scene", ""]
    if s.get("status") != "run":
        return lines + [f"{s.get('status')}.", ""]
    rows = [[k, v] for k, v in s.items() if k != "status"]
    return lines + md_table(["field", "value"], rows) + [""]


def _memory(s: dict[str, Any]) -> list[str]:
    lines = ["## Training memory (CUDA, 8 GB budget)", ""]
    if s.get("status") != "run":
        return lines + [f"{s.get('status')}.", ""]
    rows = [
        [
            r["experiment"],
            "OOM" if r["peak_bytes"] is None else f"{r['peak_bytes'] / 1e9:.2f}",
            "ok" if r["within_budget"] else "OVER",
        ]
        for r in s["rows"]
    ]
    return lines + md_table(["experiment", "peak GB", "budget"], rows) + [""]


def _cbam(s: dict[str, Any]) -> list[str]:
    lines = [
        "## CBAM: fused path vs the formula",
        "",
        "Forward + backward of one CBAM at each shape it has in cbam_everywhere: CBAM.forward "
        "(sarcomp.models.cbam_ops) against spatial(channel(x)) through autograd's generic ops.",
        "",
    ]
    rows = [
        [
            "x".join(map(str, r["shape"])),
            f"{r['formula_s'] * 1e3:.1f}",
            f"{r['fused_s'] * 1e3:.1f}",
            f"{r['speedup']:.2f}x",
        ]
        for r in s["modules"]
    ]
    lines += md_table(["input B x C x H x W", "formula ms", "fused ms", "speed-up"], rows)
    lines += ["", "torch.profiler, one training step, top operators by self CPU time (ms):", ""]
    names = list(s["profile"])
    depth = max(len(v) for v in s["profile"].values())
    rows = []
    for i in range(depth):
        row = []
        for name in names:
            ops = s["profile"][name]
            row += [ops[i]["op"], f"{ops[i]['self_cpu_ms']:.0f}"] if i < len(ops) else ["", ""]
        rows.append(row)
    header = [h for name in names for h in (f"{name} op", "ms")]
    return lines + md_table(header, rows) + [""]
