"""Reference poses and per-frame scoring against them (docs/design.md "Quality and performance are measured").

Two kinds of reference are scored the same way here:

- human ground truth (COCO-keypoints JSON, :mod:`posekit.eval.coco`);
- the *clean reference* of the degradation protocol (:func:`build_reference`): the experts
  run on clean frames, and a joint is kept only where at least two experts agree on it.
  Scores against it measure **agreement with a clean reference, never accuracy against
  human labels**: the reference inherits the experts' shared mistakes, it leaves out the
  joints they disagree on (often the hard ones), and experts that agree with each other on
  clean frames are favoured by construction.

Poses are flat sets of person-frames (:class:`PoseSet`), ``(N, V, 2)`` pixels with NaN for
missing joints. Predicted persons are matched to reference persons frame by frame with the
Hungarian algorithm (``scipy.optimize.linear_sum_assignment``), then the thesis' metrics
(3.6.1: PCKh, MPJPE normalised by head length) and PCK, completeness and person recall are
computed over every reference person (an unmatched one counts as all joints missing).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from posekit.core.options import check_bounds
from posekit.eval.metrics import jitter, joint_errors, mpjpe_normalised, pck, pckh
from posekit.refine.tracks import stack_tracks
from posekit.skeleton.geometry import body_scale, box_size, head_length, torso_size
from posekit.skeleton.layouts import JointLayout
from posekit.skeleton.records import PoseProposals, SkeletonTrack


@dataclass(frozen=True)
class PoseSet:
    """Persons of a clip's ``num_frames`` frames, flat and sorted by frame.

    Attributes:
        t: ``(N,)`` int64 frame position (``0 .. num_frames - 1``), non-decreasing.
        keypoints: ``(N, V, 2)`` float64 pixels; NaN = missing joint.
        boxes: ``(N, 4)`` float64 xyxy pixels; NaN where unknown.
        track_id: ``(N,)`` int64; -1 where unknown.
        confidence: ``(N,)`` float64 SST-A confidence C (eq. 3.4); NaN where not aggregated.
        support: ``(N, V)`` int64 number of experts behind each joint (reference) or 0.
        num_frames: frames of the clip.
        layout: joint layout of ``keypoints``.
    """

    t: np.ndarray
    keypoints: np.ndarray
    boxes: np.ndarray
    track_id: np.ndarray
    confidence: np.ndarray
    support: np.ndarray
    num_frames: int
    layout: JointLayout

    def __len__(self) -> int:
        return len(self.t)

    def frame_bounds(self) -> np.ndarray:
        """``(num_frames + 1,)``: persons of frame ``t`` are ``bounds[t]:bounds[t + 1]``."""
        return np.searchsorted(self.t, np.arange(self.num_frames + 1), side="left")

    def select(self, index: np.ndarray) -> PoseSet:
        """The person-frames at ``index`` (sorted integer array or boolean mask)."""
        return PoseSet(
            self.t[index],
            self.keypoints[index],
            self.boxes[index],
            self.track_id[index],
            self.confidence[index],
            self.support[index],
            self.num_frames,
            self.layout,
        )


def make_pose_set(
    t: np.ndarray,
    keypoints: np.ndarray,
    num_frames: int,
    layout: JointLayout,
    *,
    boxes: np.ndarray | None = None,
    track_id: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
    support: np.ndarray | None = None,
) -> PoseSet:
    """A :class:`PoseSet` from unsorted person-frames (stable sort by ``t``); optional fields default to unknown."""
    t = np.asarray(t, dtype=np.int64).reshape(-1)
    N, V = len(t), layout.num_joints
    kp = np.asarray(keypoints, dtype=np.float64).reshape(N, V, 2)
    if N and (t.min() < 0 or t.max() >= num_frames):
        raise ValueError(f"frame positions must be in 0..{num_frames - 1}")
    order = np.argsort(t, kind="stable")

    def col(value, shape, fill, dtype):
        return (np.full(shape, fill, dtype) if value is None else np.asarray(value, dtype).reshape(shape))[order]

    return PoseSet(
        t[order],
        kp[order],
        col(boxes, (N, 4), np.nan, np.float64),
        col(track_id, (N,), -1, np.int64),
        col(confidence, (N,), np.nan, np.float64),
        col(support, (N, V), 0, np.int64),
        int(num_frames),
        layout,
    )


def poses_from_tracks(tracks: Sequence[SkeletonTrack], num_frames: int, layout: JointLayout) -> PoseSet:
    """Flatten skeleton tracks (one expert's or SST-A's) into a :class:`PoseSet`."""
    V = layout.num_joints
    if not tracks:
        return make_pose_set(np.zeros(0), np.zeros((0, V, 2)), num_frames, layout)
    return make_pose_set(
        np.concatenate([tr.t for tr in tracks]),
        np.concatenate([tr.keypoints for tr in tracks]),
        num_frames,
        layout,
        boxes=np.concatenate([tr.boxes for tr in tracks]),
        track_id=np.concatenate([np.full(len(tr), tr.track_id) for tr in tracks]),
        confidence=np.concatenate([tr.confidence for tr in tracks]),
    )


def _nanmedian(x: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(x, axis=axis)


def _nanmean(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=axis)


def consensus_joints(
    proposals: np.ndarray, scale: np.ndarray, agree: float = 0.2, min_experts: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Joints at least ``min_experts`` experts agree on, per pose: ``(keypoints, support)``.

    ``proposals`` ``(M, N, V, 2)`` pixels (NaN = the expert has no joint), ``scale`` ``(N,)``
    body scale in pixels. Per joint, the closest pair of experts (eq. 3.1's ``t = 0`` rule,
    eq. 3.2 distance) must lie within ``agree * scale`` of each other; the joint is then the
    mean of every expert within ``agree * scale`` of that pair's midpoint, and ``support``
    counts them. Returns ``(N, V, 2)`` float64 pixels (NaN where fewer than ``min_experts``
    agree or the scale is unknown) and ``(N, V)`` int64 support (0 there).
    """
    x = np.asarray(proposals, dtype=np.float64)
    M, N, V, _ = x.shape
    out = np.full((N, V, 2), np.nan)
    support = np.zeros((N, V), np.int64)
    if N == 0 or min_experts > M or M < 2:
        return out, support
    thr = (agree * np.asarray(scale, dtype=np.float64))[:, None]
    ii, jj = np.triu_indices(M, 1)
    d = np.linalg.norm(x[ii] - x[jj], axis=-1)
    d = np.where(np.isnan(d), np.inf, d)
    best = d.argmin(0)
    dbest = np.take_along_axis(d, best[None], 0)[0]
    a = np.take_along_axis(x, ii[best][None, ..., None], 0)[0]
    b = np.take_along_axis(x, jj[best][None, ..., None], 0)[0]
    mid = (a + b) / 2
    near = np.linalg.norm(x - mid[None], axis=-1) <= thr[None]
    count = near.sum(0)
    ok = (dbest <= thr) & (count >= min_experts)
    mean = np.where(near[..., None], x, 0.0).sum(0) / np.maximum(count, 1)[..., None]
    out[ok] = mean[ok]
    support[ok] = count[ok]
    return out, support


