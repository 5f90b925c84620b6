"""Image inputs: a single image is a 1-frame clip, a folder of frames is one clip.

A folder's frames are its image files in natural order (``2.jpg`` before ``10.jpg``); a
frame's index is its position in that order and its time is ``index / frame_rate``. Pixels
are taken upright, as every viewer shows them: an image's EXIF orientation is applied (as a
video's display matrix is), and its size is checked from the header before any decoding.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
import PIL.Image

from posekit.core.errors import VideoError
from posekit.core.options import check_bounds
from posekit.io.video import Frame, FrameSampler, Orientation, VideoInfo, check_frame_size

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

    photos: bool = field(
        default=False,
        metadata={
            "help": "The images are separate photos: each image is a 1-frame clip (COCO style). By default a folder "
            "holding only images is one clip of frames, whether it is named or found under the input."
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


PILLOW_FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "TIFF")
"""The formats of :data:`IMAGE_EXTENSIONS`, as Pillow names them (its header reader for each)."""
UNREADABLE = "not a readable image (empty, corrupt, or not the format its name says)"
EXIF_ORIENTATION_TAG = 0x0112
EXIF_ORIENTATIONS = {
    1: Orientation(),
    2: Orientation(flip_cols=True),
    3: Orientation(flip_rows=True, flip_cols=True),
    4: Orientation(flip_rows=True),
    5: Orientation(transpose=True),
    6: Orientation(transpose=True, flip_cols=True),
    7: Orientation(transpose=True, flip_rows=True, flip_cols=True),
    8: Orientation(transpose=True, flip_rows=True),
}
"""The EXIF orientation values (TIFF 6.0 tag 274) as the transform from stored pixels to the upright picture."""


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says: its upright size (pixels) and EXIF orientation (1: stored upright)."""

    width: int
    height: int
    exif_orientation: int = 1

    @property
    def orientation(self) -> Orientation:
        return EXIF_ORIENTATIONS[self.exif_orientation]


def read_header(path: Path) -> ImageHeader:
    """The header of the image file ``path``, read without decoding its pixels (its size can be checked before
    anything is decoded); :class:`VideoError` when it is unreadable."""
    try:
        with open(path, "rb") as file:
            width, height, tag = _parse_header(file)
    except FileNotFoundError:
        raise VideoError(f"{path}: file not found") from None
    except PermissionError:
        raise VideoError(f"{path}: cannot read the image (permission denied)") from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise VideoError(f"{path}: {UNREADABLE}") from None
    orientation = EXIF_ORIENTATIONS.get(tag, Orientation())
    width, height = orientation.size(width, height)
    return ImageHeader(width, height, tag if tag in EXIF_ORIENTATIONS else 1)


def _parse_header(file: BinaryIO) -> tuple[int, int, int]:
    """``(width, height, EXIF orientation)`` as stored, from the header parser of the Pillow format that takes the
    file (Pillow's own parsers, called directly: ``Image.open`` may be patched by other packages to fetch plugins).

    A PNG's EXIF is read only from the chunks before its pixels: Pillow decodes the whole image to look further.
    """
    PIL.Image.init()
    prefix = file.read(16)
    for name in PILLOW_FORMATS:
        factory, accept = PIL.Image.OPEN[name]
        if accept is not None and not accept(prefix):
            continue
        file.seek(0)
        image = factory(file, "")
        if name == "PNG":
            exif = PIL.Image.Exif()
            if "exif" in image.info:
                exif.load(image.info["exif"])
        else:
            exif = image.getexif()
        return *image.size, int(exif.get(EXIF_ORIENTATION_TAG, 1) or 1)
    raise SyntaxError("no image format takes the file")


def read_image(path: Path, max_pixels: int | None = None) -> np.ndarray:
    """The upright ``(H, W, 3)`` uint8 RGB pixels of the image file ``path`` (its EXIF orientation applied, as
    viewers show it); its size is checked from the header against ``max_pixels`` (default
    :data:`~posekit.io.video.MAX_PIXELS`) before decoding. :class:`VideoError` if unreadable or too large."""
    header = read_header(path)
    check_frame_size(path, header.width, header.height, max_pixels)
    return decode_image(path, header)


def decode_image(path: Path, header: ImageHeader) -> np.ndarray:
    """The upright ``(H, W, 3)`` uint8 RGB pixels of the image file ``path`` whose header is ``header``."""
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as exc:
        raise VideoError(f"{path}: cannot read the image ({exc.strerror or exc})") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION) if data.size else None
    if image is None:
        raise VideoError(f"{path}: {UNREADABLE}")
    return header.orientation.apply(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def probe_images(files: Sequence[Path], source: Path, frame_rate: float, max_pixels: int | None = None) -> VideoInfo:
    """The clip of ``files`` (one image, or a folder's frames) at ``frame_rate``: size of the first frame, checked
    from its header against ``max_pixels`` (default :data:`~posekit.io.video.MAX_PIXELS`)."""
    header = read_header(files[0])
    check_frame_size(files[0], header.width, header.height, max_pixels)
    names = tuple(f.name for f in files)
    size = (header.width, header.height)
    return VideoInfo(source, *size, float(frame_rate), len(files), "image", names, header.exif_orientation)


def iter_images(
    files: Sequence[Path],
    info: VideoInfo,
    fps: float | None = None,
    max_frames: int | None = None,
) -> Iterator[Frame]:
    """Decode ``files`` as the frames of one clip, keeping one every ``1/fps`` seconds at ``info.fps``.

    Frame ``i`` is at ``i / info.fps`` seconds. Raises :class:`VideoError` naming the file when an
    image is unreadable or its size differs from ``info`` (the first frame's, read from its header before decoding).
    """
    sampler = FrameSampler(fps)
    kept = 0
    for index, path in enumerate(files):
        time = index / info.fps
        if not sampler.keep(time):
            continue
        header = read_header(path)
        if (header.height, header.width) != (info.height, info.width):
            raise VideoError(
                f"{path}: {header.width}x{header.height} differs from the first frame {files[0].name} "
                f"({info.width}x{info.height}); a folder of frames holds one size (give differently sized "
                "images in a .txt list to extract each as its own clip)"
            )
        yield Frame(index, time, decode_image(path, header))
        kept += 1
        if max_frames is not None and kept >= max_frames:
            return
