"""Person slots ``(M, T, V, C)`` -> skeleton tracks: the shape every imported format shares."""

from __future__ import annotations

import numpy as np

from posekit.skeleton.records import SkeletonClip, SkeletonTrack


def clip_from_slots(
    clip_id: str,
    keypoints: np.ndarray,
    scores: np.ndarray,
    *,
    width: int,
    height: int,
    fps: float,
    keypoints_3d: np.ndarray | None = None,
    scores_3d: np.ndarray | None = None,
    box_scores: np.ndarray | None = None,
    keep_empty: bool = False,
    source: str = "",
) -> SkeletonClip:
    """One track per person slot ``m``, on the frames where the slot has a joint (2D or 3D).

    Args:
        keypoints: ``(M, T, V, 2)`` pixels, NaN = missing joint.
        scores: ``(M, T, V)`` joint scores.
        keypoints_3d: ``(M, T, V, 3)`` in the dataset's 3D convention, NaN = missing; None without 3D.
        scores_3d: ``(M, T, V)`` scores of the 3D joints (default: ``scores``).
        box_scores: ``(M, T)`` person scores; NaN (unknown) by default, so every track has the same
            presence and the main-persons order is the slot order.
        keep_empty: keep slots with no joint at all as empty tracks (a pyskl round trip keeps ``M``).
        source: ``video_path`` of the clip (the file it came from).

    Boxes are the extent of the finite 2D joints (NaN when none); ``joint_source`` is 0 (the
    dataset's own poses) where a joint is present.
    """
    M, T = keypoints.shape[:2]
    has_2d = np.isfinite(keypoints).all(-1)
    present = has_2d.any(-1)
    if keypoints_3d is not None:
        present |= np.isfinite(keypoints_3d).all(-1).any(-1)
    tracks = []
    for m in range(M):
        t = np.flatnonzero(present[m]).astype(np.int32)
        if not len(t) and not keep_empty:
            continue
        kp = keypoints[m, t].astype(np.float32)
        lo, hi = np.fmin.reduce(kp, axis=1), np.fmax.reduce(kp, axis=1)
        kp3 = None if keypoints_3d is None else keypoints_3d[m, t].astype(np.float32)
        sc3 = None if kp3 is None else (scores if scores_3d is None else scores_3d)[m, t].astype(np.float32)
        tracks.append(
            SkeletonTrack(
                track_id=m,
                t=t,
                keypoints=kp,
                joint_scores=scores[m, t].astype(np.float32),
                joint_source=np.where(has_2d[m, t], 0, -1).astype(np.int8),
                boxes=np.concatenate([lo, hi], axis=1).astype(np.float32),
                box_scores=(np.full(len(t), np.nan) if box_scores is None else box_scores[m, t]).astype(np.float32),
                confidence=np.full(len(t), np.nan, np.float32),
                keypoints_3d=kp3,
                joint_scores_3d=sc3,
            )
        )
    return SkeletonClip(
        clip_id=clip_id,
        video_path=source,
        width=int(width),
        height=int(height),
        fps=float(fps),
        frame_index=np.arange(T, dtype=np.int32),
        timestamp=np.arange(T, dtype=np.float64) / fps,
        tracks=tracks,
    )


def zeros_to_nan(keypoints: np.ndarray, scores: np.ndarray | None = None) -> np.ndarray:
    """``(..., V, C)`` float32 with NaN where a joint is all zeros (and its score, if given, is 0).

    The zero-filled convention of the NTU arrays, pyskl and ST-GCN: a joint at the origin with no score is
    a missing joint; one with a score is kept where it is.
    """
    kp = np.array(keypoints, dtype=np.float32)
    missing = (kp == 0).all(-1)
    if scores is not None:
        missing &= np.asarray(scores) == 0
    kp[missing] = np.nan
    return kp
