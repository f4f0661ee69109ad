"""Codec models and the attention modules they place."""

from sarcomp.models.attention import build_attention
from sarcomp.models.autoencoder import PLACEMENTS, SARCodec

__all__ = ["PLACEMENTS", "SARCodec", "build_attention"]
