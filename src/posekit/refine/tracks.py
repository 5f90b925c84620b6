"""From per-expert, per-frame proposals to per-track proposal stacks, and SST-A over them.

The extraction pipeline gives every expert's persons the track id of the person they were
associated with. Here the experts' views of one track are stacked into ``(M, n, V, 2)``
arrays (NaN where an expert saw nothing), SST-A aggregates them, and eq. 3.3 keeps the
frames whose confidence C reaches gamma; a 3D source (:mod:`posekit.refine.pose3d`) then gives each
skeleton track its 3D joints. The person filters of :class:`TrackFilterOptions` then
drop short tracks and keep a clip's main persons. Every pose left out is counted by its reason
(:data:`DROP_REASONS`, :data:`TRACK_DROP_REASONS`), so nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from posekit.core.boxes import box_iou
from posekit.core.options import check_bounds
from posekit.refine.ssta import AggregationOptions, aggregate
from posekit.skeleton.layouts import JointLayout
from posekit.skeleton.persons import rank_persons
from posekit.skeleton.records import PoseProposals, SkeletonTrack

if TYPE_CHECKING:
    from posekit.refine.pose3d import Pose3DSource


@dataclass
class TrackProposals:
    """Every expert's view of one person track, on the ``n`` frames where any expert saw them.

    Attributes:
        track_id: the track's id.
        t: ``(n,)`` int32 positions in the clip's frame list.
        keypoints: ``(M, n, V, 2)`` float32 pixels; NaN where expert ``m`` has no joint.
        joint_scores: ``(M, n, V)`` float32; NaN where expert ``m`` has no joint.
        boxes: ``(n, 4)`` float32 xyxy pixels, from the first expert (in order) that saw the person.
        box_scores: ``(n,)`` float32, from the same expert.
        keypoints_3d: ``(M, n, V, 3)`` float32 metres, NaN where expert ``m`` gave no 3D joint; None when no
            expert of the run gives 3D.
        joint_scores_3d: ``(M, n, V)`` float32 score of each 3D joint, 0 where none; None with ``keypoints_3d``.
    """

    track_id: int
    t: np.ndarray
    keypoints: np.ndarray
    joint_scores: np.ndarray
    boxes: np.ndarray
    box_scores: np.ndarray
    keypoints_3d: np.ndarray | None = None
    joint_scores_3d: np.ndarray | None = None


def stack_tracks(per_expert: Sequence[Sequence[PoseProposals]], min_joint_score: float = 0.0) -> list[TrackProposals]:
    """Group ``per_expert[m][t]`` proposals by track id into per-track stacks, sorted by id.

    Joints an expert scores below ``min_joint_score`` are treated as missing. Persons
    without a track (id -1) are left out. 3D joints are stacked whole when any expert gives them, not
    thresholded: an expert that estimates 3D places every joint, its score travels with it.
    """
    M = len(per_expert)
    seen: dict[int, set[int]] = {}
    for frames in per_expert:
        for t, props in enumerate(frames):
            for tid in props.track_ids[props.track_ids >= 0]:
                seen.setdefault(int(tid), set()).add(t)
    if not seen:
        return []
    V = next(p.layout.num_joints for frames in per_expert for p in frames)
    with_3d = any(p.has_3d for frames in per_expert for p in frames)
    stacks = []
    for tid in sorted(seen):
        ts = np.array(sorted(seen[tid]), np.int32)
        where = {int(t): i for i, t in enumerate(ts)}
        n = len(ts)
        kpts = np.full((M, n, V, 2), np.nan, np.float32)
        scores = np.full((M, n, V), np.nan, np.float32)
        boxes = np.full((n, 4), np.nan, np.float32)
        box_scores = np.full(n, np.nan, np.float32)
        kpts_3d = np.full((M, n, V, 3), np.nan, np.float32) if with_3d else None
        scores_3d = np.zeros((M, n, V), np.float32) if with_3d else None
        for m, frames in enumerate(per_expert):
            for t in ts:
                props = frames[t]
                hits = np.flatnonzero(props.track_ids == tid)
                if not len(hits):
                    continue
                i, p = where[int(t)], hits[0]
                kpts[m, i] = props.keypoints[p]
                scores[m, i] = props.joint_scores[p]
                if kpts_3d is not None and props.has_3d:
                    kpts_3d[m, i], scores_3d[m, i] = props.keypoints_3d[p], props.joint_scores_3d[p]
                if np.isnan(box_scores[i]):
                    boxes[i], box_scores[i] = props.boxes[p], props.scores[p]
        low = ~(scores >= min_joint_score)
        kpts[low] = np.nan
        scores[low] = np.nan
        stacks.append(TrackProposals(tid, ts, kpts, scores, boxes, box_scores, kpts_3d, scores_3d))
    return stacks


STITCH_MIN_IOU = 0.3
"""Least IoU between a fragment's last box and the next fragment's first box for :func:`stitch_tracks`."""


def stitch_map(stacks: Sequence[TrackProposals], max_gap: int) -> dict[int, int]:
    """Track fragments of one person, as ``{later id: first id}``: a track starting at most ``max_gap`` frames
    after another ended, whose first box overlaps that one's last box (:data:`STITCH_MIN_IOU`), continues it.

    Fragments are taken in order of their first frame; each continues the ended track whose last box it
    overlaps most. ``max_gap`` 0 joins nothing.
    """
    joined: dict[int, int] = {}
    if max_gap < 1:
        return joined
    ends: list[tuple[int, int, np.ndarray]] = []  # (first id, last frame, last box) of each person so far
    for part in sorted(stacks, key=lambda s: (int(s.t[0]), s.track_id)):
        ended = [k for k, (_, last, _) in enumerate(ends) if 0 < part.t[0] - last <= max_gap]
        iou = box_iou(part.boxes[:1], np.array([ends[k][2] for k in ended]).reshape(-1, 4))[0]
        best = ended[int(np.argmax(iou))] if len(ended) and iou.max() >= STITCH_MIN_IOU else None
        if best is None:
            ends.append((part.track_id, int(part.t[-1]), part.boxes[-1]))
            continue
        joined[part.track_id] = ends[best][0]
        ends[best] = (ends[best][0], int(part.t[-1]), part.boxes[-1])
    return joined


def stitch_track_ids(per_expert: Sequence[Sequence[PoseProposals]], max_gap: int) -> dict[int, int]:
    """Give the fragments of one person (:func:`stitch_map`) its first id in every expert's ``per_expert[m][t]``
    proposals, in place, so that skeletons and proposals shards agree; returns ``{later id: first id}``."""
    joined = stitch_map(stack_tracks(per_expert), max_gap)
    if joined:
        for frames in per_expert:
            for props in frames:
                props.track_ids = np.array([joined.get(int(i), int(i)) for i in props.track_ids], np.int32)
    return joined


MAX_BATCH_TRACK_FRAMES = 1 << 16
"""Track-frames per SST-A batch: tracks are padded to the longest of their batch, so batches
group tracks of similar length and memory stays bounded whatever the video's length."""


