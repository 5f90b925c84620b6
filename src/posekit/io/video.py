"""Video files: probing them and streaming their frames upright (PyAV).

Frames are decoded one at a time and never held as a whole video; a background thread
decodes ahead into a small bounded queue so that decoding overlaps with inference. A
stream's display matrix (the rotation a phone records instead of rotating its pixels) is
applied, so frames, sizes and skeleton coordinates are those of the upright picture.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.sidedata.sidedata import Type as SideDataType

from posekit.core.errors import VideoError

MAX_PIXELS = 8192 * 8192
"""Larger frames are refused: a decoding queue of them would need gigabytes."""

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts")


@dataclass(frozen=True)
class VideoInput:
    """One input clip: its path (a video, an image or a folder of frames) and its id (relative to the input root).

    ``file_key`` names the file itself (its real path): two inputs with the same key are one
    file reached by two names (a symlink, a list that names it twice); empty means ``path``.
    """

    path: Path
    clip_id: str
    file_key: str = field(default="", compare=False)


@dataclass(frozen=True)
class Frame:
    """A decoded frame: ``image`` is ``(H, W, 3)`` uint8 RGB; ``time`` in seconds from the stream start."""

    index: int
    time: float
    image: np.ndarray


@dataclass(frozen=True)
class VideoInfo:
    """A clip's upright frame size (pixels), rate (frames/s) and declared frame count.

    ``frame_files`` names the image file of each frame index of a folder of frames (or the one
    image of an image input); empty for videos.
    """

    path: Path
    width: int
    height: int
    fps: float
    declared_frames: int
    codec: str
    frame_files: tuple[str, ...] = ()
    exif_orientation: int = 0
    """The EXIF orientation (1-8, 1: stored upright) of an image input's first frame, applied; 0 for videos."""


