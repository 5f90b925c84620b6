"""Scoring skeleton shards against COCO-keypoints ground truth (thesis 3.6.1 metrics).

Ground truth is a COCO-keypoints JSON file (``images``, ``annotations``, optionally
``categories``): 17 keypoints per person in COCO order as ``[x, y, v] * 17`` pixels, ``v = 0``
meaning not labelled (not scored); ``v = 1`` and ``v = 2`` are both scored. Crowd annotations
(``iscrowd = 1``) and annotations without labelled keypoints are ignored.

**Which shard frame an image is.** Each COCO image names a ``(clip, frame)`` pair:

1. image fields ``clip_id`` and ``frame_index``, when present (``frame_index`` is the frame
   number in the source video, as in the shards' ``frame_index`` column); else
2. its ``file_name`` read as ``{clip}/{frame:06d}.jpg``: the folder part is the clip and the
   file stem the frame number (``walk/a/000042.jpg`` -> clip ``walk/a``, frame 42).

The clip matches a shard clip whose ``clip_id`` equals it, or equals it once the video
extension is dropped (clip ``walk/a`` matches ``walk/a.mp4``). The frame must be one of the
clip's sampled frames (with ``posekit extract --fps``, label sampled frames only). Images
that match no shard frame are counted and reported, not scored.

Per image, predicted persons are matched to ground-truth persons with the Hungarian
algorithm (:func:`posekit.eval.reference.match_frame`); a ground-truth person left unmatched
counts as all joints missing. Shards in another layout than COCO-17 are scored on the joints
of their layout, the ground truth being converted to it (e.g. the Posetics neck becomes the
mid-shoulders of the labelled shoulders).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from posekit.core.errors import ConfigError
from posekit.eval.reference import (
    Matched,
    PoseSet,
    ScoreOptions,
    concat_matched,
    confidence_error_pairs,
    make_pose_set,
    pair_up,
    poses_from_tracks,
    summarise,
)
from posekit.io.shards import iter_skeleton_clips
from posekit.skeleton.convert import convert_keypoints
from posekit.skeleton.layouts import COCO17, JointLayout
from posekit.skeleton.records import SkeletonClip

GtFrame = tuple[np.ndarray, np.ndarray]
"""One image's persons: ``(P, 17, 2)`` float64 pixels (NaN = not labelled) and ``(P, 4)`` xyxy boxes."""


@dataclass
class GroundTruth:
    """COCO-keypoints persons by clip and frame.

    Attributes:
        frames: ``frames[clip][frame_index]`` -> :data:`GtFrame` (empty arrays for an image without persons).
        images: distinct ``(clip, frame)`` images in the file.
        persons: annotations scored (not crowd, at least one labelled joint).
    """

    frames: dict[str, dict[int, GtFrame]]
    images: int
    persons: int


def image_key(image: dict) -> tuple[str, int]:
    """``(clip, frame_index)`` of a COCO image (see the module docstring); raise ConfigError if it has neither."""
    if "clip_id" in image and "frame_index" in image:
        return str(image["clip_id"]), int(image["frame_index"])
    name = PurePosixPath(str(image.get("file_name", "")).replace("\\", "/"))
    if not name.stem.isdigit() or str(name.parent) in ("", "."):
        raise ConfigError(
            f"COCO image {image.get('id')!r} ({image.get('file_name')!r}) names no clip and frame: give it "
            "'clip_id' and 'frame_index' fields or a file_name like '{clip}/{frame:06d}.jpg'"
        )
    return name.parent.as_posix(), int(name.stem)


def _check_categories(doc: dict, path: Path) -> None:
    for category in doc.get("categories") or []:
        names = category.get("keypoints")
        if names and tuple(names) != COCO17.joints:
            raise ConfigError(
                f"{path}: category {category.get('name')!r} has keypoints {names[:3]}... ({len(names)}); "
                f"posekit reads the 17 COCO keypoints in COCO order"
            )


