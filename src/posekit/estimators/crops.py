"""Person crops for top-down experts: a box -> an upscaled square crop, and back."""

from __future__ import annotations

import cv2
import numpy as np


def crop_transform(box: np.ndarray, scale: float, size: int) -> np.ndarray:
    """``(2, 3)`` affine map from frame pixels to a ``size x size`` crop.

    The crop is the square around the box centre whose side is ``scale`` times the box's
    longer side, so the whole person fits whatever the aspect ratio.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1, 1.0) * scale
    s = size / side
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return np.array([[s, 0.0, size / 2 - s * cx], [0.0, s, size / 2 - s * cy]], dtype=np.float64)


def crop_person(frame: np.ndarray, box: np.ndarray, scale: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(size, size, 3)`` crop of ``frame`` around ``box`` and the affine used to make it."""
    M = crop_transform(box, scale, size)
    crop = cv2.warpAffine(frame, M, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return crop, M


def crop_to_frame(points: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Map ``(..., 2)`` crop pixels back to frame pixels through the inverse of ``M``."""
    s, tx, ty = M[0, 0], M[0, 2], M[1, 2]
    out = np.empty_like(points, dtype=np.float32)
    out[..., 0] = (points[..., 0] - tx) / s
    out[..., 1] = (points[..., 1] - ty) / s
    return out
