"""K-means anchor poses of the pseudo labels (thesis 3.3.3): each label's class is its nearest anchor pose.

Poses are compared normalised to their box (origin at the box's top-left corner, divided by its longer side),
by the mean distance over their present joints.
"""

from __future__ import annotations

import warnings

import numpy as np

from posekit.core.errors import ConfigError


def normalise_to_box(keypoints: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Poses ``(N, V, 2)`` pixels -> box frame: origin at the top-left corner, unit = the box's longer side."""
    b = np.asarray(boxes, np.float64)
    side = np.maximum(np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]), 1e-6)
    return (np.asarray(keypoints, np.float64) - b[:, None, :2]) / side[:, None, None]


def pose_distance(poses: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """``(N, B)`` mean distance over each pose's present joints between poses ``(N, V, 2)`` and anchors ``(B, V, 2)``.

    This is the (dis)similarity ``S`` of thesis 3.3.3 on box-normalised poses; missing joints take no part.
    """
    d = np.linalg.norm(np.asarray(poses)[:, None] - np.asarray(anchors)[None], axis=-1)
    present = np.isfinite(d)
    count = present.sum(-1)
    return np.where(count > 0, np.where(present, d, 0.0).sum(-1) / np.maximum(count, 1), np.inf)


def fit_anchor_poses(poses: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """``(k, V, 2)`` K-means anchor poses of box-normalised poses ``(N, V, 2)`` (NaN = missing).

    Missing joints are filled with the mean of that joint over all poses before clustering
    (``scipy.cluster.vq.kmeans2``, k-means++ seeding, fixed seed). ``k = 1`` is the mean pose.
    """
    x = np.asarray(poses, np.float64)
    N, V, _ = x.shape
    if k > N:
        raise ConfigError(
            f"only {N} pose(s) pass the confidence filter, fewer than the {k} anchor poses asked for; "
            "lower --anchor-classes or --gamma, or raise --frame-fraction"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(x, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.5)
    filled = np.where(np.isfinite(x), x, mean[None]).reshape(N, V * 2)
    if k == 1:
        return filled.mean(0).reshape(1, V, 2)
    from scipy.cluster.vq import kmeans2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an empty cluster is re-seeded by the next iteration's assignment
        centroids, _ = kmeans2(filled, k, iter=50, minit="++", seed=np.random.default_rng(seed))
    return centroids.reshape(k, V, 2)


def assign_anchor_classes(poses: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """``(N,)`` class of each box-normalised pose: the nearest anchor by :func:`pose_distance`."""
    if len(poses) == 0:
        return np.zeros(0, np.int64)
    return pose_distance(poses, anchors).argmin(1).astype(np.int64)
