"""User-facing errors: expected problems with input, reported as one line, never a traceback."""

from __future__ import annotations


class SarcompError(Exception):
    """An expected problem with the user's input or configuration.

    Entry points catch it and print ``error: <message>`` on one line with a non-zero exit.
    The message names the file (or config key) and the problem.
    """


class RasterError(SarcompError):
    """A raster cannot be read or holds nothing usable."""


class BitstreamError(SarcompError):
    """Compressed bytes are corrupted or do not match the model."""
