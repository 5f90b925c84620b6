"""Pose quality metrics and evaluation protocols.

``metrics`` (pure array metrics), ``degrade`` (seeded degradations), ``reference`` (clean
reference and per-frame matching), ``protocol`` (the degradation protocol), ``coco`` (scoring
against COCO-keypoints ground truth) and ``plots`` (thesis Fig. 3.7/3.8).
"""

from posekit.eval.metrics import (
    box_size,
    completeness,
    head_length,
    jitter,
    joint_errors,
    mpjpe_normalised,
    pck,
    pckh,
    torso_size,
)

__all__ = [
    "box_size",
    "completeness",
    "head_length",
    "jitter",
    "joint_errors",
    "mpjpe_normalised",
    "pck",
    "pckh",
    "torso_size",
]
