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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from posekit.core.errors import ConfigError, PosekitError, ShardError, VideoError
from posekit.core.files import atomic_path, temporary_sibling
from posekit.io.shards import iter_skeleton_clips
from posekit.io.video import probe_video
from posekit.skeleton.records import SkeletonClip
from posekit.workflows.selftrain.anchors import assign_anchor_classes, fit_anchor_poses, normalise_to_box
from posekit.workflows.selftrain.frame_labels import FrameLabels, assign_splits, clip_frame_labels
from posekit.workflows.selftrain.label_files import write_data_yaml, write_label_files
from posekit.workflows.selftrain.options import PseudoLabelOptions

log = logging.getLogger(__name__)

DATASET_META = "pseudo-labels.json"
"""Written last inside a complete dataset folder: settings, counts, anchors, the shards' layouts and experts."""


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
    options: PseudoLabelOptions | None = None,
    on_frames: Callable[[int], None] | None = None,
) -> PseudoLabelDataset:
    """Write the pseudo-label dataset of the skeleton shards under ``shards`` to the folder ``out``.

    ``options``: default :class:`PseudoLabelOptions`. ``videos``: the folder the videos were extracted from
    (clip ids are paths relative to it); default: the paths stored in the shards. A complete dataset already
    at ``out`` with the same settings is reused; with other settings, :class:`ConfigError`. Nothing is left
    at ``out`` unless the dataset is complete. ``on_frames(n)`` reports decoded frames.
    """
    options = options or PseudoLabelOptions()
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

    found = _collect(shards, videos, options)
    labels = found.labels
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
            counts = write_label_files(tmp, labels, split, found.frame_size, found.video_of, options, on_frames)
            names = (
                {0: "person"}
                if options.anchor_classes == 1
                else {b: f"person-anchor-{b:02d}" for b in range(len(anchors))}
            )
            write_data_yaml(tmp / "data.yaml", names)
            classes = np.concatenate([lab.classes for lab in labels])
            meta = {
                "settings": settings,
                "split": how,
                "clips": sorted(found.video_of),
                "layouts": sorted(found.layouts),
                "experts": sorted(found.experts),
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


@dataclass
class _Collected:
    """The labelled frames of every clip and where they come from (the shards' layouts and experts)."""

    labels: list[FrameLabels] = field(default_factory=list)
    frame_size: dict[str, tuple[int, int]] = field(default_factory=dict)
    video_of: dict[str, Path] = field(default_factory=dict)
    layouts: set[str] = field(default_factory=set)
    experts: set[str] = field(default_factory=set)


def _collect(shards: Path, videos: Path | None, options: PseudoLabelOptions) -> _Collected:
    found = _Collected()
    any_clip = False
    try:
        for clip, info in iter_skeleton_clips(Path(shards)):
            any_clip = True
            found.layouts.add(info.layout.name)
            found.experts.update(info.experts)
            labels = clip_frame_labels(clip, info.layout, options)
            if not labels:
                continue
            found.video_of[clip.clip_id] = resolve_video(clip, videos)
            found.frame_size[clip.clip_id] = (clip.width, clip.height)
            found.labels.extend(labels)
    except ShardError as exc:
        raise ConfigError(f"--shards: {exc}") from None
    if not any_clip:
        raise ConfigError(f"no skeleton shards (skeletons-*.parquet) under {shards}; give the --out of posekit extract")
    return found
