"""Portable (version-2) and float (version-1) coding.

A model codes version-2 ``.sarc`` files with what its latent codec
(:mod:`sarcomp.models.latent_codecs`) derives from its float weights:

- the coder's tables, built bit-identically everywhere (:mod:`sarcomp.models.tables`);
- every network whose outputs select tables (a hyperprior's h_s, a context model's parameter
  network) as an integer network (:mod:`sarcomp.models.intnet`), whose outputs (the tables'
  indexes, and the means) are exact functions of the decoded symbols and the float32 weights.

Nothing of it is stored with the model: shipped models, run folders and checkpoints all get it at
load from the weights they already have, so their identities (names, ``model_hash``) and every
file written before stay as they were. :class:`FloatPath` codes by the float path instead.
"""

from __future__ import annotations

from typing import Any

import torch


class FloatPath:
    """A codec that compresses and decompresses by its float path (``portable=False``): how
    version-1 files were coded, for code that calls ``compress`` / ``decompress`` without it."""

    def __init__(self, model: Any):
        self.model, self.stride = model, model.stride

    def compress(self, x: torch.Tensor, lmbda: float | None = None) -> dict[str, Any]:
        return self.model.compress(x, lmbda, portable=False)

    def decompress(
        self, strings: list, shape: Any, lmbda: float | None = None, portable: bool = False
    ) -> dict:
        return self.model.decompress(strings, shape, lmbda, portable=False)