@dataclass(frozen=True)
class ReferenceOptions:
    """How the clean reference is built from the experts' clean-frame proposals.

    Two experts agree on a joint within ``agree`` body scales (:func:`~posekit.skeleton.geometry.body_scale`,
    max(shoulder width, torso length); 0.2 is about half a head length, the PCKh@0.5 radius).
    """

    agree: float = field(
        default=0.2,
        metadata={"help": "Reference joints: experts agree within this many body scales.", "min": 0, "min_open": True},
    )
    min_experts: int = field(
        default=2, metadata={"help": "Experts that must agree on a reference joint.", "min": 2, "flag": "--ref-experts"}
    )
    min_joints: int = field(
        default=4,
        metadata={
            "help": "Person-frames with fewer agreed joints stay out of the reference.",
            "min": 1,
            "flag": "--ref-min-joints",
        },
    )

    def __post_init__(self) -> None:
        check_bounds(self)


def build_reference(
    per_expert: Sequence[Sequence[PoseProposals]],
    layout: JointLayout,
    options: ReferenceOptions = ReferenceOptions(),
    min_joint_score: float = 0.3,
) -> PoseSet:
    """The clean reference: per frame, the tracked persons' joints that experts agree on.

    ``per_expert[m][t]`` are expert ``m``'s proposals on clean frame ``t``, in ``layout``,
    with the track ids the extraction pipeline gave (so the experts' views of one person
    are already associated); joints scored below ``min_joint_score`` count as missing. The
    body scale of a person-frame is the median over experts of :func:`~posekit.skeleton.geometry.body_scale`. Boxes
    are those of the first expert that saw the person.
    """
    T = max((len(frames) for frames in per_expert), default=0)
    V = layout.num_joints
    parts: list[tuple[np.ndarray, ...]] = []
    for stack in stack_tracks(per_expert, min_joint_score):
        scale = _nanmedian(body_scale(stack.keypoints, layout), axis=0)
        kp, support = consensus_joints(stack.keypoints, scale, options.agree, options.min_experts)
        keep = (support > 0).sum(1) >= options.min_joints
        if keep.any():
            tid = np.full(int(keep.sum()), stack.track_id)
            parts.append((stack.t[keep], kp[keep], stack.boxes[keep], tid, support[keep]))
    if not parts:
        return make_pose_set(np.zeros(0), np.zeros((0, V, 2)), T, layout)
    t, kp, boxes, tid, support = (np.concatenate(p) for p in zip(*parts))
    return make_pose_set(t, kp, T, layout, boxes=boxes, track_id=tid, support=support)


