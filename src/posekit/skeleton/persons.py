"""The main persons of a clip: the one rule that orders a clip's tracks, actors first.

Extraction's ``--max-persons``, :meth:`~posekit.skeleton.records.SkeletonClip.to_array` (hence the
UNIK reader), every export and dataset build take persons in this order. A track's weight sums, over
the frames it is present, how large and how central its person is, and grows with how much its joints
move:

``weight = sum_t size_t * (1 + centrality_t) / 2 * (1 + motion)``

- ``size_t``: the box height over the frame height (clipped to 1): near, full-size people first;
- ``centrality_t``: 1 at the frame centre, 0 at a corner (box centre's distance over half the diagonal);
- presence: the sum runs over the frames present, so a person seen throughout outranks a passer-by;
- ``motion``: the track's median joint speed, in box heights per second, capped at 1: performers
  outrank a still spectator of the same size.

The sum of box scores (the former rule) ranks any long, confidently detected person first, a seated
spectator as much as an actor; box area x frames ranked a box covering two people first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from posekit.skeleton.records import SkeletonTrack

MOTION_CAP = 1.0
"""Joint speed (box heights per second) at and above which a track gets the full motion bonus (x2)."""


def track_motion(track: SkeletonTrack, fps: float) -> float:
    """Median speed of a track's joints between consecutive frames, in box heights per second (0 if unknown).

    ``track.keypoints`` ``(n, V, 2)`` pixels, ``track.t`` ``(n,)`` frame positions, ``fps`` frames per second.
    """
    if len(track) < 2:
        return 0.0
    steps = np.diff(track.t).astype(np.float64)
    moved = np.linalg.norm(np.diff(track.keypoints.astype(np.float64), axis=0), axis=-1)  # (n - 1, V) pixels
    height = (track.boxes[1:, 3] - track.boxes[1:, 1]).astype(np.float64)
    speed = moved / (steps * np.where(height > 0, height, np.nan))[:, None] * (fps if fps > 0 else 30.0)
    speed = speed[np.isfinite(speed)]
    return float(np.median(speed)) if speed.size else 0.0


def actor_weight(track: SkeletonTrack, width: int, height: int, fps: float) -> float:
    """A track's weight among its clip's persons (module docstring); ``width``, ``height`` the frame's pixels."""
    boxes = np.nan_to_num(track.boxes.astype(np.float64))  # (n, 4) xyxy pixels
    size = ((boxes[:, 3] - boxes[:, 1]) / max(height, 1)).clip(0, 1)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2 - np.array([width, height]) / 2
    half_diagonal = max(np.hypot(width, height) / 2, 1.0)
    centrality = 1 - (np.linalg.norm(centre, axis=1) / half_diagonal).clip(0, 1)
    motion = min(track_motion(track, fps), MOTION_CAP) / MOTION_CAP
    return float((size * (1 + centrality) / 2).sum() * (1 + motion))


def rank_persons(tracks: Sequence[SkeletonTrack], width: int, height: int, fps: float) -> list[int]:
    """Indices of ``tracks``, main person first (:func:`actor_weight`; ties to the lower track id)."""
    weights = [actor_weight(track, width, height, fps) for track in tracks]
    return sorted(range(len(tracks)), key=lambda i: (-weights[i], tracks[i].track_id))
