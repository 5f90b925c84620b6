"""What a run takes as input: videos, single images and folders of frames, each one clip.

Under an input folder (searched recursively):
- every video file is a clip, its id the path relative to the root (``a/b.mp4``);
- a folder whose media files are all images (no video beside them) is a folder of frames, one
  clip whose frame ``i`` is its ``i``-th image in natural order (:mod:`posekit.io.images`), the
  same clip whether the folder is named itself (its id is its name) or found under the named
  folder (its id is its path relative to it: ``seq01``, PoseTrack style);
- any other image (beside videos) is a 1-frame clip whose id is its path relative to the root;
- with ``photos`` (``--photos``), every image is a 1-frame clip (``000000000785.jpg``, COCO style).
A clip id therefore maps a COCO or PoseTrack ``file_name`` onto (clip, frame) without renaming.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from posekit.core.errors import ConfigError
from posekit.io.images import IMAGE_EXTENSIONS, frame_files, is_image, iter_images, probe_images
from posekit.io.video import (
    VIDEO_EXTENSIONS,
    DecodeEnd,
    Frame,
    VideoInfo,
    VideoInput,
    iter_frames,
    probe_video,
)

LIST_SUFFIXES = (".txt", ".lst")
"""An input file with one of these suffixes is a list of input paths, one a line."""

InputKind = Literal["video", "image", "frames"]


def _is_video(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() in VIDEO_EXTENSIONS


def input_kind(path: Path) -> InputKind:
    """``frames`` for a folder, ``image`` for an image file, ``video`` for anything else."""
    if Path(path).is_dir():
        return "frames"
    return "image" if Path(path).suffix.lower() in IMAGE_EXTENSIONS else "video"


def find_inputs(root: Path, photos: bool = False) -> tuple[list[VideoInput], list[tuple[VideoInput, str]]]:
    """The clips at ``root`` (a file, a list file, or a folder searched recursively), sorted by id.

    A folder holding images and no video is a folder of frames, one clip, whether it is ``root`` itself
    (its id is its name, as when its parent is named) or a folder under it; with ``photos`` every image
    is a 1-frame clip instead (COCO-style photo folders).

    Returns the inputs and, for each sub-folder that could not be read, that folder (as an
    input with its relative id) and the reason, so it is reported without stopping the rest.
    Symbolic links to files are listed (with the real path as ``file_key``); a link to a folder
    is a folder of frames when it holds images only, and is otherwise not followed.
    """
    root = Path(root)
    if root.is_file():
        if root.suffix.lower() in LIST_SUFFIXES:
            return read_input_list(root), []
        return [VideoInput(root, root.name, os.path.realpath(root))], []
    if not root.exists():
        raise ConfigError(f"input not found: {root} (give a video or image file, a .txt list of them, or a folder)")
    if not os.access(root, os.R_OK | os.X_OK):
        raise ConfigError(f"input folder {root} is not readable (permission denied)")
    real_root = os.path.realpath(root)
    found: list[VideoInput] = []
    problems: list[tuple[VideoInput, str]] = []
    folders = [root]
    while folders:
        folder = folders.pop()
        relative_folder = folder.relative_to(root).as_posix()
        try:
            with os.scandir(folder) as entries:
                listed = sorted(entries, key=lambda e: e.name)
        except OSError as err:
            problems.append(
                (VideoInput(folder, relative_folder + "/"), f"{folder}: cannot list folder ({err.strerror})")
            )
            continue
        listed = _usable_entries(folder, root, listed, problems)
        files = [e for e in listed if not e.is_dir()]
        if not photos and _holds_frames(e.name for e in files):
            clip_id = Path(real_root).name if folder == root else relative_folder
            found.append(VideoInput(folder, clip_id, real_root if folder == root else f"{real_root}/{relative_folder}"))
            files = []
        for entry in listed:
            if entry.is_dir(follow_symlinks=False):
                folders.append(folder / entry.name)
            elif not photos and entry.is_symlink() and entry.is_dir() and _is_frame_folder(folder / entry.name):
                path = folder / entry.name
                found.append(VideoInput(path, path.relative_to(root).as_posix(), os.path.realpath(path)))
        for entry in files:
            if _is_video(entry.name) or is_image(entry.name):
                path = folder / entry.name
                relative = path.relative_to(root).as_posix()
                # Only links need resolving (one system call each); the others are named by the root.
                key = os.path.realpath(path) if entry.is_symlink() else f"{real_root}/{relative}"
                found.append(VideoInput(path, relative, key))
    found.sort(key=lambda v: v.clip_id)
    return found, problems


def printable_name(name: str) -> str:
    """``name`` as text: the bytes of a file name that is not valid UTF-8 shown as ``\\xNN`` escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _usable_entries(
    folder: Path, root: Path, listed: list[os.DirEntry], problems: list[tuple[VideoInput, str]]
) -> list[os.DirEntry]:
    """The entries of ``folder`` that can be told apart and named; each other one goes to ``problems`` with its
    one line: a name that is not valid UTF-8 (shards and manifests hold text), a symbolic link loop."""
    usable = []
    for entry in listed:
        path = folder / entry.name
        relative = printable_name(path.relative_to(root).as_posix())
        if relative != path.relative_to(root).as_posix():
            reason = f"{printable_name(str(path))}: the file name is not valid UTF-8; rename it (e.g. convmv -t utf8)"
        else:
            try:
                entry.is_dir()
                usable.append(entry)
                continue
            except OSError as err:
                reason = (
                    f"{path}: cannot be followed ({err.strerror or err}: a symbolic link loop?); fix or remove the link"
                )
        problems.append((VideoInput(path, relative), reason))
    return usable