def length_batches(lengths: Sequence[int], budget: int = MAX_BATCH_TRACK_FRAMES) -> list[list[int]]:
    """Indices of tracks grouped by similar length so that ``len(batch) * longest <= budget``
    (a single longer track gets a batch of its own)."""
    batches: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda k: lengths[k]):
        if batches and (len(batches[-1]) + 1) * lengths[i] <= budget:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


DROP_REASONS = ("below_gamma", "too_few_joints", "no_joints")
"""Why a person-frame of a track is not in its skeleton track: C < gamma (eq. 3.3); C undefined
(no joint of eq. 3.4's subset, or none of head-neck, shoulders, torso to normalise by); no
expert gave a joint above ``min_joint_score``."""


@dataclass
class RefinedTracks:
    """The skeleton tracks of a clip and the person-frames left out.

    Attributes:
        tracks: the skeleton tracks, in track-id order; tracks with no frame kept are left out.
        dropped: person-frames left out, by reason (every key of :data:`DROP_REASONS`).
    """

    tracks: list[SkeletonTrack]
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))

    @property
    def poses(self) -> int:
        """Person-frames kept."""
        return sum(len(track) for track in self.tracks)


def _count_dropped(dropped: dict[str, int], seen: np.ndarray, confidence: np.ndarray, keep: np.ndarray) -> None:
    """Add the ``(n,)`` frames not kept to ``dropped`` by reason; ``seen`` marks frames with any joint."""
    lost = ~keep
    dropped["no_joints"] += int((lost & ~seen).sum())
    dropped["too_few_joints"] += int((lost & seen & np.isnan(confidence)).sum())
    dropped["below_gamma"] += int((lost & seen & ~np.isnan(confidence)).sum())


