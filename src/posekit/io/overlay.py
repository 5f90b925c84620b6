"""Overlay videos: a clip's skeleton tracks drawn on the frames of its input (a video, an image or a folder of
frames), written as H.264 MP4.

Each track keeps one colour for its whole life, and tracks seen together never share one
(:func:`track_colors`); its ``#id`` label sits above the head, sized to the frame.
"""

from __future__ import annotations

import colorsys
import contextlib
from pathlib import Path

import av
import cv2
import numpy as np

from posekit.core.errors import PosekitError, write_error
from posekit.io.inputs import iter_input_frames, probe_input
from posekit.io.outputs import check_output_file
from posekit.io.video import VideoInfo
from posekit.skeleton.layouts import JointLayout
from posekit.skeleton.records import SkeletonClip

RGB = tuple[int, int, int]

PALETTE: tuple[RGB, ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (220, 190, 255),
    (170, 110, 40),
    (255, 250, 200),
    (128, 0, 0),
    (170, 255, 195),
    (128, 128, 0),
    (255, 215, 180),
    (0, 0, 128),
    (255, 255, 255),
)
"""Twenty RGB colours far apart in hue and lightness; more overlapping tracks get generated hues."""

HEAD_WORDS = ("nose", "eye", "ear", "mouth", "head")
"""Joints whose name holds one of these words place a track's label (above the head)."""

LABEL_HEIGHT = 0.028
"""Label text height as a fraction of the frame height (about 30 px at 1080p, 60 px at 4K)."""

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_PIXELS = cv2.getTextSize("0", _FONT, 1.0, 1)[0][1]


def _extra_color(k: int) -> RGB:
    """The ``k``-th colour past the palette: golden-ratio hue steps, full saturation."""
    r, g, b = colorsys.hsv_to_rgb((k * 0.618034) % 1.0, 0.85, 1.0)
    return round(r * 255), round(g * 255), round(b * 255)


def track_colors(clip: SkeletonClip) -> dict[int, RGB]:
    """One colour per track id, such that tracks whose frame spans overlap never share one.

    Tracks are coloured greedily in order of first frame: each takes, among the colours no
    overlapping track holds, the one shown least recently (never shown first), so a person
    entering does not inherit the colour of one who just left.
    """
    spans = sorted((int(tr.t.min()), int(tr.t.max()), tr.track_id) for tr in clip.tracks if len(tr.t))
    palette = list(PALETTE)
    last_shown: dict[int, int] = {}
    chosen: dict[int, int] = {}
    for start, end, track_id in spans:
        free = [k for k in range(len(palette)) if last_shown.get(k, -1) < start]
        if not free:
            palette.append(_extra_color(len(palette)))
            free = [len(palette) - 1]
        pick = min(free, key=lambda k: last_shown.get(k, -1))
        chosen[track_id] = pick
        last_shown[pick] = end
    return {track_id: palette[k] for track_id, k in chosen.items()}


def head_joints(layout: JointLayout) -> np.ndarray:
    """Indices of the layout's head joints (nose, eyes, ears, mouth, head)."""
    return np.array([v for v, name in enumerate(layout.joints) if any(w in name for w in HEAD_WORDS)], np.int64)


def draw_pose(image: np.ndarray, keypoints: np.ndarray, layout: JointLayout, color: RGB) -> None:
    """Draw one ``(V, 2)`` pixel pose on an ``(H, W, 3)`` RGB image in place; NaN joints and their bones are skipped."""
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


def label_anchor(keypoints: np.ndarray, layout: JointLayout) -> tuple[float, float] | None:
    """``(x, y)`` pixels where a pose's label goes: centred on its head joints, above the top of the head.

    The top of the head is the highest joint raised by the head's width (the spread of its head joints
    across x, about the height of a head above the eyes); without a head joint, the centre of the
    present joints and the highest one. None for a pose with no joint.
    """
    present = ~np.isnan(keypoints).any(-1)
    if not present.any():
        return None
    head = head_joints(layout)
    head = head[present[head]]
    if not len(head):
        return float(keypoints[present, 0].mean()), float(keypoints[present, 1].min())
    head_width = float(np.ptp(keypoints[head, 0]))
    return float(keypoints[head, 0].mean()), float(keypoints[present, 1].min()) - head_width


