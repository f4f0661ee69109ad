"""Codec models and the attention modules they place."""

import warnings

# compressai calls torch.jit.script at import time; torch 2.14 warns about it on every start.
warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)

from sarcomp.models.attention import build_attention  # noqa: E402
from sarcomp.models.autoencoder import PLACEMENTS, SARCodec  # noqa: E402

__all__ = ["PLACEMENTS", "SARCodec", "build_attention"]
