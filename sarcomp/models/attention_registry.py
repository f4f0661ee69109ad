"""The attention registry: names to module classes, ``build_attention(name, channels, **kwargs)``.

The built-in modules register themselves in :mod:`sarcomp.models.attention` (gated, STN) and
:mod:`sarcomp.models.attention_family`; import :mod:`sarcomp.models.attention` to have them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import nn

_REGISTRY: dict[str, type[nn.Module]] = {}
_M = TypeVar("_M", bound=type[nn.Module])


def register_attention(name: str) -> Callable[[_M], _M]:
    """Class decorator: make ``build_attention(name, channels, ...)`` construct the class."""

    def register(cls: _M) -> _M:
        if name in _REGISTRY:
            raise ValueError(f"attention {name!r} is already registered ({_REGISTRY[name].__name__})")
        _REGISTRY[name] = cls
        return cls

    return register


def attention_names() -> tuple[str, ...]:
    """Registered attention names, sorted."""
    return tuple(sorted(_REGISTRY))


def attention_classes() -> dict[str, type[nn.Module]]:
    """Registered attention classes by name."""
    return dict(_REGISTRY)


def check_attention_name(name: str) -> None:
    """Raise ``ValueError`` listing the valid names if ``name`` is not registered."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown attention {name!r}; valid: {', '.join(attention_names())}")


def build_attention(name: str, channels: int, **kwargs) -> nn.Module:
    """Build the attention module registered as ``name`` for ``channels`` input channels.

    ``kwargs`` go to the module's constructor. Raises ``ValueError`` for an unknown name
    (the message lists the valid ones) or a non-positive channel count.
    """
    check_attention_name(name)
    if channels < 1:
        raise ValueError(f"attention {name!r} needs channels >= 1, got {channels}")
    return _REGISTRY[name](channels, **kwargs)
