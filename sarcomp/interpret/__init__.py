"""See where the codec looks: attention maps, channel weights, self-attention weights,
Grad-CAM (plain and augmented) for distortion or rate, RISE, bits maps, and a GAP + CAM probe."""

from sarcomp.interpret.bits import bits_and_error
from sarcomp.interpret.gradcam import (
    DistortionTarget,
    RateTarget,
    augmented_grad_cam,
    grad_cam,
    straight_through,
)
from sarcomp.interpret.hooks import Recording, query_attention, record_gates
from sarcomp.interpret.rise import rise, rise_masks

__all__ = [
    "DistortionTarget",
    "RateTarget",
    "Recording",
    "augmented_grad_cam",
    "bits_and_error",
    "grad_cam",
    "query_attention",
    "record_gates",
    "rise",
    "rise_masks",
    "straight_through",
]
