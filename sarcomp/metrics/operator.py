"""What a SAR operator measures in a decoded scene: CFAR detections and backscatter levels.

Per scene, beside the image and SAR fidelity metrics (:mod:`sarcomp.metrics.scene`), in linear
intensity over the valid pixels: detection against the reference's own detections (every scene) and
against the generator's targets (:mod:`sarcomp.metrics.detection`), and the reflectivity fidelity
(:mod:`sarcomp.metrics.reflectivity`), where the scene has ground truth beside it
(:mod:`sarcomp.data.truth`). What a scene lacks is N/A (NaN, ``null`` in JSON) with ``truth_note``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sarcomp.data.tiles import SceneImage
from sarcomp.data.truth import load_truth, targets_path
from sarcomp.metrics import reflectivity
from sarcomp.metrics.detection import REFERENCE_KEYS, TRUTH_KEYS, detection_metrics

OPERATOR_KEYS = (*REFERENCE_KEYS, *TRUTH_KEYS, *reflectivity.KEYS)


def operator_metrics(image: SceneImage, reference: np.ndarray, reconstruction: np.ndarray) -> dict[str, Any]:
    """Every operator metric of one scene; ``reference`` and ``reconstruction`` in linear intensity."""
    scene, valid = image.scene, image.valid
    truth = load_truth(scene.path, scene.sha256) if targets_path(scene.path).is_file() else None
    targets = None if truth is None else (truth.rows, truth.cols)
    out = detection_metrics(reference, reconstruction, valid, targets)
    out.update(dict.fromkeys(reflectivity.KEYS, math.nan))
    if truth is None:
        out["truth_note"] = (
            "N/A: no generator ground truth beside the scene (detection judged against the original)"
        )
    elif truth.reflectivity is None:
        out["truth_note"] = "N/A: no noise-free reflectivity (scripts/make_synthetic.py --reflectivity)"
    else:
        out.update(
            reflectivity.reflectivity_metrics(
                reference, reconstruction, truth.reflectivity, valid, scene.scaling
            )
        )
    return out
