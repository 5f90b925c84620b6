"""Video inputs: finding them, probing them and streaming their frames (PyAV).

Frames are decoded one at a time and never held as a whole video; a background thread
decodes ahead into a small bounded queue so that decoding overlaps with inference.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from posekit.core.errors import ConfigError, VideoError

MAX_PIXELS = 8192 * 8192
"""Larger frames are refused: a decoding queue of them would need gigabytes."""

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts")


@dataclass(frozen=True)
class VideoInput:
    """One video to process: its path and its id (the path relative to the input root).

    ``file_key`` names the file itself (its real path): two inputs with the same key are one
    file reached by two names (a symlink, a list that names it twice); empty means ``path``.
    """

    path: Path
    clip_id: str
    file_key: str = field(default="", compare=False)


LIST_SUFFIXES = (".txt", ".lst")
"""An input file with one of these suffixes is a list of video paths, one a line."""


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
    """Videos at ``root`` (a file, a list file, or a folder searched recursively), sorted by id.

    Returns the inputs and, for each sub-folder that could not be read, that folder (as an
    input with its relative id) and the reason, so it is reported without stopping the rest.
    Symbolic links to files are listed (with the real path as ``file_key``); links to folders
    are not followed.
    """
    root = Path(root)
    if root.is_file():
        if root.suffix.lower() in LIST_SUFFIXES:
            return read_input_list(root), []
        return [VideoInput(root, root.name, os.path.realpath(root))], []
    if not root.exists():
        raise ConfigError(f"input not found: {root} (give a video file, a .txt list of videos or a folder)")
    if not os.access(root, os.R_OK | os.X_OK):
        raise ConfigError(f"input folder {root} is not readable (permission denied)")
    real_root = os.path.realpath(root)
    found: list[VideoInput] = []
    problems: list[tuple[VideoInput, str]] = []
    exts = {e.lower() for e in extensions}
    folders = [root]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as entries:
                listed = sorted(entries, key=lambda e: e.name)
        except OSError as err:
            relative = folder.relative_to(root).as_posix()
            problems.append((VideoInput(folder, relative + "/"), f"{folder}: cannot list folder ({err.strerror})"))
            continue
        for entry in listed:
            if entry.is_dir(follow_symlinks=False):
                folders.append(folder / entry.name)
            elif Path(entry.name).suffix.lower() in exts and not entry.name.startswith("."):
                path = folder / entry.name
                relative = path.relative_to(root).as_posix()
                # Only links need resolving (one system call each); the others are named by the root.
                key = os.path.realpath(path) if entry.is_symlink() else f"{real_root}/{relative}"
                found.append(VideoInput(path, relative, key))
    found.sort(key=lambda v: v.clip_id)
    return found, problems


def read_input_list(list_file: Path) -> list[VideoInput]:
    """The videos named in ``list_file``, one path a line (blank lines and ``#`` comments skipped).

    Relative paths are relative to the list's folder, and a clip's id is its path relative to
    that folder (an absolute path outside it is its own id). Order and repeats are kept;
    :func:`unique_videos` drops the repeats.
    """
    base = Path(os.path.abspath(Path(list_file).parent))
    try:
        lines = Path(list_file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the input list {list_file}: {exc}") from exc
    videos = []
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        path = Path(os.path.normpath(base / Path(text).expanduser()))
        clip_id = path.relative_to(base).as_posix() if path.is_relative_to(base) else path.as_posix()
        videos.append(VideoInput(path, clip_id, os.path.realpath(path)))
    return videos


def unique_videos(videos: list[VideoInput]) -> tuple[list[VideoInput], list[tuple[VideoInput, str]]]:
    """Keep the first input of each clip id and of each file; return the others with the reason.

    The same clip id listed twice is dropped silently; a second name of an already listed
    file (a symbolic link, a list naming it twice) is returned with the clip id it repeats,
    so that it is recorded once as ``skipped`` and extracted only under the first name.
    """
    ids: set[str] = set()
    files: dict[str, str] = {}
    unique: list[VideoInput] = []
    repeats: list[tuple[VideoInput, str]] = []
    for video in videos:
        if video.clip_id in ids:
            continue
        ids.add(video.clip_id)
        key = video.file_key or os.path.realpath(video.path)
        if key in files:
            repeats.append((video, f"{video.path}: same file as clip {files[key]!r}, extracted once under that id"))
            continue
        files[key] = video.clip_id
        unique.append(video)
    return unique, repeats


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


def write_lossless(out: Path, images: Iterable[np.ndarray], info: VideoInfo) -> int:
    """Encode ``(H, W, 3)`` uint8 RGB ``images`` to the FFV1 video ``out`` at ``info``'s size and rate.

    FFV1 in RGB is lossless, so the pixels decode exactly as given. Returns the frames written.
    """
    rate = Fraction(info.fps).limit_denominator(1001) if info.fps > 0 else Fraction(25)
    written = 0
    with av.open(str(out), mode="w") as container:
        stream = container.add_stream("ffv1", rate=rate)
        stream.width, stream.height, stream.pix_fmt = info.width, info.height, "bgr0"
        for image in images:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
            written += 1
        for packet in stream.encode():
            container.mux(packet)
    return written


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
