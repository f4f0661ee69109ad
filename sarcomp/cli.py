"""The one way entry points report expected errors: ``error: <message>`` on stderr, exit 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

from sarcomp.errors import SarcompError

_T = TypeVar("_T")


def run_cli(
    fn: Callable[..., _T], *args: Any, on_error: Callable[[], None] | None = None, **kwargs: Any
) -> _T:
    """``fn(*args, **kwargs)``; a :class:`SarcompError` becomes one stderr line and exit status 2.

    ``on_error`` runs first (e.g. removing a half-made run folder).
    """
    try:
        return fn(*args, **kwargs)
    except SarcompError as exc:
        if on_error is not None:
            on_error()
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