@dataclass(frozen=True)
class Orientation:
    """How to turn stored pixels into the displayed picture: transpose, then mirror rows and/or columns.

    Derived from the display matrix ``[a b u; c d v; x y w]`` that maps a stored pixel ``(x, y)``
    to ``(a x + c y, b x + d y)`` on screen; only the eight axis-aligned transforms (rotations by
    multiples of 90 degrees, with or without a mirror) exist here.
    """

    transpose: bool = False
    flip_rows: bool = False
    flip_cols: bool = False

    @classmethod
    def of_frame(cls, frame: av.VideoFrame, path: Path) -> Orientation:
        """The orientation of ``frame``'s display matrix side data (upright when it has none)."""
        side = frame.side_data.get(SideDataType.DISPLAYMATRIX)
        if side is None:
            return cls()
        a, b, _, c, d = (int(v) for v in np.frombuffer(bytes(side), np.int32)[:5])
        if a == b == c == d == 0:
            return cls()
        if b == 0 and c == 0:
            return cls(False, d < 0, a < 0)
        if a == 0 and d == 0:
            return cls(True, b < 0, c < 0)
        degrees = -float(np.degrees(np.arctan2(b, a)))
        raise VideoError(
            f"{path}: its display matrix rotates by {degrees:.0f} degrees counter-clockwise, not a multiple of 90; "
            "re-encode it upright first (e.g. ffmpeg -i IN -vf rotate=... OUT)"
        )

    @property
    def upright(self) -> bool:
        return not (self.transpose or self.flip_rows or self.flip_cols)

    def size(self, width: int, height: int) -> tuple[int, int]:
        """The displayed ``(width, height)`` of stored ``width x height`` frames."""
        return (height, width) if self.transpose else (width, height)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The displayed ``(H', W', 3)`` picture of a stored ``(H, W, 3)`` image (contiguous)."""
        out = image.transpose(1, 0, 2) if self.transpose else image
        if self.flip_rows:
            out = out[::-1]
        if self.flip_cols:
            out = out[:, ::-1]
        return np.ascontiguousarray(out)


@dataclass
class DecodeEnd:
    """How the decoding of one video ended; :func:`iter_frames` fills it in as it goes.

    Attributes:
        decoded: frames decoded, those the sampler skipped included.
        error: the decoder's reason when the data broke off after some frames (decoding stopped there and the
            frames before were kept); empty when the stream ended cleanly.
        stopped_early: decoding stopped at ``max_frames`` before the stream ended, so the rest was not decoded.
    """

    decoded: int = 0
    error: str = ""
    stopped_early: bool = False


class FrameSampler:
    """Keeps one frame every ``1/fps`` seconds of stream time (every frame when ``fps`` is None)."""

    def __init__(self, fps: float | None) -> None:
        self.step = 1.0 / fps if fps else 0.0
        self.next_time: float | None = None

    def keep(self, time: float) -> bool:
        """Whether the frame at ``time`` seconds is kept (frames must come in time order)."""
        if not self.step:
            return True
        if self.next_time is not None and time + 1e-6 < self.next_time:
            return False
        self.next_time = self.next_time + self.step if self.next_time is not None else time + self.step
        self.next_time = max(self.next_time, time + self.step / 2)
        return True


def check_frame_size(path: Path, width: int, height: int, max_pixels: int | None = None) -> None:
    """Refuse frames over ``max_pixels`` (default :data:`MAX_PIXELS`) with the fix."""
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    if width * height > limit:
        raise VideoError(
            f"{path}: {width}x{height} frames exceed the limit of {limit} pixels (--max-pixels); "
            "downscale it first (e.g. ffmpeg -i IN -vf scale=-2:2160 OUT), or raise --max-pixels"
        )


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


def probe_video(path: Path, max_pixels: int | None = None) -> VideoInfo:
    """Read the stream header and the first frame's orientation; the size is the upright one, checked against
    ``max_pixels`` (default :data:`MAX_PIXELS`).

    Raises :class:`VideoError` if there is no decodable video stream. A first frame that does not
    decode leaves the size as stored (:func:`iter_frames` then reports the failure).
    """
    with _open(path) as container:
        if not container.streams.video:
            raise VideoError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise VideoError(f"{path}: video stream has no frame size (codec {ctx.name!r} unreadable)")
        check_frame_size(path, ctx.width, ctx.height, max_pixels)
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        width, height = _first_orientation(container, stream, path).size(ctx.width, ctx.height)
        return VideoInfo(path, width, height, float(rate), int(stream.frames or 0), ctx.name)


def _first_orientation(container: av.container.InputContainer, stream: av.VideoStream, path: Path) -> Orientation:
    try:
        frame = next(container.decode(stream), None)
    except av.error.FFmpegError:
        return Orientation()
    return Orientation() if frame is None else Orientation.of_frame(frame, path)


def iter_frames(
    path: Path, fps: float | None = None, max_frames: int | None = None, end: DecodeEnd | None = None
) -> Iterator[Frame]:
    """Decode frames of ``path`` in order, upright, keeping one every ``1/fps`` seconds of stream time.

    ``time`` comes from each frame's presentation timestamp, so variable frame rate videos
    keep their true timing; frames without a timestamp, and every frame of an AVI file, get one
    from the average rate (AVI stores no presentation times: FFmpeg derives them from the decode
    order, so the frames of a video with B-frames, such as NTU RGB+D's H.264 AVIs, come out in
    display order with their timestamps permuted, 0.033, 0.067, 0.133, 0.1, ...). The
    first frame's display matrix (:class:`Orientation`) is applied to every frame.
    Raises :class:`VideoError` when decoding breaks (corrupt or truncated data); given ``end``, a break after
    the first frame only ends the frames instead, and ``end`` says how far decoding got and why it stopped.
    """
    keep_on_break = end is not None
    end = end if end is not None else DecodeEnd()
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        by_rate = "avi" in container.format.name.split(",")
        sampler = FrameSampler(fps)
        orientation: Orientation | None = None
        kept = 0
        start = None
        try:
            for frame in container.decode(stream):
                index = end.decoded
                end.decoded += 1
                if orientation is None:
                    orientation = Orientation.of_frame(frame, path)
                t = index / rate if by_rate or frame.time is None else float(frame.time)
                start = t if start is None else start
                t -= start
                if not sampler.keep(t):
                    continue
                image = frame.to_ndarray(format="rgb24")
                yield Frame(index, t, image if orientation.upright else orientation.apply(image))
                kept += 1
                if max_frames is not None and kept >= max_frames:
                    end.stopped_early = True
                    return
        except av.error.FFmpegError as exc:
            reason = f"decoding failed after {end.decoded} frames ({_reason(exc)})"
            if not (kept and keep_on_break):
                raise VideoError(f"{path}: {reason}") from None
            end.error = reason
    finally:
        container.close()


def readable_frames(path: Path) -> int | None:
    """How many frames the file's data reaches, read from packet timestamps near its declared end (none decoded).

    Seeks to two frames before the end its header declares and reads the packets from there to the end of the
    file; in a file cut short the seek cannot get there, so the packets are read from where it stopped (at worst
    the whole file, still without decoding). Frames count from the first packet's timestamp (some AVI files start
    at 1). Returns None when the header declares no frame count or rate.
    """
    with _open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if not stream.frames or not rate or stream.time_base is None:
            return None
        first = next((packet.pts for packet in container.demux(stream) if packet.pts is not None), None)
        if first is None:
            return 0
        target = first + int(Fraction(stream.frames - 2) / rate / stream.time_base)
        with contextlib.suppress(av.error.FFmpegError):
            container.seek(max(first, target), stream=stream, backward=True)
        last = None
        with contextlib.suppress(av.error.FFmpegError):
            for packet in container.demux(stream):
                if packet.pts is not None and packet.size:
                    last = packet.pts if last is None else max(last, packet.pts)
        if last is None:
            return 0
        return round((last - first) * stream.time_base * rate) + 1


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
