"""The refine half of the clip pipeline: every expert's proposals of one clip -> its tracked skeleton clip.

:class:`ClipProposals` is the one representation of what the experts saw in a clip: extraction's ``propose`` step
gives it, the proposals shards store it row by row (:meth:`ClipProposals.expert_frames`) and give it back
(:meth:`ClipProposals.from_expert_frames`), and the degradation protocol scores it. :func:`refine_clip` is the one
way to a skeleton clip from it: SST-A (thesis 3.3.2, or the one expert), the 3D source, then the person filters,
with every person-frame left out counted by its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from posekit.core.errors import ShardError
from posekit.refine.pose3d import expert_3d_source
from posekit.refine.ssta import AggregationOptions
from posekit.refine.tracks import TrackFilterOptions, filter_tracks, skeleton_tracks
from posekit.skeleton.layouts import JointLayout
from posekit.skeleton.records import ExpertFrame, PoseProposals, SkeletonClip


@dataclass
class ClipProposals:
    """Every expert's proposals in every frame of one clip, in the run's layout, with the tracker's ids.

    Attributes:
        clip_id, video_path, width, height: the clip, its source and its frame size (pixels).
        fps: the mean rate of the frames taken (frames/s).
        frame_index: ``(T,)`` int32 index of each frame in its source.
        timestamp: ``(T,)`` float64 seconds of each frame.
        layout: the joint layout of every proposal.
        experts: the experts' names, in run order.
        per_expert: ``per_expert[m][t]``: expert ``experts[m]``'s proposals in frame ``t`` (track id -1: not
            tracked).
        dropped: person-frames the tracker left out before refining, by reason (``merged_box``).
        seconds: what proposing took (decoding and every model).
    """

    clip_id: str
    video_path: str
    width: int
    height: int
    fps: float
    frame_index: np.ndarray
    timestamp: np.ndarray
    layout: JointLayout
    experts: tuple[str, ...]
    per_expert: list[list[PoseProposals]]
    dropped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def num_frames(self) -> int:
        return len(self.frame_index)

    def of_expert(self, m: int) -> ClipProposals:
        """Expert ``experts[m]``'s proposals alone (the same lists, not copies)."""
        return replace(self, experts=(self.experts[m],), per_expert=[self.per_expert[m]])

    def expert_frames(self) -> list[ExpertFrame]:
        """One row per expert and frame, as the proposals shards store them."""
        return [
            ExpertFrame(
                self.clip_id,
                self.video_path,
                self.width,
                self.height,
                self.fps,
                name,
                t,
                int(self.frame_index[t]),
                float(self.timestamp[t]),
                props,
            )
            for name, frames in zip(self.experts, self.per_expert)
            for t, props in enumerate(frames)
        ]

    @classmethod
    def from_expert_frames(
        cls, frames: Sequence[ExpertFrame], layout: JointLayout, experts: tuple[str, ...]
    ) -> ClipProposals:
        """The clip of ``frames`` (its rows of a proposals shard, ``experts`` as the shard names them); a frame
        no row covers for an expert is empty for it."""
        T = max(f.t for f in frames) + 1
        empty = PoseProposals.empty(layout)
        per_expert = {name: [empty] * T for name in experts}
        frame_index = np.zeros(T, np.int32)
        timestamp = np.zeros(T, np.float64)
        for f in frames:
            if f.expert not in per_expert:
                raise ShardError(
                    f"proposals of clip {f.clip_id!r} name expert {f.expert!r}, absent from the shard metadata"
                )
            per_expert[f.expert][f.t] = f.proposals
            frame_index[f.t], timestamp[f.t] = f.frame_index, f.timestamp
        first = frames[0]
        return cls(
            first.clip_id,
            first.video_path,
            first.width,
            first.height,
            first.fps,
            frame_index,
            timestamp,
            layout,
            tuple(experts),
            list(per_expert.values()),
        )


def refine_clip(
    proposals: ClipProposals,
    aggregation: AggregationOptions,
    min_joint_score: float,
    tracks: TrackFilterOptions,
    with_3d: bool = True,
) -> tuple[SkeletonClip, dict[str, int]]:
    """The skeleton clip of ``proposals`` and its person-frames left out, by reason.

    SST-A aggregates the experts' views of each track (eq. 3.1-3.4, the eq. 3.3 filter; one expert's poses are its
    skeletons); with ``with_3d``, an expert's own 3D joints go to its tracks
    (:func:`~posekit.refine.pose3d.expert_3d_source`); then :func:`~posekit.refine.tracks.filter_tracks` applies the
    person filters ``tracks``. ``dropped`` holds :data:`~posekit.refine.tracks.DROP_REASONS`, the tracker's own
    (``proposals.dropped``) and, when ``tracks`` can drop one, :data:`~posekit.refine.tracks.TRACK_DROP_REASONS`.
    """
    source_3d = expert_3d_source(proposals.per_expert) if with_3d else None
    refined = skeleton_tracks(proposals.per_expert, proposals.layout, aggregation, min_joint_score, source_3d)
    refined.dropped.update(proposals.dropped)
    refined = filter_tracks(refined, tracks, proposals.width, proposals.height, proposals.fps)
    clip = SkeletonClip(
        clip_id=proposals.clip_id,
        video_path=proposals.video_path,
        width=proposals.width,
        height=proposals.height,
        fps=proposals.fps,
        frame_index=proposals.frame_index,
        timestamp=proposals.timestamp,
        tracks=refined.tracks,
    )
    return clip, refined.dropped
