"""Person crops for top-down experts: a box -> an upscaled crop at a model's aspect ratio, and back."""

from __future__ import annotations

import cv2
import numpy as np


def crop_transform(box: np.ndarray, scale: float, width: int, height: int | None = None) -> np.ndarray:
    """``(2, 3)`` affine map from frame pixels to a ``width x height`` crop (square when ``height`` is None).

    The box (xyxy pixels) is enlarged by ``scale`` and then widened or heightened to the crop's aspect
    ratio, so the whole person fits undistorted whatever the box's shape; the box centre maps to the
    crop centre. For a square crop the side is ``scale`` times the box's longer side.
    """
    height = width if height is None else height
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = max(x2 - x1, 1.0) * scale, max(y2 - y1, 1.0) * scale
    aspect = width / height
    if w > h * aspect:
        h = w / aspect
    else:
        w = h * aspect
    s = width / w
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return np.array([[s, 0.0, width / 2 - s * cx], [0.0, s, height / 2 - s * cy]], dtype=np.float64)


def crop_person(
    frame: np.ndarray, box: np.ndarray, scale: float, width: int, height: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(height, width, 3)`` crop of ``frame`` around ``box`` (zeros outside the frame) and the affine used."""
    M = crop_transform(box, scale, width, height)
    size = (width, width if height is None else height)
    return cv2.warpAffine(frame, M, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT), M


def crop_to_frame(points: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Map ``(..., 2)`` crop pixels back to frame pixels through the inverse of ``M`` (float32; NaN stays NaN)."""
    s, tx, ty = M[0, 0], M[0, 2], M[1, 2]
    out = np.empty_like(points, dtype=np.float32)
    out[..., 0] = (points[..., 0] - tx) / s
    out[..., 1] = (points[..., 1] - ty) / s
    return out
