"""Pose quality metrics and evaluation protocols."""

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
