"""Body geometry on ``(..., V, 2)`` pixel poses: head length, torso and box sizes."""

from __future__ import annotations

import numpy as np

from posekit.skeleton.convert import convert_keypoints
from posekit.skeleton.layouts import POSETICS17, JointLayout


def _point(kpts: np.ndarray, layout: JointLayout, joint: str) -> np.ndarray:
    """``(..., 2)`` position of ``joint`` (interpolated if the layout lacks it, e.g. COCO's neck)."""
    if joint in layout.joints:
        return kpts[..., layout.index(joint), :]
    converted, _ = convert_keypoints(kpts, None, layout, POSETICS17)
    return converted[..., POSETICS17.index(joint), :]


def head_length(kpts: np.ndarray, layout: JointLayout) -> np.ndarray:
    """``(N,)`` head-neck distance in pixels (thesis 3.6.1): nose to neck (mid-shoulders when interpolated)."""
    head = kpts[..., layout.index("head" if "head" in layout.joints else "nose"), :]
    return np.linalg.norm(head - _point(kpts, layout, "neck"), axis=-1)


def torso_size(kpts: np.ndarray, layout: JointLayout) -> np.ndarray:
    """``(N,)`` torso diameter in pixels: left shoulder to right hip (the PCK torso convention)."""
    return np.linalg.norm(
        kpts[..., layout.index("left_shoulder"), :] - kpts[..., layout.index("right_hip"), :], axis=-1
    )


def box_size(boxes: np.ndarray) -> np.ndarray:
    """``(N,)`` longer side of ``(N, 4)`` xyxy boxes in pixels."""
    return np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