def _holds_frames(names: Iterator[str]) -> bool:
    """Whether file names include an image and no video (a folder of frames)."""
    images = False
    for name in names:
        if _is_video(name):
            return False
        images = images or is_image(name)
    return images


def _is_frame_folder(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return _holds_frames(e.name for e in entries if not e.is_dir())
    except OSError:
        return False


def read_input_list(list_file: Path) -> list[VideoInput]:
    """The inputs named in ``list_file``, one path a line (blank lines and ``#`` comments skipped).

    Each line is a video, an image or a folder of frames. Relative paths are relative to the
    list's folder, and a clip's id is its path relative to that folder (an absolute path outside
    it is its own id). Order and repeats are kept; :func:`unique_inputs` drops the repeats.
    """
    base = Path(os.path.abspath(Path(list_file).parent))
    try:
        lines = Path(list_file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the input list {list_file}: {exc}") from exc
    inputs = []
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        path = Path(os.path.normpath(base / Path(text).expanduser()))
        clip_id = path.relative_to(base).as_posix() if path.is_relative_to(base) else path.as_posix()
        inputs.append(VideoInput(path, clip_id, os.path.realpath(path)))
    return inputs


def unique_inputs(inputs: list[VideoInput]) -> tuple[list[VideoInput], list[tuple[VideoInput, str]]]:
    """Keep the first input of each clip id and of each file; return the others with the reason.

    The same clip id listed twice is dropped silently; a second name of an already listed
    file (a symbolic link, a list naming it twice) is returned with the clip id it repeats,
    so that it is recorded once as ``skipped`` and extracted only under the first name.
    """
    ids: set[str] = set()
    files: dict[str, str] = {}
    unique: list[VideoInput] = []
    repeats: list[tuple[VideoInput, str]] = []
    for item in inputs:
        if item.clip_id in ids:
            continue
        ids.add(item.clip_id)
        key = item.file_key or os.path.realpath(item.path)
        if key in files:
            repeats.append((item, f"{item.path}: same file as clip {files[key]!r}, extracted once under that id"))
            continue
        files[key] = item.clip_id
        unique.append(item)
    return unique, repeats


def probe_input(path: Path, frame_rate: float, max_pixels: int | None = None) -> VideoInfo:
    """Size, rate and frame count of one input; ``frame_rate`` is the time base of images (frames/s); a frame size
    over ``max_pixels`` (default :data:`~posekit.io.video.MAX_PIXELS`) is refused from the header.

    Raises :class:`~posekit.core.errors.VideoError` naming the file when it cannot be used.
    """
    kind = input_kind(path)
    if kind == "video":
        return probe_video(path, max_pixels)
    files = frame_files(path) if kind == "frames" else [Path(path)]
    return probe_images(files, Path(path), frame_rate, max_pixels)


def iter_input_frames(
    path: Path, info: VideoInfo, fps: float | None = None, max_frames: int | None = None, end: DecodeEnd | None = None
) -> Iterator[Frame]:
    """The frames of the input ``path`` probed as ``info``, one every ``1/fps`` seconds, at most ``max_frames``.

    ``end`` is filled in for a video (:func:`posekit.io.video.iter_frames`); images leave it as it is.
    """
    if not info.frame_files:
        return iter_frames(path, fps, max_frames, end)
    folder = Path(path) if input_kind(path) == "frames" else Path(path).parent
    return iter_images([folder / name for name in info.frame_files], info, fps, max_frames)
