"""Body geometry on ``(..., V, 2)`` pixel poses: head length, shoulder width, torso, body scale, box size.

The one place where these lengths are defined: SST-A's confidence normaliser (thesis eq. 3.4) and
its robust thresholds, PCKh and MPJPE (thesis 3.6.1), the degradation protocol's clean reference
and jitter all read them from here. Every length is float64 pixels, NaN where a joint it needs is
missing; the neck of a layout without one (COCO-17, BlazePose-33) is the midpoint of the shoulders.
"""

from __future__ import annotations

import numpy as np

from posekit.skeleton.layouts import JointLayout


def _length(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Euclidean length of ``(dx, dy)`` pixels (thesis eq. 3.2), rounded the same everywhere."""
    return np.sqrt(dx * dx + dy * dy)


def _xy(kpts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = np.asarray(kpts, dtype=np.float64)
    return k[..., 0], k[..., 1]


def head_index(layout: JointLayout) -> int:
    """The joint that stands for the head: ``head`` where the layout has one, else ``nose``."""
    return layout.index("head") if "head" in layout.joints else layout.index("nose")


def head_length_xy(x: np.ndarray, y: np.ndarray, layout: JointLayout) -> np.ndarray:
    """Head-neck distance from ``(..., V)`` x and y pixels: ``(...)`` pixels (see :func:`head_length`)."""
    h = head_index(layout)
    if "neck" in layout.joints:
        n = layout.index("neck")
        nx, ny = x[..., n], y[..., n]
    else:
        ls, rs = layout.index("left_shoulder"), layout.index("right_shoulder")
        nx, ny = (x[..., ls] + x[..., rs]) * 0.5, (y[..., ls] + y[..., rs]) * 0.5
    return _length(x[..., h] - nx, y[..., h] - ny)


def shoulder_width_xy(x: np.ndarray, y: np.ndarray, layout: JointLayout) -> np.ndarray:
    """Left to right shoulder from ``(..., V)`` x and y pixels: ``(...)`` pixels."""
    ls, rs = layout.index("left_shoulder"), layout.index("right_shoulder")
    return _length(x[..., ls] - x[..., rs], y[..., ls] - y[..., rs])


def side_torso_length_xy(x: np.ndarray, y: np.ndarray, layout: JointLayout) -> np.ndarray:
    """Shoulder to hip of the same side, the mean over the sides that have both, from ``(..., V)`` x/y pixels.

    Needs one shoulder and the hip below it, so it exists for a person seen from the side
    (one shoulder hidden), where the shoulder width and the mid-shoulder neck do not.
    """
    sides = []
    for side in ("left", "right"):
        s, h = layout.index(f"{side}_shoulder"), layout.index(f"{side}_hip")
        sides.append(_length(x[..., s] - x[..., h], y[..., s] - y[..., h]))
    left, right = sides
    both = (left + right) * 0.5
    return np.where(np.isnan(left), right, np.where(np.isnan(right), left, both))


def head_length(kpts: np.ndarray, layout: JointLayout) -> np.ndarray:
    """``(...)`` head-neck distance in pixels of ``(..., V, 2)`` poses (thesis eq. 3.4's ``D_normal``, PCKh's head).

    Head (``head`` or else ``nose``) to neck (``neck`` or else the midpoint of the shoulders).
    """
    return head_length_xy(*_xy(kpts), layout)


def shoulder_width(kpts: np.ndarray, layout: JointLayout) -> np.ndarray:
    """``(...)`` left to right shoulder distance in pixels of ``(..., V, 2)`` poses."""
    return shoulder_width_xy(*_xy(kpts), layout)


def side_torso_length(kpts: np.ndarray, layout: JointLayout) -> np.ndarray:
    """``(...)`` same-side shoulder-to-hip length in pixels of ``(..., V, 2)`` poses (:func:`side_torso_length_xy`)."""
    return side_torso_length_xy(*_xy(kpts), layout)


def torso_size(kpts: np.ndarray, layout: JointLayout) -> np.ndarray:
    """``(...)`` torso diameter in pixels: left shoulder to right hip (the PCK torso convention)."""
    x, y = _xy(kpts)
    ls, rh = layout.index("left_shoulder"), layout.index("right_hip")
    return _length(x[..., ls] - x[..., rh], y[..., ls] - y[..., rh])


def body_scale(kpts: np.ndarray, layout: JointLayout) -> np.ndarray:
    """``(...)`` body scale in pixels of ``(..., V, 2)`` poses: max(shoulder width, mid-shoulders to mid-hips).

    NaN only where both are missing. SST-A's robust thresholds take the median of it over a
    track; the degradation protocol's agreement radius and jitter use it per pose.
    """
    x, y = _xy(kpts)
    ls, rs = layout.index("left_shoulder"), layout.index("right_shoulder")
    lh, rh = layout.index("left_hip"), layout.index("right_hip")
    width = _length(x[..., ls] - x[..., rs], y[..., ls] - y[..., rs])
    mid_x = (x[..., ls] + x[..., rs]) * 0.5 - (x[..., lh] + x[..., rh]) * 0.5
    mid_y = (y[..., ls] + y[..., rs]) * 0.5 - (y[..., lh] + y[..., rh]) * 0.5
    return np.fmax(width, _length(mid_x, mid_y))


def box_size(boxes: np.ndarray) -> np.ndarray:
    """``(N,)`` longer side of ``(N, 4)`` xyxy boxes in pixels."""
    return np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
