"""Plain-text result tables for the terminal and Markdown."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

DEFAULT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("name", "model", "s"),
    ("params", "params", ",d"),
    ("bpp", "bpp", ".4f"),
    ("psnr", "PSNR dB", ".2f"),
    ("ssim", "SSIM", ".4f"),
    ("ms_ssim", "MS-SSIM", ".4f"),
    ("rmse_db", "RMSE dB", ".3f"),
    ("enl_ratio", "ENL ratio", ".3f"),
    ("epi", "EPI", ".3f"),
    ("encode_ms", "enc ms", ".1f"),
    ("decode_ms", "dec ms", ".1f"),
)


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "N/A"
    return format(value, fmt)


def payload_label(p: dict[str, Any]) -> str:
    """A result's name with what distinguishes it: λ and seed, or the classic codec's parameter."""
    if p.get("codec") == "learned":
        return f"{p['name']} λ={p.get('lmbda', math.nan):g} seed={p.get('seed')}"
    if "param" in p:
        return f"{p['name']} {p.get('param_name', 'param')}={p['param']:g}"
    if p.get("kind") == "matched":
        return f"{p['name']} @ rates of {p.get('matched_to', '?')}"
    return str(p["name"])


def summary_rows(payloads: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per result: its label, parameter count and mean metrics (per-scene ms)."""
    return [{"name": payload_label(p), "params": p.get("params"), **p["mean"]} for p in payloads]


def format_table(rows: Sequence[dict[str, Any]], columns=DEFAULT_COLUMNS, markdown: bool = False) -> str:
    """Aligned text table (or a Markdown table) of ``rows`` with (key, header, format) columns."""
    header = [title for _, title, _ in columns]
    body = [[_cell(r.get(key), fmt) for key, _, fmt in columns] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body])
    widths = [max(len(x) for x in col) for col in zip(header, *body)]

    def fmt_line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([fmt_line(header), fmt_line(["-" * w for w in widths])] + [fmt_line(b) for b in body])
