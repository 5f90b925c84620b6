"""Pseudo ground truth for self-training from SST-A skeleton shards (thesis 3.3.3).

From each clip, frames are sampled uniformly (the thesis keeps 10 % of them) and every pose
whose SST-A confidence C (eq. 3.4) is at least ``gamma`` (eq. 3.3) becomes a label:

- **box**: the pose's extent, expanded by 10 % (thesis), clipped to the image; or the person
  detector's box of the extraction (``box_source="detector"``), the convention the student predicts;
- **anchor-pose class**: K-means anchor poses (``B = 20`` in the thesis) fitted on the poses
  normalised to their box (origin at the box's top-left corner, divided by its longer side),
  and the class of a pose is the nearest anchor (mean joint distance over its present joints);
- **keypoints**: the SST-A joints in COCO-17 (the student's layout), visibility 2 where present.

The result is a standard Ultralytics pose dataset (``images/{train,val}``, ``labels/{train,val}``,
``data.yaml``) split **by video** (with a single video, by time span: the last part is
validation), never by frame. Persons that SST-A saw but could not vouch for (C < gamma, or
a gap inside a track) are painted grey so they count neither as persons nor as background.
The dataset is written to a temporary folder and renamed when complete.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from posekit.core.errors import ConfigError, PosekitError, ShardError, VideoError
from posekit.core.files import atomic_path, temporary_sibling
from posekit.core.options import check_bounds
from posekit.io.shards import iter_skeleton_clips
from posekit.io.video import iter_frames, probe_video
from posekit.refine.ssta import DEFAULT_GAMMA
from posekit.skeleton.convert import convert_keypoints
from posekit.skeleton.layouts import COCO17, JointLayout
from posekit.skeleton.records import SkeletonClip

log = logging.getLogger(__name__)

DATASET_META = "pseudo-labels.json"
"""Written last inside a complete dataset folder: settings, counts, anchors."""

IGNORE_GREY = 114
"""Fill of ignored regions (Ultralytics' letterbox grey)."""


@dataclass(frozen=True)
class PseudoLabelOptions:
    """How pseudo labels are made from skeleton shards.

    Attributes:
        gamma: poses with SST-A confidence C < gamma are not labels (eq. 3.3; thesis 0.18).
        frame_fraction: fraction of each clip's frames sampled uniformly (thesis 10 %).
        anchor_classes: ``B`` K-means anchor poses, one class each (thesis 20); 1 = person only
            (the default: measured better with YOLO-pose, see docs/self-training.md).
        box_source: ``pose`` (extent + margin, thesis) or ``detector`` (the extraction's person box).
        box_margin: the pose extent is expanded by this fraction of its width and height (thesis 10 %).
        val_fraction: fraction of the videos (of the time span for one video) kept for validation.
        min_joints: poses with fewer present joints are not labels (too little to place a box).
        mask_ignored: paint grey the persons SST-A saw but could not vouch for.
        seed: seed of K-means and of the video split.
        jpeg_quality: quality of the written frames.
    """

    gamma: float = field(
        default=DEFAULT_GAMMA,
        metadata={"help": "Only poses with SST-A confidence C >= gamma become labels (eq. 3.3).", "min": 0, "max": 1},
    )
    frame_fraction: float = field(
        default=0.10,
        metadata={
            "help": "Fraction of each clip's frames sampled uniformly (thesis: 0.1).",
            "min": 0,
            "min_open": True,
            "max": 1,
        },
    )
    anchor_classes: int = field(
        default=1,
        metadata={
            "help": "K-means anchor-pose classes: 1 = person only (measured better); B > 1 = LCRNet-style (the "
            "class head predicts the anchor pose, any class is a person at inference; thesis B = 20).",
            "min": 1,
        },
    )
    box_source: Literal["pose", "detector"] = field(
        default="detector",
        metadata={
            "help": "Label boxes: detector = the person detector's box of the extraction (the convention the "
            "student already predicts; measured better); pose = the pose's extent + --box-margin (thesis)."
        },
    )
    box_margin: float = field(
        default=0.10,
        metadata={"help": "Pose extent expanded by this fraction of its width and height (thesis: 0.1).", "min": 0},
    )
    val_fraction: float = field(
        default=0.2,
        metadata={
            "help": "Fraction of videos for validation (one video: of its time span).",
            "min": 0,
            "min_open": True,
            "max": 1,
            "max_open": True,
        },
    )
    min_joints: int = field(
        default=5,
        metadata={"help": "Poses with fewer present joints are not labels (too few to place a box).", "min": 1},
    )
    mask_ignored: bool = field(
        default=True, metadata={"help": "Paint grey the persons SST-A saw but could not vouch for."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of K-means, the video split and training."})
    jpeg_quality: int = field(
        default=95, metadata={"help": "JPEG quality of the written frames.", "min": 1, "max": 100}
    )

    def __post_init__(self) -> None:
        check_bounds(self)


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


@dataclass
class PseudoLabelDataset:
    """A written pseudo-label dataset: ``data_yaml`` is what Ultralytics trains on."""

    root: Path
    data_yaml: Path
    meta: dict

    @property
    def anchors(self) -> np.ndarray:
        """``(B, 17, 2)`` anchor poses, box-normalised."""
        return np.asarray(self.meta["anchors"], np.float64)


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


def resolve_video(clip: SkeletonClip, videos: Path | None) -> Path:
    """The video file of ``clip``: ``videos / clip_id`` when a folder is given, else the path stored in the shard.

    Fails with one line when the file is missing or its frame size differs from the shard's.
    """
    if videos is not None:
        path = Path(videos) / clip.clip_id
        if Path(videos).is_file() and Path(videos).name == Path(clip.clip_id).name:
            path = Path(videos)
        hint = f"--videos {videos} does not match the shards: give the folder the videos were extracted from"
    else:
        path = Path(clip.video_path)
        hint = "the video moved since extraction: pass --videos FOLDER (clip ids are paths relative to it)"
    if not path.is_file():
        raise ConfigError(f"video of clip {clip.clip_id!r} not found at {path}; {hint}")
    try:
        info = probe_video(path)
    except VideoError as exc:
        raise ConfigError(f"video of clip {clip.clip_id!r}: {exc}") from None
    if (info.width, info.height) != (clip.width, clip.height):
        raise ConfigError(
            f"{path} is {info.width}x{info.height} but the shards' clip {clip.clip_id!r} is "
            f"{clip.width}x{clip.height}; {hint}"
        )
    return path


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


def _label_lines(lab: FrameLabels, width: int, height: int) -> list[str]:
    """Ultralytics pose label lines: ``cls cx cy w h`` then 17 x ``x y v``, all normalised to [0, 1]."""
    lines = []
    for kp, box, cls in zip(lab.keypoints, lab.boxes, lab.classes):
        cx, cy = (box[0] + box[2]) / 2 / width, (box[1] + box[3]) / 2 / height
        bw, bh = (box[2] - box[0]) / width, (box[3] - box[1]) / height
        parts = [str(int(cls)), f"{cx:.6f}", f"{cy:.6f}", f"{bw:.6f}", f"{bh:.6f}"]
        for x, y in kp:
            if np.isfinite(x) and np.isfinite(y):
                parts += [f"{min(max(x / width, 0), 1):.6f}", f"{min(max(y / height, 0), 1):.6f}", "2"]
            else:
                parts += ["0", "0", "0"]
        lines.append(" ".join(parts))
    return lines


def _mask_ignored(image: np.ndarray, ignore: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Paint ``ignore`` boxes grey except where they overlap the ``keep`` (labelled) boxes. ``image`` (H, W, 3)."""
    if not len(ignore):
        return image
    H, W = image.shape[:2]
    mask = np.zeros((H, W), bool)
    for x1, y1, x2, y2 in np.round(ignore).astype(int):
        mask[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = True
    for x1, y1, x2, y2 in np.round(keep).astype(int):
        mask[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = False
    out = image.copy()
    out[mask] = IGNORE_GREY
    return out


def _slug(clip_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in clip_id)


def dataset_settings(shards: Path, options: PseudoLabelOptions) -> dict:
    """What decides a dataset's content (a complete dataset with the same settings is reused)."""
    return {"shards": str(Path(shards).resolve()), **asdict(options)}


def load_dataset(root: Path) -> PseudoLabelDataset | None:
    """The complete dataset at ``root``, or None if there is none."""
    meta_path = Path(root) / DATASET_META
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    return PseudoLabelDataset(Path(root), Path(root) / "data.yaml", meta)


def build_pseudo_labels(
    shards: Path,
    out: Path,
    videos: Path | None = None,
    options: PseudoLabelOptions = PseudoLabelOptions(),
    on_frames: Callable[[int], None] | None = None,
) -> PseudoLabelDataset:
    """Write the pseudo-label dataset of the skeleton shards under ``shards`` to the folder ``out``.

    ``videos``: the folder the videos were extracted from (clip ids are paths relative to it);
    default: the paths stored in the shards. A complete dataset already at ``out`` with the
    same settings is reused; with other settings, :class:`ConfigError`. Nothing is left at
    ``out`` unless the dataset is complete. ``on_frames(n)`` reports decoded frames.
    """
    out = Path(out)
    settings = dataset_settings(shards, options)
    existing = load_dataset(out)
    if existing is not None:
        if existing.meta.get("settings") == settings:
            log.info("reusing the complete pseudo-label dataset in %s", out)
            return existing
        raise ConfigError(f"{out} holds pseudo labels made with other settings; use another --out or delete it")
    if out.exists():
        raise ConfigError(f"{out} exists but is not a complete pseudo-label dataset; delete it or use another --out")

    labels, frame_size, video_of, layouts = _collect(shards, videos, options)
    if not labels:
        raise ConfigError(
            f"no pose in {shards} has SST-A confidence C >= gamma = {options.gamma:g} in the sampled frames "
            f"(and >= {options.min_joints} joints); lower --gamma or raise --frame-fraction"
        )
    normalised = np.concatenate([normalise_to_box(lab.keypoints, lab.boxes) for lab in labels])
    anchors = fit_anchor_poses(normalised, options.anchor_classes, options.seed)
    for lab in labels:
        lab.classes = assign_anchor_classes(normalise_to_box(lab.keypoints, lab.boxes), anchors)
    split, how = assign_splits(labels, options)

    shutil.rmtree(temporary_sibling(out), ignore_errors=True)
    try:
        with atomic_path(out) as tmp:
            counts = _write(tmp, labels, split, frame_size, video_of, options, on_frames)
            names = (
                {0: "person"}
                if options.anchor_classes == 1
                else {b: f"person-anchor-{b:02d}" for b in range(len(anchors))}
            )
            _write_yaml(tmp / "data.yaml", names)
            classes = np.concatenate([lab.classes for lab in labels])
            meta = {
                "settings": settings,
                "split": how,
                "clips": sorted(video_of),
                "layouts": sorted(layouts),
                "frames": counts,
                "poses": {
                    s: int(sum(len(lab.boxes) for lab, sp in zip(labels, split) if sp == s)) for s in ("train", "val")
                },
                "class_counts": np.bincount(classes, minlength=len(anchors)).tolist(),
                "anchors": np.round(anchors, 5).tolist(),
            }
            (tmp / DATASET_META).write_text(json.dumps(meta, indent=1) + "\n")
    except OSError as exc:
        raise PosekitError(f"cannot write pseudo labels to {out}: {exc.strerror or exc}") from exc
    return PseudoLabelDataset(out, out / "data.yaml", meta)


def _collect(
    shards: Path, videos: Path | None, options: PseudoLabelOptions
) -> tuple[list[FrameLabels], dict[str, tuple[int, int]], dict[str, Path], set[str]]:
    labels: list[FrameLabels] = []
    frame_size: dict[str, tuple[int, int]] = {}
    video_of: dict[str, Path] = {}
    layouts: set[str] = set()
    any_clip = False
    try:
        for clip, info in iter_skeleton_clips(Path(shards)):
            any_clip = True
            layouts.add(info.layout.name)
            found = clip_frame_labels(clip, info.layout, options)
            if not found:
                continue
            video_of[clip.clip_id] = resolve_video(clip, videos)
            frame_size[clip.clip_id] = (clip.width, clip.height)
            labels.extend(found)
    except ShardError as exc:
        raise ConfigError(f"--shards: {exc}") from None
    if not any_clip:
        raise ConfigError(f"no skeleton shards (skeletons-*.parquet) under {shards}; give the --out of posekit extract")
    return labels, frame_size, video_of, layouts


def _write(
    root: Path,
    labels: Sequence[FrameLabels],
    split: Sequence[str],
    frame_size: dict[str, tuple[int, int]],
    video_of: dict[str, Path],
    options: PseudoLabelOptions,
    on_frames: Callable[[int], None] | None,
) -> dict[str, int]:
    for part in ("images", "labels"):
        for s in ("train", "val"):
            (root / part / s).mkdir(parents=True, exist_ok=True)
    counts = {"train": 0, "val": 0}
    by_clip: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by_clip.setdefault(lab.clip_id, []).append(i)
    for clip_id, items in by_clip.items():
        wanted = {labels[i].frame_index: i for i in items}
        last = max(wanted)
        width, height = frame_size[clip_id]
        seen = 0
        for frame in iter_frames(video_of[clip_id]):
            if frame.index > last:
                break
            i = wanted.get(frame.index)
            if i is None:
                continue
            lab = labels[i]
            image = _mask_ignored(frame.image, lab.ignore, lab.boxes) if options.mask_ignored else frame.image
            stem = f"{_slug(clip_id)}-{lab.frame_index:06d}"
            s = split[i]
            path = root / "images" / s / f"{stem}.jpg"
            if not cv2.imwrite(str(path), image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, options.jpeg_quality]):
                raise OSError(f"cannot write {path}")
            (root / "labels" / s / f"{stem}.txt").write_text("\n".join(_label_lines(lab, width, height)) + "\n")
            counts[s] += 1
            seen += 1
            if on_frames is not None:
                on_frames(1)
        if seen < len(wanted):
            raise ConfigError(
                f"{video_of[clip_id]} has fewer frames than the shards' clip {clip_id!r} "
                f"(frame {last} not decoded); the videos do not match the shards"
            )
    return counts


def _write_yaml(path: Path, names: dict[int, str]) -> None:
    """The Ultralytics data file, COCO-17 keypoints and their flip order.

    No ``path`` key: Ultralytics resolves paths from the file's folder, so the dataset can move.
    """
    flip = list(range(COCO17.num_joints))
    for a, b in COCO17.flip_pairs:
        flip[a], flip[b] = b, a
    lines = [
        "# posekit pseudo labels (SST-A, thesis 3.3.3)",
        "train: images/train",
        "val: images/val",
        f"kpt_shape: [{COCO17.num_joints}, 3]",
        f"flip_idx: [{', '.join(map(str, flip))}]",
        "names:",
        *(f"  {k}: {v}" for k, v in names.items()),
    ]
    path.write_text("\n".join(lines) + "\n")
