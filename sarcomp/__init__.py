"""sarcomp: learned compression of SAR images with attention-augmented autoencoders."""

__version__ = "0.1.0"
