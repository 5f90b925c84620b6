"""Skeleton clips of real poses (the SSTA-PRS demo's AlphaPose and OpenPose outputs) over a real video,
written as shards without running a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posekit.io.schema import ShardInfo
from posekit.io.shards import ShardWriter
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import SkeletonClip, SkeletonTrack
from posekit.testing.ssta_demo import load_expert_npz
from tests.conftest import SHARED_DATA

DEMO = SHARED_DATA / "ssta-demo" / "WatchTV_p02_r03_v05_c05_{}2d.npz"
DEMO_SIZE = (640, 480)
"""Width and height (pixels) of the demo video the poses were estimated on."""


def demo_poses(expert: str, start: int, frames: int) -> np.ndarray:
    """``(frames, 17, 2)`` pixels (NaN = missing) of the demo ``expert`` from frame ``start``."""
    return load_expert_npz(Path(str(DEMO).format(expert)))[start : start + frames].astype(np.float32)


def track(track_id: int, keypoints: np.ndarray, t: np.ndarray | None = None) -> SkeletonTrack:
    """A track of ``(n, V, 2)`` pixel poses on clip frames ``t`` (default ``0..n-1``), scored 0.9."""
    n, V = keypoints.shape[:2]
    present = ~np.isnan(keypoints).any(-1)
    lo, hi = np.fmin.reduce(keypoints, axis=1), np.fmax.reduce(keypoints, axis=1)
    return SkeletonTrack(
        track_id=track_id,
        t=np.arange(n, dtype=np.int32) if t is None else np.asarray(t, np.int32),
        keypoints=keypoints.astype(np.float32),
        joint_scores=np.where(present, 0.9, 0.0).astype(np.float32),
        joint_source=np.zeros((n, V), np.int8),
        boxes=np.concatenate([lo, hi], axis=1).astype(np.float32),
        box_scores=np.full(n, 0.9, np.float32),
        confidence=np.full(n, np.nan, np.float32),
    )


def demo_clip(video: Path, size: tuple[int, int], frames: int, clip_id: str | None = None) -> SkeletonClip:
    """Two people on ``video`` (``size`` = width, height pixels): the demo's AlphaPose poses as track 1 and
    its OpenPose poses, moved right by half the frame width, as track 5, scaled to the frame height."""
    width, height = size
    scale = height / DEMO_SIZE[1]
    first = demo_poses("AlphaPose", 0, frames) * scale
    second = demo_poses("OpenPose", 0, frames) * scale + np.array([width / 2, 0], np.float32)
    return SkeletonClip(
        clip_id=clip_id or video.name,
        video_path=str(video),
        width=width,
        height=height,
        fps=10.0,
        frame_index=np.arange(frames, dtype=np.int32),
        timestamp=np.arange(frames) / 10.0,
        tracks=[track(1, first), track(5, second)],
    )


def write_shards(out: Path, clips: list[SkeletonClip]) -> Path:
    """``clips`` as one COCO-17 skeletons shard in the folder ``out``; return the folder."""
    out.mkdir(parents=True, exist_ok=True)
    writer = ShardWriter(out, ShardInfo("skeletons", COCO17, ("AlphaPose", "OpenPose")))
    for clip in clips:
        writer.add([clip])
    writer.flush()
    return out
