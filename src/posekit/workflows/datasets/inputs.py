"""Labelled video collections: a Kinetics-style CSV, a folder per class, or a list file.

Each input becomes an :class:`AnnotatedClip` whose ``clip_id`` is the video's path relative
to the videos root (the id ``posekit extract`` gives it), so extraction results, existing
shards and captions can all be matched to it. Clips listed but not found are kept as
problems (reported and skipped), never as errors that stop the build.
"""

from __future__ import annotations

import csv
import os
import string
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from posekit.core.errors import ConfigError
from posekit.io.images import IMAGE_EXTENSIONS
from posekit.io.inputs import find_inputs
from posekit.io.video import VIDEO_EXTENSIONS

KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end")
KINETICS_PATTERN = "{youtube_id}_{time_start:06d}_{time_end:06d}"
SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validate": "val"}
SPLIT_NAMES |= {"validation": "val", "test": "test", "testing": "test"}


def normalise_split(name: str | None) -> str | None:
    """``validate`` -> ``val`` (Kinetics CSVs), ``training`` -> ``train``, ...; other names kept."""
    if name is None or not name.strip():
        return None
    return SPLIT_NAMES.get(name.strip().lower(), name.strip())


@dataclass
class AnnotatedClip:
    """One labelled input.

    Attributes:
        clip_id: path of the video relative to the videos root when found, else the name the
            annotations give it (a CSV's formatted pattern, a list file's path).
        label: the annotation's label, before any label map.
        split: ``train``/``val``/``test`` when the annotations say, else None.
        path: the video file, None when not found.
        aliases: other keys that name this clip (file stem, YouTube id) to match shards and captions.
    """

    clip_id: str
    label: str
    split: str | None = None
    path: Path | None = None
    aliases: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.clip_id, *self.aliases)


@dataclass
class Collection:
    """The labelled clips of an input, and the inputs that could not be used (key, reason)."""

    clips: list[AnnotatedClip]
    format: str
    source: str
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def labels(self) -> set[str]:
        return {c.label for c in self.clips}


