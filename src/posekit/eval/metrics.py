"""Pose quality metrics on arrays (thesis 3.6.1 and the usual 2D-pose protocols).

Poses are ``(N, V, 2)`` pixels with NaN for missing joints. A ground-truth joint that is
NaN is not scored; a predicted joint that is NaN where the ground truth has one counts as
wrong in PCK and is left out of MPJPE (report completeness beside it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from posekit.skeleton.geometry import head_length
from posekit.skeleton.layouts import JointLayout


def joint_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``(N, V)`` Euclidean distance (eq. 3.2) per joint; NaN where either side is missing."""
    return np.linalg.norm(pred - gt, axis=-1)


def pck(pred: np.ndarray, gt: np.ndarray, scale: np.ndarray, alpha: float) -> float:
    """Fraction of ground-truth joints predicted within ``alpha * scale`` pixels of it.

    ``scale`` is ``(N,)`` per pose (head length for PCKh, torso or box size for PCK).
    Poses whose scale is missing or zero are not scored.
    """
    err = joint_errors(pred, gt)
    scored = ~np.isnan(gt).any(-1) & (np.isfinite(scale) & (scale > 0))[:, None]
    if not scored.any():
        return float("nan")
    correct = np.nan_to_num(err, nan=np.inf) <= alpha * scale[:, None]
    return float((correct & scored).sum() / scored.sum())


def pckh(pred: np.ndarray, gt: np.ndarray, layout: JointLayout, alpha: float = 0.5) -> float:
    """PCKh@alpha: threshold ``alpha`` times the ground-truth head length (thesis: 0.5 and 2.0)."""
    return pck(pred, gt, head_length(gt, layout), alpha)


def mpjpe_normalised(pred: np.ndarray, gt: np.ndarray, layout: JointLayout) -> float:
    """Mean per-joint position error divided by the ground-truth head length (thesis 3.6.1)."""
    err = joint_errors(pred, gt) / head_length(gt, layout)[:, None]
    return float(np.nanmean(err)) if np.isfinite(err).any() else float("nan")


def completeness(keypoints: np.ndarray, joints: Sequence[int] | None = None) -> float:
    """Fraction of joints present (not NaN) in ``(..., V, 2)`` poses, optionally over ``joints`` only."""
    x = np.asarray(keypoints)
    if joints is not None:
        x = x[..., list(joints), :]
    return float(np.isfinite(x).all(-1).mean()) if x.size else float("nan")


def jitter(keypoints: np.ndarray, scale: float | np.ndarray) -> float:
    """Temporal jitter of ``(..., T, V, 2)`` tracks: mean acceleration norm / body scale.

    Acceleration is the second difference over consecutive frames, per joint, counted where
    the joint is present in all three frames; ``scale`` is pixels, a scalar or one per track.
    """
    x = np.asarray(keypoints, dtype=np.float64)
    accel = x[..., 2:, :, :] - 2.0 * x[..., 1:-1, :, :] + x[..., :-2, :, :]
    value = np.linalg.norm(accel, axis=-1) / np.asarray(scale, dtype=np.float64)[..., None, None]
    return float(np.nanmean(value)) if np.isfinite(value).any() else float("nan")