def draw_label(image: np.ndarray, text: str, anchor: tuple[float, float], color: RGB) -> None:
    """Write ``text`` centred above ``anchor`` (pixels), ``LABEL_HEIGHT`` of the frame tall, outlined in black,
    kept inside the frame."""
    height, width = image.shape[:2]
    scale = max(0.4, LABEL_HEIGHT * height / _FONT_PIXELS)
    thickness = max(1, round(scale * 1.5))
    (text_w, text_h), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    x = int(np.clip(anchor[0] - text_w / 2, 0, max(0, width - text_w)))
    y = int(np.clip(anchor[1] - 0.3 * text_h, text_h, max(text_h, height - baseline)))
    cv2.putText(image, text, (x, y), _FONT, scale, (0, 0, 0), thickness + 2 * max(1, thickness // 2), cv2.LINE_AA)
    cv2.putText(image, text, (x, y), _FONT, scale, color, thickness, cv2.LINE_AA)


def draw_frame(
    image: np.ndarray, poses: list[tuple[int, np.ndarray]], layout: JointLayout, colors: dict[int, RGB]
) -> None:
    """Draw every ``(track_id, (V, 2) pixels)`` pose of one frame on the RGB ``image`` in place: skeletons
    first, then the labels, so that no bone covers a label."""
    for track_id, keypoints in poses:
        draw_pose(image, keypoints, layout, colors[track_id])
    for track_id, keypoints in poses:
        anchor = label_anchor(keypoints, layout)
        if anchor is not None:
            draw_label(image, f"#{track_id}", anchor, colors[track_id])


def check_overlay_source(clip: SkeletonClip, source: Path, given: bool) -> VideoInfo:
    """The probe of the input ``source`` of ``clip``; :class:`PosekitError` when it is missing, or when its frame
    size or frame count cannot be the input the clip was extracted from (``given``: named by ``--video``)."""
    named = f"--video {source}" if given else f"the input of clip {clip.clip_id!r}, {source},"
    if not source.exists():
        fix = "give the input it was extracted from" if given else "pass it with --video"
        raise PosekitError(f"{named} not found; {fix}")
    info = probe_input(source, 1.0)
    last = int(clip.frame_index.max()) if len(clip.frame_index) else -1
    count = len(info.frame_files) or info.declared_frames
    if (info.width, info.height) != (clip.width, clip.height) or (count > 0 and last >= count):
        frames = f", {count} frame(s)" if count > 0 else ""
        raise PosekitError(
            f"{named} is {info.width}x{info.height}{frames}, but the clip in the shards is {clip.width}x"
            f"{clip.height} with frames up to index {last}; give the input it was extracted from"
        )
    return info


def write_overlay(clip: SkeletonClip, layout: JointLayout, out: Path, video: Path | None = None) -> int:
    """Render ``clip`` over the frames of its input (a video, an image or a folder of frames) into the MP4 ``out``;
    return the frames written.

    ``out`` and the input (:func:`check_overlay_source`) are checked before any frame is decoded; a write that
    fails later (disk full) raises the one-line :func:`posekit.core.errors.write_error` and leaves no partial file.
    """
    out = check_output_file(Path(out), "--out")
    if out.suffix.lower() != ".mp4":
        raise PosekitError(f"--out {out}: posekit viz writes H.264 MP4 video; give a name ending in .mp4")
    source = Path(video or clip.video_path)
    info = check_overlay_source(clip, source, given=video is not None)
    wanted = {int(f): t for t, f in enumerate(clip.frame_index)}
    poses: dict[int, list[tuple[int, np.ndarray]]] = {}
    for track in clip.tracks:
        for i, t in enumerate(track.t):
            poses.setdefault(int(t), []).append((track.track_id, track.keypoints[i]))
    colors = track_colors(clip)
    fps = clip.fps if clip.fps > 0 else 10.0
    tmp = out.with_name(f".{out.name}.tmp")
    written = 0
    try:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=round(fps))
            stream.width, stream.height = clip.width - clip.width % 2, clip.height - clip.height % 2
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "23", "preset": "veryfast"}
            for frame in iter_input_frames(source, info):
                t = wanted.get(frame.index)
                if t is None:
                    continue
                image = frame.image.copy()
                draw_frame(image, poses.get(t, []), layout, colors)
                image = np.ascontiguousarray(image[: stream.height, : stream.width])
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
                written += 1
                if written == len(wanted):
                    break
            container.mux(stream.encode())
        tmp.replace(out)
    except (OSError, av.FFmpegError) as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        error = exc if isinstance(exc, OSError) else OSError(exc.errno, exc.strerror)
        raise write_error(out, error, "no overlay was written") from exc
    return written