def parse_annotation(ann: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """``((17, 2) pixels NaN where v = 0, (4,) xyxy box)`` of a COCO annotation; None if crowd or unlabelled."""
    if ann.get("iscrowd", 0):
        return None
    values = np.asarray(ann.get("keypoints", []), dtype=np.float64)
    if values.size != 3 * COCO17.num_joints:
        raise ConfigError(f"COCO annotation {ann.get('id')!r} has {values.size} keypoint values, not 17 * 3")
    kp = values.reshape(-1, 3)
    xy = np.where((kp[:, 2] > 0)[:, None], kp[:, :2], np.nan)
    if np.isnan(xy).all():
        return None
    box = np.full(4, np.nan)
    if len(ann.get("bbox") or []) == 4:
        x, y, w, h = (float(v) for v in ann["bbox"])
        box = np.array([x, y, x + w, y + h])
    return xy, box


def load_coco_keypoints(path: Path) -> GroundTruth:
    """Read a COCO-keypoints JSON file into persons by ``(clip, frame_index)``."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"--gt {path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--gt {path}: not a readable JSON file ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise ConfigError(f"--gt {path}: not a COCO file (no 'images' list)")
    _check_categories(doc, path)
    keys = {img.get("id"): image_key(img) for img in doc["images"]}
    found: dict[tuple[str, int], list[tuple[np.ndarray, np.ndarray]]] = {k: [] for k in keys.values()}
    persons = 0
    for ann in doc.get("annotations") or []:
        if ann.get("image_id") not in keys:
            raise ConfigError(
                f"--gt {path}: annotation {ann.get('id')!r} refers to unknown image {ann.get('image_id')!r}"
            )
        parsed = parse_annotation(ann)
        if parsed is not None:
            found[keys[ann["image_id"]]].append(parsed)
            persons += 1
    frames: dict[str, dict[int, GtFrame]] = defaultdict(dict)
    V = COCO17.num_joints
    for (clip, frame), people in found.items():
        kp = np.stack([p[0] for p in people]) if people else np.zeros((0, V, 2))
        boxes = np.stack([p[1] for p in people]) if people else np.zeros((0, 4))
        frames[clip][frame] = (kp, boxes)
    return GroundTruth(dict(frames), len(found), persons)


def clip_candidates(clip_id: str) -> tuple[str, ...]:
    """Ground-truth clip names that designate the shard clip ``clip_id``: itself, then without its extension."""
    p = PurePosixPath(clip_id)
    return (clip_id, p.with_suffix("").as_posix()) if p.suffix else (clip_id,)


def gt_pose_set(frames: dict[int, GtFrame], clip: SkeletonClip, layout: JointLayout) -> tuple[PoseSet, np.ndarray]:
    """The clip's ground truth as a :class:`PoseSet` in ``layout``, and the ``t`` of its labelled frames.

    Frames that are not among the clip's sampled frames are left out.
    """
    position = {int(f): t for t, f in enumerate(clip.frame_index)}
    ts, kps, boxes = [], [], []
    labelled = sorted(position[f] for f in frames if f in position)
    for frame, (kp, box) in frames.items():
        if frame in position:
            ts.append(np.full(len(kp), position[frame]))
            kps.append(kp)
            boxes.append(box)
    V = COCO17.num_joints
    kp = np.concatenate(kps) if kps else np.zeros((0, V, 2))
    if layout.name != COCO17.name:
        try:
            kp = convert_keypoints(kp, None, COCO17, layout)[0].astype(np.float64)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"cannot compare COCO-17 ground truth with {layout.name} shards: {exc}") from None
    t = np.concatenate(ts) if ts else np.zeros(0)
    box = np.concatenate(boxes) if boxes else np.zeros((0, 4))
    return make_pose_set(t, kp, clip.num_frames, layout, boxes=box), np.array(labelled, np.int64)


@dataclass
class CocoResult:
    """Scores of shards against COCO ground truth.

    Attributes:
        overall: pooled scores (:func:`posekit.eval.reference.summarise` keys).
        per_clip: one dict per scored clip: ``clip_id``, ``images`` and the score keys.
        conf, error: ``(K,)`` C and per-pose MPJPE / head of matched aggregated poses (Fig. 3.7/3.8).
        images, images_scored: ground-truth images in the file, and those matched to a shard frame.
        unmatched: a few ``clip/frame`` names of images that matched no shard frame.
        layout: the layout scored.
    """

    overall: dict[str, float]
    per_clip: list[dict]
    conf: np.ndarray
    error: np.ndarray
    images: int
    images_scored: int
    unmatched: list[str] = field(default_factory=list)
    layout: JointLayout = COCO17


def score_shards(gt: Path | GroundTruth, shards: Path, options: ScoreOptions | None = None) -> CocoResult:
    """Score every skeletons shard under ``shards`` against the COCO-keypoints file ``gt``.

    Only predictions on labelled frames are counted (``pred_persons``). Raises ConfigError
    when no image maps to a shard frame (the message states the naming convention).
    """
    truth = gt if isinstance(gt, GroundTruth) else load_coco_keypoints(gt)
    options = options or ScoreOptions()
    parts: list[Matched] = []
    per_clip: list[dict] = []
    used: dict[str, set[int]] = defaultdict(set)
    layout: JointLayout | None = None
    for clip, info in iter_skeleton_clips(shards):
        key = next((k for k in clip_candidates(clip.clip_id) if k in truth.frames), None)
        if key is None:
            continue
        if layout is not None and info.layout.name != layout.name:
            raise ConfigError(f"{shards}: shards in layouts {layout.name} and {info.layout.name}; score them apart")
        layout = info.layout
        ref, labelled = gt_pose_set(truth.frames[key], clip, layout)
        if not len(labelled):
            continue
        used[key].update(int(clip.frame_index[t]) for t in labelled)
        pred = poses_from_tracks(clip.tracks, clip.num_frames, layout)
        pred = pred.select(np.isin(pred.t, labelled))
        m = pair_up(pred, ref)
        parts.append(m)
        per_clip.append({"clip_id": clip.clip_id, "images": len(labelled), **summarise(m, layout, options)})
    unmatched = [f"{c}/{f:06d}" for c, fr in truth.frames.items() for f in sorted(fr) if f not in used.get(c, ())]
    scored = truth.images - len(unmatched)
    if layout is None or scored == 0:
        example = unmatched[0] if unmatched else "none"
        raise ConfigError(
            f"none of the {truth.images} ground-truth images maps to a frame of the shards in {shards} "
            f"(e.g. {example}); "
            "name images '{clip}/{frame:06d}.jpg' or give them 'clip_id' and 'frame_index' (see posekit.eval.coco)"
        )
    pooled = concat_matched(parts, layout)
    conf, error = confidence_error_pairs(pooled, layout)
    return CocoResult(
        overall=summarise(pooled, layout, options),
        per_clip=per_clip,
        conf=conf,
        error=error,
        images=truth.images,
        images_scored=scored,
        unmatched=unmatched[:10],
        layout=layout,
    )
