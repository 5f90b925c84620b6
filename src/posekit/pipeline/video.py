"""Video inputs: finding them, probing them and streaming their frames (PyAV).

Frames are decoded one at a time and never held as a whole video; a background thread
decodes ahead into a small bounded queue so that decoding overlaps with inference.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from posekit.errors import ConfigError, VideoError

MAX_PIXELS = 8192 * 8192
"""Larger frames are refused: a decoding queue of them would need gigabytes."""

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts")


@dataclass(frozen=True)
class VideoInput:
    """One video to process: its path and its id (the path relative to the input root)."""

    path: Path
    clip_id: str


@dataclass(frozen=True)
class Frame:
    """A decoded frame: ``image`` is ``(H, W, 3)`` uint8 RGB; ``time`` in seconds from the stream start."""

    index: int
    time: float
    image: np.ndarray


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: float
    declared_frames: int
    codec: str


def find_videos(
    root: Path, extensions: tuple[str, ...] = VIDEO_EXTENSIONS
) -> tuple[list[VideoInput], list[tuple[VideoInput, str]]]:
    """Videos at ``root`` (a file, or a folder searched recursively by extension), sorted by id.

    Returns the inputs and, for each sub-folder that could not be read, that folder (as an
    input with its relative id) and the reason, so it is reported without stopping the rest.
    """
    root = Path(root)
    if root.is_file():
        return [VideoInput(root, root.name)], []
    if not root.exists():
        raise ConfigError(f"input not found: {root} (give a video file or a folder of videos)")
    if not os.access(root, os.R_OK | os.X_OK):
        raise ConfigError(f"input folder {root} is not readable (permission denied)")
    found: list[VideoInput] = []
    problems: list[tuple[VideoInput, str]] = []
    exts = {e.lower() for e in extensions}

    def on_error(err: OSError) -> None:
        folder = Path(err.filename)
        relative = folder.relative_to(root).as_posix() if folder.is_relative_to(root) else str(folder)
        problems.append((VideoInput(folder, relative + "/"), f"{folder}: cannot list folder ({err.strerror})"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error, followlinks=False):
        dirnames.sort()
        for name in filenames:
            if Path(name).suffix.lower() in exts and not name.startswith("."):
                path = Path(dirpath) / name
                found.append(VideoInput(path, path.relative_to(root).as_posix()))
    found.sort(key=lambda v: v.clip_id)
    return found, problems


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.FileNotFoundError:
        raise VideoError(f"{path}: file not found") from None
    except av.error.PermissionError:
        raise VideoError(f"{path}: permission denied") from None
    except av.error.EOFError:
        raise VideoError(f"{path}: no decodable frames (the file ends inside its header)") from None
    except (av.error.InvalidDataError, av.error.FFmpegError) as exc:
        raise VideoError(f"{path}: not a readable video ({_reason(exc)})") from None
    except OSError as exc:
        raise VideoError(f"{path}: cannot open ({exc.strerror or exc})") from None


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def probe_video(path: Path) -> VideoInfo:
    """Read the stream header; raise :class:`VideoError` if there is no decodable video stream."""
    with _open(path) as container:
        if not container.streams.video:
            raise VideoError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise VideoError(f"{path}: video stream has no frame size (codec {ctx.name!r} unreadable)")
        if ctx.width * ctx.height > MAX_PIXELS:
            raise VideoError(
                f"{path}: {ctx.width}x{ctx.height} frames exceed posekit's {MAX_PIXELS // 10**6} Mpixel limit; "
                "downscale the video first (e.g. ffmpeg -vf scale=-2:2160)"
            )
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        return VideoInfo(path, ctx.width, ctx.height, float(rate), int(stream.frames or 0), ctx.name)


def iter_frames(path: Path, fps: float | None = None, max_frames: int | None = None) -> Iterator[Frame]:
    """Decode frames of ``path`` in order, keeping one every ``1/fps`` seconds of stream time.

    ``time`` comes from each frame's presentation timestamp, so variable frame rate videos
    keep their true timing; frames without a timestamp get one from the average rate.
    Raises :class:`VideoError` when decoding breaks (corrupt or truncated data).
    """
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        step = 1.0 / fps if fps else 0.0
        next_time = None
        kept = 0
        index = -1
        start = None
        try:
            for frame in container.decode(stream):
                index += 1
                t = float(frame.time) if frame.time is not None else index / rate
                start = t if start is None else start
                t -= start
                if step:
                    if next_time is not None and t + 1e-6 < next_time:
                        continue
                    next_time = next_time + step if next_time is not None else t + step
                    next_time = max(next_time, t + step / 2)
                yield Frame(index, t, frame.to_ndarray(format="rgb24"))
                kept += 1
                if max_frames is not None and kept >= max_frames:
                    return
        except av.error.FFmpegError as exc:
            raise VideoError(f"{path}: decoding failed after {index + 1} frames ({_reason(exc)})") from None
    finally:
        container.close()


class Prefetcher:
    """Run an iterator in a background thread, ``depth`` items ahead (bounded memory).

    Exceptions raised by the producer are re-raised in the consumer at the point they occurred.
    """

    _DONE = object()

    def __init__(self, iterator: Iterator, depth: int = 8) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(iterator,), daemon=True)
        self._thread.start()

    def _run(self, iterator: Iterator) -> None:
        try:
            for item in iterator:
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._put_final(self._DONE)
        except BaseException as exc:
            self._put_final(exc)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def _put_final(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator:
        try:
            while True:
                item = self._queue.get()
                if item is self._DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def batched_frames(frames: Iterator[Frame], batch_size: int) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