def person_size(keypoints: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``(N,)`` pixels: the longer side of each box, or of the keypoints' extent where the box is unknown."""
    k = np.asarray(keypoints, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        extent = np.nanmax(k, axis=1) - np.nanmin(k, axis=1)
    size = box_size(np.asarray(boxes, dtype=np.float64))
    return np.where(np.isfinite(size) & (size > 0), size, np.fmax(extent[:, 0], extent[:, 1]))


def match_cost(pred: np.ndarray, ref: np.ndarray, ref_size: np.ndarray) -> np.ndarray:
    """``(P, R)`` cost in [0, 1] of matching predicted ``(P, V, 2)`` to reference ``(R, V, 2)`` poses.

    Mean over the reference's joints of ``min(D / (size / 2), 1)`` (eq. 3.2 distance, half the
    reference person's size, ``(R,)`` pixels); a missing predicted joint costs 1. A cost below 1
    means at least one joint within half a body of the reference.
    """
    p = np.asarray(pred, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    present = np.isfinite(r).all(-1)
    d = np.linalg.norm(p[:, None] - r[None], axis=-1) / (0.5 * np.asarray(ref_size, dtype=np.float64))[None, :, None]
    term = np.where(np.isfinite(d), np.minimum(d, 1.0), 1.0)
    count = present.sum(-1)
    cost = np.where(present[None], term, 0.0).sum(-1) / np.maximum(count, 1)[None]
    return np.where(count[None] > 0, cost, 1.0)


def match_frame(pred: np.ndarray, ref: np.ndarray, ref_size: np.ndarray) -> np.ndarray:
    """For each reference pose, the index of its matched predicted pose (Hungarian on :func:`match_cost`), or -1.

    Pairs whose cost is 1 (no joint within half a body) are not matched. Returns ``(R,)`` int64.
    """
    from scipy.optimize import linear_sum_assignment

    out = np.full(len(ref), -1, np.int64)
    if len(pred) == 0 or len(ref) == 0:
        return out
    cost = match_cost(pred, ref, ref_size)
    rows, cols = linear_sum_assignment(cost)
    ok = cost[rows, cols] < 1.0
    out[cols[ok]] = rows[ok]
    return out


def match_poses(pred: PoseSet, ref: PoseSet) -> np.ndarray:
    """``(len(ref),)`` int64: the person-frame of ``pred`` matched to each of ``ref`` (same frame), or -1."""
    if pred.num_frames != ref.num_frames:
        raise ValueError(f"pose sets cover {pred.num_frames} and {ref.num_frames} frames")
    out = np.full(len(ref), -1, np.int64)
    size = person_size(ref.keypoints, ref.boxes)
    pb, rb = pred.frame_bounds(), ref.frame_bounds()
    for t in np.unique(ref.t):
        p0, p1, r0, r1 = pb[t], pb[t + 1], rb[t], rb[t + 1]
        local = match_frame(pred.keypoints[p0:p1], ref.keypoints[r0:r1], size[r0:r1])
        out[r0:r1] = np.where(local >= 0, local + p0, -1)
    return out


@dataclass(frozen=True)
class ScoreOptions:
    """Metric settings: PCKh@``pckh_alpha`` (thesis 3.6.1) and PCK@``pck_alpha`` of ``pck_scale``."""

    pckh_alpha: float = field(
        default=0.5, metadata={"help": "PCKh threshold, in head lengths (thesis 3.6.1).", "min": 0, "min_open": True}
    )
    pck_alpha: float = field(
        default=0.2, metadata={"help": "PCK threshold, in units of --pck-scale.", "min": 0, "min_open": True}
    )
    pck_scale: Literal["torso", "box"] = field(
        default="torso",
        metadata={"help": "PCK unit: torso (left shoulder to right hip of the reference) or box (its longer side)."},
    )

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass
class Matched:
    """Reference poses and the predictions matched to them, pooled over frames and clips.

    Attributes:
        ref: ``(N, V, 2)`` reference poses, pixels.
        pred: ``(N, V, 2)`` matched predictions, all-NaN where no prediction matched.
        ref_boxes: ``(N, 4)`` reference boxes (NaN where unknown).
        confidence: ``(N,)`` C of the matched prediction (NaN if unmatched or not aggregated).
        matched: ``(N,)`` bool.
        predicted: predicted person-frames seen (matched or not).
    """

    ref: np.ndarray
    pred: np.ndarray
    ref_boxes: np.ndarray
    confidence: np.ndarray
    matched: np.ndarray
    predicted: int = 0


def pair_up(pred: PoseSet, ref: PoseSet) -> Matched:
    """Match ``pred`` to ``ref`` frame by frame and line the matched poses up with the reference."""
    idx = match_poses(pred, ref)
    hit = idx >= 0
    kp = np.full(ref.keypoints.shape, np.nan)
    kp[hit] = pred.keypoints[idx[hit]]
    conf = np.full(len(ref), np.nan)
    conf[hit] = pred.confidence[idx[hit]]
    return Matched(ref.keypoints, kp, ref.boxes, conf, hit, len(pred))


def concat_matched(parts: Sequence[Matched], layout: JointLayout) -> Matched:
    """Pool several :class:`Matched` (clips, videos) into one."""
    V = layout.num_joints
    if not parts:
        e = np.zeros((0, V, 2))
        return Matched(e, e.copy(), np.zeros((0, 4)), np.zeros(0), np.zeros(0, bool), 0)
    return Matched(
        np.concatenate([p.ref for p in parts]),
        np.concatenate([p.pred for p in parts]),
        np.concatenate([p.ref_boxes for p in parts]),
        np.concatenate([p.confidence for p in parts]),
        np.concatenate([p.matched for p in parts]),
        sum(p.predicted for p in parts),
    )


def pose_errors(pred: np.ndarray, ref: np.ndarray, layout: JointLayout) -> np.ndarray:
    """``(N,)`` per-pose MPJPE normalised by the reference head length (thesis 3.6.1); NaN where undefined."""
    err = joint_errors(np.asarray(pred, np.float64), np.asarray(ref, np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        err = err / head_length(np.asarray(ref, np.float64), layout)[:, None]
    err[~np.isfinite(err)] = np.nan
    return _nanmean(err, axis=1) if err.size else np.zeros(len(err))


def confidence_error_pairs(m: Matched, layout: JointLayout) -> tuple[np.ndarray, np.ndarray]:
    """``(C, error)`` of every matched prediction with a confidence (Fig. 3.7/3.8 data): two ``(K,)`` arrays."""
    err = pose_errors(m.pred, m.ref, layout)
    ok = m.matched & np.isfinite(m.confidence) & np.isfinite(err)
    return m.confidence[ok], err[ok]


def summarise(m: Matched, layout: JointLayout, options: ScoreOptions = ScoreOptions()) -> dict[str, float]:
    """Pooled scores of predictions against the reference.

    Keys: ``pckh`` (PCKh@alpha, %), ``pck`` (PCK@alpha, torso or box, %), ``mpjpe`` (per-joint
    error / head length, over predicted joints only), ``completeness`` (% of reference joints
    that have a prediction), ``recall`` (% of reference persons matched), ``ref_persons``,
    ``matched``, ``pred_persons`` (predicted person-frames), ``mean_c`` (mean C of matched
    aggregated poses; NaN for a single expert).
    """
    ref, pred = m.ref, m.pred
    present = np.isfinite(ref).all(-1)
    n = len(ref)
    scale = torso_size(ref, layout) if options.pck_scale == "torso" else person_size(ref, m.ref_boxes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = {
            "pckh": 100 * pckh(pred, ref, layout, options.pckh_alpha) if n else float("nan"),
            "pck": 100 * pck(pred, ref, scale, options.pck_alpha) if n else float("nan"),
            "mpjpe": mpjpe_normalised(pred, ref, layout) if n else float("nan"),
        }
    got = np.isfinite(pred).all(-1) & present
    out["completeness"] = 100 * got.sum() / present.sum() if present.any() else float("nan")
    out["recall"] = 100 * m.matched.mean() if n else float("nan")
    out["ref_persons"] = float(n)
    out["matched"] = float(m.matched.sum())
    out["pred_persons"] = float(m.predicted)
    c = m.confidence[m.matched]
    out["mean_c"] = float(_nanmean(c)) if np.isfinite(c).any() else float("nan")
    return out


def dense_tracks(poses: PoseSet) -> tuple[np.ndarray, np.ndarray]:
    """Per-track poses on the full frame axis: ``(K, T, V, 2)`` pixels (NaN where absent) and ``(K,)`` ids.

    Person-frames without a track id (-1) are left out.
    """
    ids = np.unique(poses.track_id[poses.track_id >= 0])
    out = np.full((len(ids), poses.num_frames, poses.layout.num_joints, 2), np.nan)
    rows = poses.track_id >= 0
    k = np.searchsorted(ids, poses.track_id[rows])
    out[k, poses.t[rows]] = poses.keypoints[rows]
    return out, ids


def track_jitter(poses: PoseSet) -> float:
    """Temporal jitter of the tracks of ``poses``: mean acceleration / track body scale
    (median of :func:`~posekit.skeleton.geometry.body_scale`).

    Counted where a joint is present in three consecutive frames (:func:`posekit.eval.metrics.jitter`).
    """
    dense, ids = dense_tracks(poses)
    if not len(ids):
        return float("nan")
    scale = _nanmedian(body_scale(dense, poses.layout), axis=1)
    scale = np.where(scale > 0, scale, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return jitter(dense, scale)
