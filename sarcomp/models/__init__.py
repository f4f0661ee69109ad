"""Codec models and the attention modules they place."""

from sarcomp.models.attention import build_attention
from sarcomp.models.autoencoder import PLACEMENTS, SARCodec
from sarcomp.models.channel_groups import ChannelGroupsLatentCodec  # registers model.entropy=elic
from sarcomp.models.checkerboard import CheckerboardLatentCodec  # registers model.entropy=checkerboard

__all__ = ["PLACEMENTS", "ChannelGroupsLatentCodec", "CheckerboardLatentCodec", "SARCodec", "build_attention"]
