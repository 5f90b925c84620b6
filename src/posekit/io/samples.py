"""What a training sample is made of, without torch: labels of clips, temporal windows, screen coordinates.

:mod:`posekit.io.torch_dataset` and :mod:`posekit.io.streaming` turn these into tensors; the exports and the
dataset builders use them without importing torch (so commands that train nothing start fast). The label
sidecars (``labels.json``, ``labels.csv``, ``dataset.json``) are described in :mod:`posekit.io.torch_dataset`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from posekit.core.errors import ConfigError
from posekit.io.shards import list_shards
from posekit.skeleton.convert import convert_keypoints
from posekit.skeleton.features import bone_parents
from posekit.skeleton.layouts import LAYOUTS, POSETICS17, JointLayout, get_layout
from posekit.skeleton.records import SkeletonClip

LABELS_JSON = "labels.json"


LABELS_CSV = "labels.csv"


DATASET_JSON = "dataset.json"


PAD_MODES = ("loop", "zero")


COORDS = ("2d", "3d")
"""``2d``: the tracks' ``keypoints`` (pixels, screen-normalised by the readers); ``3d``: their ``keypoints_3d``."""

NORMALISATIONS = ("none", "unik")
"""``none``: screen coordinates (2D) or the shards' 3D unit as they are; ``unik``: the authors' pre-normalisation
(:func:`posekit.skeleton.normalise.unik_normalise`)."""


@dataclass(frozen=True)
class LabelMap:
    """Class names (index = position) and the class name of each clip id."""

    classes: tuple[str, ...]
    clips: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted({name for name in self.clips.values()} - set(self.classes))
        if unknown:
            raise ConfigError(f"labels name classes that are not in the class list: {unknown[:5]}")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def index(self, name: str) -> int:
        return self.classes.index(name)

    def label_of(self, clip_id: str) -> int:
        """Class index of ``clip_id``; -1 when the clip has no label."""
        name = self.clips.get(clip_id)
        return -1 if name is None else self.classes.index(name)

    def save(self, path: Path) -> None:
        """Write ``labels.json`` (see the module docstring)."""
        Path(path).write_text(json.dumps({"classes": list(self.classes), "clips": dict(self.clips)}, indent=1))

    @classmethod
    def from_shards(cls, paths: Sequence[Path], classes: Sequence[str] | None = None) -> LabelMap:
        """Labels from the ``label`` column of the skeletons shards under ``paths`` (only the
        ``clip_id`` and ``label`` columns are read); ``classes`` default to the sorted labels."""
        clips: dict[str, str] = {}
        for folder in paths:
            for shard in list_shards(Path(folder), "skeletons"):
                if "label" not in pq.read_schema(shard).names:
                    continue
                table = pq.read_table(shard, columns=["clip_id", "label"])
                for cid, name in zip(table.column("clip_id").to_pylist(), table.column("label").to_pylist()):
                    if name is not None:
                        clips.setdefault(cid, name)
        return cls(tuple(classes) if classes is not None else tuple(sorted(set(clips.values()))), clips)

    @classmethod
    def load(cls, path: Path) -> LabelMap:
        """Read ``labels.json``, ``labels.csv`` (``clip_id,label``) or a built dataset's
        ``dataset.json`` (classes from it, clips from the label column of its split folders)."""
        path = Path(path)
        if path.name == DATASET_JSON:
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
                folders = [path.parent / split.get("folder", name) for name, split in doc["splits"].items()]
                return cls.from_shards(folders, doc["classes"])
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ConfigError(f"cannot read labels from {path}: {exc}") from exc
        try:
            if path.suffix == ".csv":
                with open(path, newline="") as fh:
                    rows = list(csv.DictReader(fh))
                if rows and not {"clip_id", "label"} <= set(rows[0]):
                    raise ConfigError(f"{path}: a labels CSV needs the columns clip_id,label")
                clips = {r["clip_id"]: r["label"] for r in rows}
                return cls(tuple(sorted(set(clips.values()))), clips)
            data = json.loads(path.read_text())
            return cls(tuple(data["classes"]), dict(data.get("clips", {})))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"cannot read labels {path}: {exc}") from exc


def find_labels(data: Path) -> Path | None:
    """The labels sidecar for shards at ``data`` (a folder or a shard file), if there is one."""
    data = Path(data)
    folder = data.parent if data.is_file() else data
    for where in (folder, folder.parent):
        for name in (LABELS_JSON, LABELS_CSV, DATASET_JSON):
            if (where / name).is_file():
                return where / name
    return None


