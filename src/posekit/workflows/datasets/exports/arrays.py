"""A clip's persons as fixed-shape arrays, main person first (:mod:`posekit.skeleton.persons`): the input of the
pyskl and NTU exports."""

from __future__ import annotations

import numpy as np

from posekit.skeleton.convert import convert_keypoints
from posekit.skeleton.layouts import JointLayout
from posekit.skeleton.records import SkeletonClip


def person_arrays(
    clip: SkeletonClip, src: JointLayout, dst: JointLayout, max_persons: int | None = None, coords: str = "2d"
) -> tuple[np.ndarray, np.ndarray]:
    """``(M, T, V, 2)`` float32 pixels (``coords="3d"``: ``(M, T, V, 3)`` of ``keypoints_3d``) and ``(M, T, V)``
    float32 scores of the clip's tracks, main person first (all tracks when ``max_persons`` is None; at least
    one, all zero, without any); missing joints are 0 with score 0."""
    M = max(1, len(clip.tracks) if max_persons is None else max_persons)
    D = 3 if coords == "3d" else 2
    arr = clip.to_array(max_persons=M, with_scores=True, coords=coords).transpose(3, 1, 2, 0)  # (M, T, V, D + 1)
    if arr.shape[2] == 0:
        arr = np.full((M, clip.num_frames, src.num_joints, D + 1), np.nan, np.float32)
    kp, sc = convert_keypoints(arr[..., :D], arr[..., D], src, dst)
    missing = np.isnan(kp).any(-1) | np.isnan(sc)
    kp = np.where(missing[..., None], 0.0, kp).astype(np.float32)
    sc = np.where(missing, 0.0, sc).astype(np.float32)
    return kp, sc


def box_score_array(clip: SkeletonClip, max_persons: int | None = None) -> np.ndarray:
    """``(M, T)`` float32 person-box scores in the person order of :func:`person_arrays`; 0 where absent."""
    M = max(1, len(clip.tracks) if max_persons is None else max_persons)
    out = np.zeros((M, clip.num_frames), np.float32)
    for m, track in enumerate(clip.main_persons(M)):
        out[m, track.t] = np.nan_to_num(track.box_scores)
    return out
