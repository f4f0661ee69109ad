"""What a model codes version-2 (portable) ``.sarc`` files with, derived from its float weights.

- the coder's tables, built bit-identically everywhere (:mod:`sarcomp.models.tables`);
- for a hyperprior, h_s as an integer network (:mod:`sarcomp.models.intnet`), whose outputs (the
  tables' indexes, and the means) are exact functions of ẑ and the float32 weights.

Nothing here is stored with the model: shipped models, run folders and checkpoints all get it at
load from the weights they already have, so their identities (names, ``model_hash``) and every
file written before stay as they were.
"""

from __future__ import annotations

from typing import Any

import torch

from sarcomp.models.intnet import IntegerHyperSynthesis
from sarcomp.models.tables import CoderTables, bottleneck_tables, gaussian_tables, scale_table


class PortableCoding:
    """A model's version-2 coding state, derived on first use from its current weights."""

    def __init__(self, model: Any):
        self.model = model
        self._tables: tuple[CoderTables, CoderTables | None] | None = None
        self._network: IntegerHyperSynthesis | None = None

    def tables(self, device: torch.device) -> tuple[CoderTables, CoderTables | None]:
        """(tables of the factorised prior of y or z, the Gaussian conditional's or None)."""
        if self._tables is None:
            hyper = self.model.entropy != "factorized"
            self._tables = (
                bottleneck_tables(self.model.entropy_bottleneck),
                gaussian_tables() if hyper else None,
            )
        z, y = self._tables
        return z.to(device), None if y is None else y.to(device)

    def network(self) -> IntegerHyperSynthesis:
        """The integer h_s (hyperpriors only)."""
        if self._network is None:
            means = self.model.entropy == "meanscale"
            self._network = IntegerHyperSynthesis(self.model.h_s, scale_table(), means)
        return self._network


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
