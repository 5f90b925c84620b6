"""Overlay videos: a clip's skeleton tracks drawn on its frames, written as H.264 MP4."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from posekit.core.errors import PosekitError
from posekit.io.video import iter_frames
from posekit.skeleton.layouts import JointLayout
from posekit.skeleton.records import SkeletonClip


def track_color(track_id: int) -> tuple[int, int, int]:
    """A stable, saturated RGB colour per track id."""
    hue = (track_id * 47) % 180
    hsv = np.array([[[hue, 220, 255]]], np.uint8)
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def draw_pose(
    image: np.ndarray,
    keypoints: np.ndarray,
    layout: JointLayout,
    color: tuple[int, int, int],
    label: str = "",
) -> None:
    """Draw one ``(V, 2)`` pixel pose on an RGB image in place; NaN joints and their bones are skipped."""
    present = ~np.isnan(keypoints).any(-1)
    if not present.any():
        return
    extent = float(np.ptp(keypoints[present], axis=0).max())
    thickness = max(1, round(extent / 80))
    pts = np.nan_to_num(keypoints).round().astype(np.int32)
    for a, b in layout.edges:
        if present[a] and present[b]:
            cv2.line(image, tuple(pts[a]), tuple(pts[b]), color, thickness, cv2.LINE_AA)
    for v in np.flatnonzero(present):
        cv2.circle(image, tuple(pts[v]), thickness, color, -1, cv2.LINE_AA)
    if label:
        x, y = pts[present].min(axis=0)
        cv2.putText(image, label, (int(x), max(10, int(y) - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1)


def write_overlay(clip: SkeletonClip, layout: JointLayout, out: Path, video: Path | None = None) -> int:
    """Render ``clip`` over the frames of its video into ``out``; return the frames written."""
    source = Path(video or clip.video_path)
    if not source.is_file():
        raise PosekitError(f"video for clip {clip.clip_id!r} not found at {source}; pass it with --video")
    wanted = {int(f): t for t, f in enumerate(clip.frame_index)}
    poses: dict[int, list[tuple[int, np.ndarray]]] = {}
    for track in clip.tracks:
        for i, t in enumerate(track.t):
            poses.setdefault(int(t), []).append((track.track_id, track.keypoints[i]))
    fps = clip.fps if clip.fps > 0 else 10.0
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    written = 0
    with av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.width, stream.height = clip.width - clip.width % 2, clip.height - clip.height % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for frame in iter_frames(source):
            t = wanted.get(frame.index)
            if t is None:
                continue
            image = frame.image.copy()
            for track_id, kpts in poses.get(t, []):
                draw_pose(image, kpts, layout, track_color(track_id), f"#{track_id}")
            image = image[: stream.height, : stream.width]
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
            written += 1
            if written == len(wanted):
                break
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(out)
    return written
