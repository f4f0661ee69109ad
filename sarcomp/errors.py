"""User-facing errors: expected problems with input, reported as one line, never a traceback."""

from __future__ import annotations

import re

# How torch's DataLoader re-raises an error from a worker: the same class, constructed with
# "Caught X in DataLoader worker process N.\nOriginal Traceback ...\n<module>.X: <message>".
_WORKER_WRAPPED = re.compile(r"^Caught \w+ in DataLoader worker process \d+\.\nOriginal Traceback")


class SarcompError(Exception):
    """An expected problem with the user's input or configuration.

    Entry points catch it and print ``error: <message>`` on one line with a non-zero exit.
    The message names the file (or config key) and the problem. When a DataLoader worker
    raises one, torch re-raises it in the main process with the worker's traceback as the
    message; the original one-line message is recovered from it here.
    """

    def __init__(self, message: str = ""):
        message = str(message)
        if _WORKER_WRAPPED.match(message):
            message = _original_message(message)
        super().__init__(message)


def _original_message(wrapped: str) -> str:
    """The last line of a worker traceback, without its ``module.Class: `` prefix."""
    lines = [line for line in wrapped.splitlines() if line.strip()]
    last = lines[-1] if lines else wrapped
    return re.sub(r"^[\w.]+(Error|Exception): ", "", last, count=1)


class RasterError(SarcompError):
    """A raster cannot be read or holds nothing usable."""


class BitstreamError(SarcompError):
    """Compressed bytes are corrupted or do not match the model."""
