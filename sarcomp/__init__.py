"""sarcomp: learned compression of SAR images with attention-augmented autoencoders."""

import warnings

# compressai calls torch.jit.script at import time and torch 2.14 warns about it on every start;
# filtered here, at the package's first import, so no import order lets it reach stderr.
warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)

__version__ = "0.1.0"
