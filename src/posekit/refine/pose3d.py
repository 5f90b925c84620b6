"""Where a skeleton track's 3D joints come from: the slot behind ``SkeletonTrack.keypoints_3d``.

A :class:`Pose3DSource` gives the 3D of each skeleton track SST-A (or the one expert) made, from what the
run holds about that person: every expert's view of the track (:class:`~posekit.refine.tracks.TrackProposals`,
3D included where an expert estimates it) and the track's own 2D joints and boxes. Whatever the source,
the result is in posekit's 3D convention (``posekit.io.schema.COORDINATES_3D``: metres, camera axes x
right / y down / z away, origin at the mid-hip) and in the run's joint layout.

The first source, :class:`ExpertWorld3D`, takes the 3D an expert estimated itself on the crop of the
tracked person: BlazePose's world landmarks (the ``mediapipe`` expert). A lifter from 2D (a VideoPose3D or
MotionBERT export run with ONNX Runtime from weights the user gives, as the MMPose ONNX experts are) is a
second kind of source: it reads ``track.keypoints`` ``(n, V, 2)`` pixels, normalised by ``track.boxes``,
over the track's frames, and needs no expert with 3D.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from posekit.refine.tracks import TrackProposals
from posekit.skeleton.records import PoseProposals, SkeletonTrack


class Pose3DSource(Protocol):
    """Gives a skeleton track its 3D joints."""

    name: str

    def track_3d(self, track: SkeletonTrack, views: TrackProposals) -> tuple[np.ndarray, np.ndarray]:
        """``(n, V, 3)`` float32 metres (NaN where missing) and ``(n, V)`` float32 scores for the ``n`` frames of
        ``track``; ``views`` holds every expert's proposals of the same person (its frames include the track's)."""
        ...


@dataclass(frozen=True)
class ExpertWorld3D:
    """The 3D that expert ``expert`` (an index into the run's experts) estimated on the tracked person's crop.

    A frame where that expert posed nobody is NaN with score 0; the 3D joint scores are the expert's own
    (BlazePose: each landmark's visibility).
    """

    expert: int
    name: str = "expert-3d"

    def track_3d(self, track: SkeletonTrack, views: TrackProposals) -> tuple[np.ndarray, np.ndarray]:
        V = track.keypoints.shape[1]
        if views.keypoints_3d is None or views.joint_scores_3d is None:
            return np.full((len(track), V, 3), np.nan, np.float32), np.zeros((len(track), V), np.float32)
        rows = np.searchsorted(views.t, track.t)
        return views.keypoints_3d[self.expert, rows], views.joint_scores_3d[self.expert, rows]


def expert_3d_source(per_expert: Sequence[Sequence[PoseProposals]]) -> ExpertWorld3D | None:
    """:class:`ExpertWorld3D` of the first expert whose proposals carry 3D joints; None when none does."""
    for m, frames in enumerate(per_expert):
        if any(props.has_3d for props in frames):
            return ExpertWorld3D(m)
    return None
