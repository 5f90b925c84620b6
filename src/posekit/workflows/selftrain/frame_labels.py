"""Which poses of which frames become pseudo labels, and which labelled frames validate (thesis 3.3.3)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from posekit.core.errors import ConfigError
from posekit.skeleton.convert import convert_keypoints
from posekit.skeleton.layouts import COCO17, JointLayout
from posekit.skeleton.records import SkeletonClip
from posekit.workflows.selftrain.options import PseudoLabelOptions


@dataclass
class FrameLabels:
    """The labels of one sampled frame.

    Attributes:
        clip_id: the clip; ``frame_index`` its source frame number; ``t`` its position in the clip.
        keypoints: ``(P, 17, 2)`` COCO-17 pixels, NaN = missing joint.
        boxes: ``(P, 4)`` xyxy pixels (pose extent + margin, clipped).
        classes: ``(P,)`` int anchor class (filled by :func:`assign_anchor_classes`).
        ignore: ``(Q, 4)`` xyxy pixels of persons painted grey.
    """

    clip_id: str
    t: int
    frame_index: int
    keypoints: np.ndarray
    boxes: np.ndarray
    ignore: np.ndarray
    classes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def pose_boxes(keypoints: np.ndarray, width: int, height: int, margin: float = 0.10) -> np.ndarray:
    """Boxes ``(N, 4)`` xyxy pixels: each pose's extent ``(N, V, 2)`` expanded by ``margin``, clipped to the image."""
    k = np.asarray(keypoints, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanmin(k, axis=1), np.nanmax(k, axis=1)
    pad = (hi - lo) * margin / 2
    box = np.concatenate([lo - pad, hi + pad], axis=1)
    box[:, [0, 2]] = box[:, [0, 2]].clip(0, width)
    box[:, [1, 3]] = box[:, [1, 3]].clip(0, height)
    return box


def sample_positions(num_frames: int, fraction: float) -> np.ndarray:
    """Uniformly spaced positions ``0 .. num_frames - 1`` keeping ``fraction`` of them (at least one)."""
    if num_frames <= 0:
        return np.zeros(0, np.int64)
    count = max(1, round(num_frames * fraction))
    return np.unique(np.floor(np.arange(count) * (num_frames / count)).astype(np.int64))


def _gap_boxes(track, t: int) -> np.ndarray:
    """The track's box linearly interpolated at ``t`` when ``t`` falls in a gap inside the track, else empty."""
    ts = track.t
    if len(ts) < 2 or t <= ts[0] or t >= ts[-1] or np.any(ts == t):
        return np.zeros((0, 4))
    j = int(np.searchsorted(ts, t))
    a, b = ts[j - 1], ts[j]
    w = (t - a) / (b - a)
    return ((1 - w) * track.boxes[j - 1] + w * track.boxes[j])[None].astype(np.float64)


def clip_frame_labels(clip: SkeletonClip, layout: JointLayout, options: PseudoLabelOptions) -> list[FrameLabels]:
    """Labels of the uniformly sampled frames of ``clip`` that hold at least one pose with C >= gamma."""
    out = []
    for t in sample_positions(clip.num_frames, options.frame_fraction):
        kps, detected, ignore = [], [], []
        for track in clip.tracks:
            hit = np.flatnonzero(track.t == t)
            if not len(hit):
                ignore.append(_gap_boxes(track, int(t)))
                continue
            i = int(hit[0])
            kp, _ = convert_keypoints(track.keypoints[i : i + 1], None, layout, COCO17)
            c = float(track.confidence[i])
            # C is NaN with a single expert (nothing aggregated): such poses pass only at gamma 0.
            ok = (c >= options.gamma or (np.isnan(c) and options.gamma == 0)) and (
                np.isfinite(kp[0]).all(-1).sum() >= options.min_joints
            )
            if ok:
                kps.append(kp[0])
                detected.append(track.boxes[i].astype(np.float64))
            else:
                ignore.append(track.boxes[i : i + 1].astype(np.float64))
                present = np.isfinite(track.keypoints[i]).all(-1)
                if present.sum() >= 2:
                    ignore.append(pose_boxes(track.keypoints[i : i + 1], clip.width, clip.height, options.box_margin))
        if not kps:
            continue
        keypoints = np.stack(kps).astype(np.float64)
        if options.box_source == "detector":
            boxes = np.stack(detected)
            boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, clip.width)
            boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, clip.height)
        else:
            boxes = pose_boxes(keypoints, clip.width, clip.height, options.box_margin)
        out.append(
            FrameLabels(
                clip_id=clip.clip_id,
                t=int(t),
                frame_index=int(clip.frame_index[t]),
                keypoints=keypoints,
                boxes=boxes,
                ignore=np.concatenate(ignore) if ignore else np.zeros((0, 4)),
            )
        )
    return out


def split_clips(clip_ids: Sequence[str], val_fraction: float, seed: int = 0) -> tuple[set[str], set[str]]:
    """Train and validation clip ids, split by video (seeded shuffle, at least one of each)."""
    ids = sorted(set(clip_ids))
    if len(ids) < 2:
        return set(ids), set()
    order = np.random.default_rng(seed).permutation(len(ids))
    n_val = min(len(ids) - 1, max(1, round(val_fraction * len(ids))))
    val = {ids[i] for i in order[:n_val]}
    return set(ids) - val, val


def assign_splits(labels: Sequence[FrameLabels], options: PseudoLabelOptions) -> tuple[list[str], str]:
    """``split[i]`` (``"train"``/``"val"``) of each labelled frame, and how it was split.

    By video when there are two or more videos; with one video, by time span (the last
    ``val_fraction`` of its labelled frames). Raises :class:`ConfigError` when a split is empty.
    """
    clips = [lab.clip_id for lab in labels]
    train_ids, val_ids = split_clips(clips, options.val_fraction, options.seed)
    if val_ids:
        split = ["val" if lab.clip_id in val_ids else "train" for lab in labels]
        how = f"by video: {len(train_ids)} train, {len(val_ids)} val"
    else:
        n = len(labels)
        n_val = max(1, round(options.val_fraction * n)) if n >= 2 else 0
        order = np.argsort([lab.frame_index for lab in labels], kind="stable")
        split = ["train"] * n
        for i in order[n - n_val :] if n_val else []:
            split[i] = "val"
        how = "by time span (one video): the last part of the video is validation"
    n_train, n_val = split.count("train"), split.count("val")
    if n_train == 0 or n_val == 0:
        raise ConfigError(
            f"too few labelled frames for a train/val split ({n_train} train, {n_val} val from "
            f"{len(set(clips))} video(s)); raise --frame-fraction, lower --gamma or give more videos"
        )
    return split, how
