"""sarcomp: learned compression of SAR images with attention-augmented autoencoders.

``sarcomp.compress``, ``sarcomp.decompress`` and ``sarcomp.load_model`` (:mod:`sarcomp.api`) are
imported on first use, so ``import sarcomp`` stays light (no torch until something is coded).
"""

import warnings
from typing import Any

# compressai calls torch.jit.script at import time and torch 2.14 warns about it on every start;
# filtered here, at the package's first import, so no import order lets it reach stderr.
warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)

__version__ = "0.1.0"
__all__ = ["compress", "decompress", "load_model"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sarcomp import api

        return getattr(api, name)
    raise AttributeError(f"module 'sarcomp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