def expert_agreement(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How many experts give each joint, and how many posed the person, of a ``(M, n, V, 2)`` pixel stack.

    Returns ``claimed`` ``(n, V)`` int (experts with the joint) and ``posing`` ``(n,)`` int (experts with any
    joint of the person on the frame).
    """
    present = ~np.isnan(keypoints).any(-1)  # (M, n, V)
    return present.sum(0), present.any(-1).sum(0)


PARTIAL_VIEW_SHARE = 0.5
"""A pose is a partial view when the experts agree (two or more) on at most this share of its layout's joints."""


def lone_joints(claimed: np.ndarray, posing: np.ndarray) -> np.ndarray:
    """``(n, V)`` bool: joints one expert alone gives on partial views that other experts posed.

    ``claimed`` ``(n, V)`` and ``posing`` ``(n,)`` as :func:`expert_agreement` gives them. On a partial view
    (the experts agree on some joints, at most :data:`PARTIAL_VIEW_SHARE` of them) a joint only one expert
    gives is one the others looked for and did not find: an always-on landmark model placing a face on a
    view of legs. On a fuller view a joint only one expert finds is more often an occluded joint the others
    missed (on gt-dev's crowded images, dropping those lowered OKS AP), and is kept.
    """
    agreed = (claimed >= 2).sum(-1)
    partial = (agreed >= 1) & (agreed <= PARTIAL_VIEW_SHARE * claimed.shape[-1]) & (posing >= 2)
    return (claimed == 1) & partial[:, None]


def agreed_joints(
    keypoints: np.ndarray, source: np.ndarray, scores: np.ndarray, proposals: np.ndarray, rule: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An aggregated pose's joints and scores after the ``lone_joints`` rule (:class:`AggregationOptions`).

    ``keypoints`` ``(n, V, 2)`` pixels, ``source`` ``(n, V)`` int, ``scores`` ``(n, V)`` of the source expert,
    ``proposals`` the ``(M, n, V, 2)`` experts' pixels. ``keep`` returns them as given; ``drop`` makes
    :func:`lone_joints` (those of partial views) missing (NaN, source -1); ``score`` keeps every joint and
    divides the score of one that only one of several posing experts gives by their number (the share that
    found it). Scaling scores is not the default: with the same joints it lowered SST-A's gt-dev OKS AP (the
    person ranking: box score x mean joint score).
    """
    if rule == "keep":
        return keypoints, source, scores
    claimed, posing = expert_agreement(proposals)
    if rule == "score":
        alone = (claimed == 1) & (posing >= 2)[:, None]
        return keypoints, source, np.where(alone, scores / np.maximum(posing, 1)[:, None], scores)
    lone = lone_joints(claimed, posing)
    return (
        np.where(lone[..., None], np.nan, keypoints),
        np.where(lone, -1, source),
        np.where(lone, np.nan, scores),
    )


def aggregate_tracks(
    stacks: Sequence[TrackProposals], layout: JointLayout, options: AggregationOptions
) -> RefinedTracks:
    """SST-A on every track, batched; each skeleton track keeps the frames with C >= gamma.

    The joint score of an aggregated joint is the score its source expert gave it (NaN for
    joints filled by interpolation), then the ``lone_joints`` rule (:func:`agreed_joints`) applies to the poses
    SST-A kept; ``joint_source`` indexes the experts.
    """
    out = RefinedTracks([])
    kept: dict[int, SkeletonTrack] = {}
    for group in length_batches([len(s.t) for s in stacks]):
        batch = [stacks[i] for i in group]
        for i, track in zip(group, _aggregate_batch(batch, layout, options, out.dropped)):
            if track is not None:
                kept[i] = track
    out.tracks = [kept[i] for i in sorted(kept)]
    return out


def _aggregate_batch(
    stacks: Sequence[TrackProposals], layout: JointLayout, options: AggregationOptions, dropped: dict[str, int]
) -> list[SkeletonTrack | None]:
    M, V = stacks[0].keypoints.shape[0], stacks[0].keypoints.shape[2]
    n_max = max(len(s.t) for s in stacks)
    batch = np.full((len(stacks), M, n_max, V, 2), np.nan, np.float32)
    scores = np.full((len(stacks), M, n_max, V), np.nan, np.float32)
    for b, s in enumerate(stacks):
        batch[b, :, : len(s.t)] = s.keypoints
        scores[b, :, : len(s.t)] = s.joint_scores
    result = aggregate(batch, options, scores=scores, layout=layout)
    tracks: list[SkeletonTrack | None] = []
    for b, s in enumerate(stacks):
        n = len(s.t)
        keep = result.keep[b, :n]
        _count_dropped(dropped, ~np.isnan(s.keypoints).all((0, 2, 3)), result.confidence[b, :n], keep)
        if not keep.any():
            tracks.append(None)
            continue
        source = result.source[b, :n][keep]
        picked = np.clip(source, 0, M - 1).astype(np.intp)
        scores = np.take_along_axis(s.joint_scores[:, keep].transpose(1, 2, 0), picked[..., None], axis=-1)[..., 0]
        scores = np.where(source >= 0, scores, np.nan)
        kpts, source, scores = agreed_joints(
            result.keypoints[b, :n][keep], source, scores, s.keypoints[:, keep], options.lone_joints
        )
        tracks.append(
            SkeletonTrack(
                track_id=s.track_id,
                t=s.t[keep],
                keypoints=kpts.astype(np.float32),
                joint_scores=scores.astype(np.float32),
                joint_source=source.astype(np.int8),
                boxes=s.boxes[keep],
                box_scores=s.box_scores[keep],
                confidence=result.confidence[b, :n][keep].astype(np.float32),
                normaliser=result.normaliser[b, :n][keep],
            )
        )
    return tracks


def single_expert_tracks(stacks: Sequence[TrackProposals]) -> RefinedTracks:
    """Skeleton tracks straight from one expert (``M = 1``): no aggregation, C is NaN.

    Frames where the expert placed no joint of the person are left out (``no_joints``).
    """
    out = RefinedTracks([])
    for s in stacks:
        present = ~np.isnan(s.keypoints[0]).any(-1)
        seen = present.any(-1)
        out.dropped["no_joints"] += int((~seen).sum())
        if not seen.any():
            continue
        out.tracks.append(
            SkeletonTrack(
                track_id=s.track_id,
                t=s.t[seen],
                keypoints=s.keypoints[0][seen],
                joint_scores=s.joint_scores[0][seen],
                joint_source=np.where(present[seen], 0, -1).astype(np.int8),
                boxes=s.boxes[seen],
                box_scores=s.box_scores[seen],
                confidence=np.full(int(seen.sum()), np.nan, np.float32),
            )
        )
    return out


def skeleton_tracks(
    per_expert: Sequence[Sequence[PoseProposals]],
    layout: JointLayout,
    options: AggregationOptions,
    min_joint_score: float = 0.0,
    source_3d: Pose3DSource | None = None,
) -> RefinedTracks:
    """The skeleton tracks of a clip: SST-A when there are several experts, else the one expert's; with
    ``source_3d``, each track's ``keypoints_3d`` / ``joint_scores_3d`` from it."""
    stacks = stack_tracks(per_expert, min_joint_score)
    one = len(per_expert) == 1
    refined = single_expert_tracks(stacks) if one else aggregate_tracks(stacks, layout, options)
    if source_3d is not None:
        views = {s.track_id: s for s in stacks}
        for track in refined.tracks:
            track.keypoints_3d, track.joint_scores_3d = source_3d.track_3d(track, views[track.track_id])
    return refined


TRACK_DROP_REASONS = ("short_track", "beyond_max_persons")
"""Why :func:`filter_tracks` left out the person-frames of a whole track: it had fewer frames than
``min_track_frames``; it ranked below the clip's ``max_persons`` main persons."""


@dataclass(frozen=True)
class TrackFilterOptions:
    """Which skeleton tracks of a clip are kept, after SST-A (or the one expert) made them.

    The main persons of a clip are ranked by the one main-persons rule (:mod:`posekit.skeleton.persons`: size,
    centrality, presence and motion), the order every export and the UNIK reader use too.
    """

    min_track_frames: int = field(
        default=1, metadata={"help": "Drop tracks present on fewer frames than this (1: keep every track).", "min": 1}
    )
    max_persons: int | None = field(
        default=None,
        metadata={
            "help": "Keep the N main persons of each clip, ranked by size, centrality, presence and motion "
            "(default: all).",
            "min": 1,
        },
    )

    def __post_init__(self) -> None:
        check_bounds(self)

    @property
    def active(self) -> bool:
        """Whether these options can drop a track (the defaults keep every one)."""
        return self.min_track_frames > 1 or self.max_persons is not None


def filter_tracks(
    refined: RefinedTracks, options: TrackFilterOptions, width: int, height: int, fps: float
) -> RefinedTracks:
    """Drop the tracks shorter than ``min_track_frames``, then keep the ``max_persons`` main ones
    (:func:`~posekit.skeleton.persons.rank_persons` in a ``width`` x ``height`` pixel frame at ``fps``); the
    tracks kept stay in track-id order.

    With options that can drop a track, ``dropped`` gains every key of :data:`TRACK_DROP_REASONS` (person-frames
    of the tracks left out); with the defaults the result is ``refined`` unchanged.
    """
    if not options.active:
        return refined
    dropped = {**refined.dropped, **dict.fromkeys(TRACK_DROP_REASONS, 0)}
    long_enough = []
    for track in refined.tracks:
        if len(track) < options.min_track_frames:
            dropped["short_track"] += len(track)
        else:
            long_enough.append(track)
    kept = long_enough
    if options.max_persons is not None and len(long_enough) > options.max_persons:
        ranked = rank_persons(long_enough, width, height, fps)
        main = set(ranked[: options.max_persons])
        kept = [track for i, track in enumerate(long_enough) if i in main]
        dropped["beyond_max_persons"] += sum(len(track) for i, track in enumerate(long_enough) if i not in main)
    return replace(refined, tracks=kept, dropped=dropped)