class _VideoIndex:
    """Videos under a root, by relative path and by file stem (one walk of the folder)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.by_id: dict[str, Path] = {}
        self.by_stem: dict[str, list[str]] = {}
        if root is None:
            return
        if not root.is_dir():
            raise ConfigError(f"--videos {root} is not a folder")
        videos, _ = find_inputs(root)
        for v in videos:
            self.by_id[v.clip_id] = v.path
            self.by_stem.setdefault(Path(v.clip_id).stem, []).append(v.clip_id)

    def find(self, name: str) -> str | None:
        """The clip id of ``name`` (a relative path, or a file stem), if the folder has it."""
        if name in self.by_id:
            return name
        media = Path(name).suffix.lower() in (*VIDEO_EXTENSIONS, *IMAGE_EXTENSIONS)
        hits = self.by_stem.get(Path(name).stem if media else name, [])
        return hits[0] if hits else None


def _dedupe(clips: Iterable[AnnotatedClip], problems: list[tuple[str, str]]) -> list[AnnotatedClip]:
    seen: set[str] = set()
    out = []
    for clip in clips:
        if clip.clip_id in seen:
            problems.append((clip.clip_id, "listed twice in the annotations; the first entry is used"))
            continue
        seen.add(clip.clip_id)
        out.append(clip)
    return out


def _resolve(name: str, label: str, split: str | None, index: _VideoIndex, aliases: tuple[str, ...]) -> AnnotatedClip:
    found = index.find(name)
    if found is None:
        return AnnotatedClip(name, label, split, None, aliases)
    stem = Path(found).stem
    extra = tuple(dict.fromkeys(a for a in (name, stem, *aliases) if a != found))
    return AnnotatedClip(found, label, split, index.by_id[found], extra)


def read_kinetics_csv(csv_path: Path, videos: Path | None, pattern: str = KINETICS_PATTERN) -> Collection:
    """A Kinetics annotation CSV (``label,youtube_id,time_start,time_end[,split]``).

    A clip's video is ``pattern`` formatted with the row (``time_*`` as integers) and found
    under ``videos`` by relative path (a pattern with an extension or folders) or by stem.
    """
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = [c.strip() for c in (reader.fieldnames or [])]
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"cannot read annotations {csv_path}: {exc}") from exc
    missing = [c for c in KINETICS_COLUMNS if c not in header]
    if missing:
        raise ConfigError(
            f"{csv_path}: missing column(s) {', '.join(missing)}; a Kinetics-style CSV has the header "
            "label,youtube_id,time_start,time_end[,split]"
        )
    fields = {name for _, name, _, _ in string.Formatter().parse(pattern) if name}
    unknown = sorted(fields - set(header))
    if unknown:
        raise ConfigError(f"--pattern {pattern!r} names {unknown}, which are not columns of {csv_path}")
    index = _VideoIndex(videos)
    clips, problems = [], []
    for n, raw in enumerate(rows, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not row.get("label"):
            problems.append((f"{csv_path.name}:{n}", "no label"))
            continue
        try:
            values = {**row, "time_start": int(float(row["time_start"])), "time_end": int(float(row["time_end"]))}
            name = pattern.format(**values)
        except (ValueError, KeyError) as exc:
            problems.append((f"{csv_path.name}:{n}", f"bad row ({exc})"))
            continue
        clip = _resolve(name, row["label"], normalise_split(row.get("split")), index, (row["youtube_id"],))
        clips.append(clip)
    return Collection(_dedupe(clips, problems), "kinetics-csv", str(csv_path), problems)


def read_folder_tree(root: Path) -> Collection:
    """``root/<class>/<video>`` or ``root/<split>/<class>/<video>`` (split: train/val/test...)."""
    index = _VideoIndex(root)
    clips, problems = [], []
    for clip_id, path in sorted(index.by_id.items()):
        parts = Path(clip_id).parts
        split = normalise_split(parts[0]) if len(parts) >= 3 and parts[0].lower() in SPLIT_NAMES else None
        label_parts = parts[1:-1] if split else parts[:-1]
        if not label_parts:
            problems.append((clip_id, "not inside a class folder"))
            continue
        clips.append(AnnotatedClip(clip_id, label_parts[0], split, path, (Path(clip_id).stem,)))
    return Collection(clips, "folder-tree", str(root), problems)


def read_list_file(list_path: Path, videos: Path | None = None) -> Collection:
    """Lines ``path<TAB>label[<TAB>split]`` or ``path label`` (then the path has no spaces and the
    rest of the line is the label); ``#`` comments and blank lines are skipped. Relative paths
    are relative to ``videos`` (default: the list file's folder)."""
    try:
        lines = list_path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read list {list_path}: {exc}") from exc
    root = Path(videos) if videos is not None else list_path.parent
    index = _VideoIndex(root) if root.is_dir() else _VideoIndex(None)
    clips, problems = [], []
    for n, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t") if "\t" in line else line.strip().split(None, 1)
        if len(fields) < 2 or not fields[1].strip():
            problems.append((f"{list_path.name}:{n}", "expected 'path<TAB>label' or 'path label'"))
            continue
        raw, label = fields[0].strip(), fields[1].strip()
        split = normalise_split(fields[2]) if len(fields) > 2 else None
        path = Path(raw) if Path(raw).is_absolute() else root / raw
        if path.is_file():
            try:
                clip_id = path.resolve().relative_to(root.resolve()).as_posix()
            except ValueError:
                clip_id = path.resolve().as_posix().lstrip("/")
            clips.append(AnnotatedClip(clip_id, label, split, path, (path.stem,)))
        else:
            clips.append(_resolve(raw, label, split, index, (Path(raw).stem,)))
    return Collection(_dedupe(clips, problems), "list", str(list_path), problems)


def read_collection(annotations: Path | None, videos: Path | None, pattern: str | None = None) -> Collection:
    """Pick the reader: ``.csv`` annotations, another annotations file (a list), or the videos tree."""
    if annotations is None:
        if videos is None:
            raise ConfigError("give --annotations (CSV or list file) and/or --videos (a folder per class)")
        return read_folder_tree(Path(videos))
    annotations = Path(annotations)
    if not annotations.is_file():
        raise ConfigError(f"annotations {annotations} not found")
    if annotations.suffix.lower() == ".csv":
        return read_kinetics_csv(annotations, Path(videos) if videos else None, pattern or KINETICS_PATTERN)
    return read_list_file(annotations, Path(videos) if videos else None)


def link_inputs(clips: list[AnnotatedClip], folder: Path) -> Path:
    """Make ``folder/<clip_id>`` symlinks to the found videos, so extraction sees exactly these
    clips under their ids. Safe for concurrent array tasks (each link is made atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    for clip in clips:
        if clip.path is None:
            continue
        link = folder / clip.clip_id
        target = clip.path.resolve()
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.with_name(f".link-{os.getpid()}-{uuid.uuid4().hex[:8]}")  # short: any name the OS allows fits
        try:
            tmp.unlink(missing_ok=True)
            os.symlink(target, tmp)
            os.replace(tmp, link)
        except OSError as exc:
            raise ConfigError(f"cannot link {target} into {folder}: {exc.strerror or exc}") from exc
    return folder