def resolve_labels(labels: LabelMap | Path | str | None, path: Path, shards: Sequence[Path]) -> LabelMap | None:
    """The :class:`LabelMap` that ``labels`` (``"auto"``, a path, a map or None) names for ``path``."""
    if isinstance(labels, str) and labels == "auto":
        found = find_labels(path)
        if found is not None:
            return LabelMap.load(found)
        if any("label" in pq.read_schema(s).names for s in shards):
            return LabelMap.from_shards([path])
        return None
    if isinstance(labels, (str, Path)):
        return LabelMap.load(Path(labels))
    return labels


def normalise_screen(keypoints: np.ndarray, width: float, height: float) -> np.ndarray:
    """``(..., 2)`` pixels -> coordinates in ``[-1, 1]`` keeping the aspect ratio (step 3 above)."""
    scale = max(float(width), float(height), 1.0) / 2.0
    centre = np.array([width / 2.0, height / 2.0], dtype=np.float32)
    return ((keypoints - centre) / scale).astype(np.float32)


def window_indices(num_frames: int, window: int, start: int, pad: str) -> np.ndarray:
    """``(window,)`` frame positions from ``start``; -1 marks a padded (missing) frame."""
    if pad not in PAD_MODES:
        raise ValueError(f"pad must be one of {PAD_MODES}, got {pad!r}")
    if num_frames == 0:
        return np.full(window, -1, dtype=np.int64)
    if num_frames >= window:
        return np.arange(start, start + window, dtype=np.int64)
    idx = np.arange(window, dtype=np.int64)
    return idx % num_frames if pad == "loop" else np.where(idx < num_frames, idx, -1)


def has_bone_tree(layout: JointLayout) -> bool:
    """Whether the layout's bones form a tree rooted at its centre joint (what the bone stream needs)."""
    try:
        bone_parents(layout)
    except ValueError:
        return False
    return True


def item_layout(requested: JointLayout | str | None, stored: JointLayout, where: Path | str) -> JointLayout:
    """The layout of the items read from shards stored in ``stored`` (found at ``where``).

    ``requested``: a layout, its name or a layout file (the joints are converted to it), None (the shards' own)
    or ``"auto"`` (the shards' own when its bones form a tree rooted at its centre, as in ``ntu25`` or
    ``posetics17``; otherwise Posetics-17, the thesis' 17 joints). Shards in a layout posekit does not know
    need their layout file as ``requested``; otherwise a one-line :class:`ConfigError`, since their joints could
    be neither converted nor checked.
    """
    if isinstance(requested, str) and requested not in ("auto", stored.name):
        try:
            requested = get_layout(requested)
        except ConfigError as exc:
            raise ConfigError(f"--layout: {exc}") from None
    declared = isinstance(requested, JointLayout) and (requested.name, requested.joints) == (stored.name, stored.joints)
    if stored.name not in LAYOUTS and not declared:
        raise ConfigError(
            f"{where}: the shards' joint layout {stored.name!r} is not one posekit knows ({', '.join(LAYOUTS)}); "
            f"pass its layout file (--layout {stored.name}.yaml: name, joints, bones, center) or convert the shards"
        )
    if isinstance(requested, JointLayout):
        return requested
    if requested is None or requested == stored.name:
        return stored
    return stored if has_bone_tree(stored) else POSETICS17


def clip_joints(
    clip: SkeletonClip,
    src: JointLayout,
    layout: JointLayout,
    max_persons: int = 2,
    center: bool = False,
    coords: str = "2d",
) -> np.ndarray:
    """``(C, T, V, M)`` float32 joints of ``clip`` (steps 1-3 of the module docstring), NaN = missing.

    ``coords="2d"``: ``C = 2`` screen coordinates in ``[-1, 1]``; ``"3d"``: ``C = 3``, the tracks' 3D joints in
    the shard's ``coordinates_3d`` unit (metres for NTU), not rescaled."""
    M, T, C = max_persons, clip.num_frames, 3 if coords == "3d" else 2
    if clip.tracks:
        kp = clip.to_array(max_persons=M, coords=coords).transpose(3, 1, 2, 0)
    else:
        kp = np.full((M, T, src.num_joints, C), np.nan, np.float32)
    kp, _ = convert_keypoints(kp, None, src, layout)
    if coords == "2d":
        kp = normalise_screen(kp, clip.width, clip.height)
    if center:
        body = kp[0, :, layout.center]
        if np.isfinite(body).any():
            kp = kp - np.nanmean(body, axis=0)
    return np.ascontiguousarray(kp.transpose(3, 1, 2, 0))


def window_start(window: int | None, num_frames: int, train: bool, key: tuple[int, int, int]) -> int:
    """First frame of a window: centred for evaluation, random from ``(seed, epoch, index)`` for training."""
    if window is None or num_frames <= window:
        return 0
    if not train:
        return (num_frames - window) // 2
    return int(np.random.default_rng(list(key)).integers(0, num_frames - window + 1))
