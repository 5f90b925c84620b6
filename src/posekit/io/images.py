"""Image inputs: a single image is a 1-frame clip, a folder of frames is one clip.

A folder's frames are its image files in natural order (``2.jpg`` before ``10.jpg``); a
frame's index is its position in that order and its time is ``index / frame_rate``. Pixels
are used as stored (EXIF orientation is not applied), because keypoint ground truth (COCO,
PoseTrack, MPII) labels the stored pixels and records their size.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from posekit.core.errors import VideoError
from posekit.core.options import check_bounds
from posekit.io.video import Frame, FrameSampler, VideoInfo, check_frame_size

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class ImageInputOptions:
    """How image inputs become clips."""

    frame_rate: float = field(
        default=30.0,
        metadata={
            "help": "Frame rate (frames/s) of a folder of frames: its time base (frame i is at i / rate seconds); "
            "videos keep their own rate.",
            "min": 0.0,
            "min_open": True,
        },
    )

    def __post_init__(self) -> None:
        check_bounds(self)


def is_image(name: str) -> bool:
    """Whether a file name has an image extension (and is not hidden)."""
    return not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS


def natural_key(name: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key putting runs of digits in numeric order: ``frame2.jpg`` before ``frame10.jpg``."""
    parts = _DIGITS.split(name)
    return tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)), name


def frame_files(folder: Path) -> list[Path]:
    """The image files of ``folder`` (not its sub-folders) in natural order: the frames of its clip.

    Raises :class:`VideoError` when the folder cannot be listed or holds no image.
    """
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if is_image(e.name) and e.is_file()]
    except OSError as exc:
        raise VideoError(f"{folder}: cannot list the folder of frames ({exc.strerror or exc})") from None
    if not names:
        raise VideoError(f"{folder}: holds no image file ({', '.join(IMAGE_EXTENSIONS)})")
    return [Path(folder) / name for name in sorted(names, key=natural_key)]


def read_image(path: Path) -> np.ndarray:
    """The ``(H, W, 3)`` uint8 RGB pixels of the image file ``path``; :class:`VideoError` if unreadable."""
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as exc:
        raise VideoError(f"{path}: cannot read the image ({exc.strerror or exc})") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION) if data.size else None
    if image is None:
        raise VideoError(f"{path}: not a readable image (empty, corrupt, or not the format its name says)")
    check_frame_size(path, image.shape[1], image.shape[0])
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` from the image header (PyAV), else from decoding it."""
    try:
        with av.open(str(path)) as container:
            ctx = container.streams.video[0].codec_context
            if ctx.width and ctx.height:
                return ctx.width, ctx.height
    except (av.error.FFmpegError, OSError, IndexError):
        pass
    image = read_image(path)
    return image.shape[1], image.shape[0]


def probe_images(files: Sequence[Path], source: Path, frame_rate: float) -> VideoInfo:
    """The clip of ``files`` (one image, or a folder's frames) at ``frame_rate``: size of the first frame."""
    width, height = _image_size(files[0])
    check_frame_size(files[0], width, height)
    names = tuple(f.name for f in files)
    return VideoInfo(source, width, height, float(frame_rate), len(files), "image", frame_files=names)


def iter_images(
    files: Sequence[Path],
    info: VideoInfo,
    fps: float | None = None,
    max_frames: int | None = None,
) -> Iterator[Frame]:
    """Decode ``files`` as the frames of one clip, keeping one every ``1/fps`` seconds at ``info.fps``.

    Frame ``i`` is at ``i / info.fps`` seconds. Raises :class:`VideoError` naming the file when an
    image is unreadable or its size differs from ``info`` (the first frame's).
    """
    sampler = FrameSampler(fps)
    kept = 0
    for index, path in enumerate(files):
        time = index / info.fps
        if not sampler.keep(time):
            continue
        image = read_image(path)
        if image.shape[:2] != (info.height, info.width):
            raise VideoError(
                f"{path}: {image.shape[1]}x{image.shape[0]} differs from the first frame {files[0].name} "
                f"({info.width}x{info.height}); a folder of frames holds one size (give differently sized "
                "images in a .txt list to extract each as its own clip)"
            )
        yield Frame(index, time, image)
        kept += 1
        if max_frames is not None and kept >= max_frames:
            return
