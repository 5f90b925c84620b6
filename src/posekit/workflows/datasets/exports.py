"""Exports of skeleton datasets to the formats other trainers read.

- **pyskl / MMAction2** (:func:`export_pyskl`): one pickle ``{"split": {name: [filename, ...]},
  "annotations": [{frame_dir, filename, label, img_shape, original_shape, total_frames, keypoint
  (M, T, V, 2) float32 pixels, keypoint_score (M, T, V) float32, box_score (M, T), valid}, ...],
  "layout": {...}}``, their 2D skeleton annotation format as their Kinetics pickles hold it.
  Persons are the clip's tracks, main persons first (:mod:`posekit.skeleton.persons`); layouts their graphs do
  not know and unlabelled clips are refused unless asked for.
- **NTU-style arrays** (:func:`export_ntu`): ``{split}_data.npy`` ``(N, C, T, V, M)`` float32
  (C = x, y[, score]; screen-normalised as in thesis 3.7.1 or pixels; or x, y, z of the 3D joints; one T
  for every split), with ``{split}_label.npy`` (N,) int64, ``{split}_num_frames.npy``,
  ``{split}_clip_ids.txt`` and ``classes.txt``; written through a memory map, so N is not limited by RAM.
  With ``--normalise unik`` the arrays are those of the UNIK authors' ``data_gen``: ``{split}_data_joint.npy``
  after their pre-normalisation (:func:`posekit.skeleton.normalise.unik_normalise`) and ``{split}_label.pkl``,
  the pickled ``(sample names, labels)`` their feeders read.
- **COCO keypoints** (:func:`export_coco`): ``{split}.json`` with one image per frame
  (``file_name`` ``{clip}/{frame:06d}.jpg`` plus ``clip_id``/``frame_index``, as
  :mod:`posekit.eval.coco` reads it) and one annotation per person and frame (``keypoints``
  ``[x, y, v] * V``, ``num_keypoints``, ``bbox`` xywh, ``area``, ``track_id``, ``score``).
- **COCO results** (:func:`export_coco_results`): the pycocotools results list
  (``[{image_id, category_id, keypoints, score}, ...]``, ``COCO.loadRes`` reads it) of the
  shards' predictions on the images of a ground-truth file, with that file's image ids.

Missing joints (NaN in the shards) become 0 with score / visibility 0 in every format.
The input is a built dataset folder (splits and classes from ``dataset.json``) or any
skeletons folder (one split named after it; labels from a sidecar or a label column). The
pyskl pickle names the one split of a skeletons folder :data:`PLAIN_SPLIT` (``all``): a
folder name says nothing about train or val, and pyskl configs name the split they read.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
import pyarrow.parquet as pq

from posekit.core.errors import ConfigError, ShardError
from posekit.core.files import atomic_path, atomic_write_bytes
from posekit.core.options import check_bounds
from posekit.io.samples import (
    DATASET_JSON,
    LabelMap,
    clip_joints,
    item_layout,
    normalise_screen,
    resolve_labels,
    window_indices,
)
from posekit.io.schema import ShardInfo
from posekit.io.shards import iter_skeleton_clips, list_shards, read_shard_info
from posekit.skeleton.convert import convert_keypoints
from posekit.skeleton.layouts import JointLayout, check_layout_option, get_layout
from posekit.skeleton.normalise import unik_normalise
from posekit.skeleton.records import SkeletonClip

FORMATS = ("pyskl", "ntu", "coco")


@dataclass
class Split:
    """One split to export: its name, shard folder, class list and labels."""

    name: str
    folder: Path
    classes: tuple[str, ...]
    labels: LabelMap | None
    use_column: bool

    def label(self, clip: SkeletonClip) -> int:
        if self.use_column:
            return self.classes.index(clip.label) if clip.label in self.classes else -1
        return self.labels.label_of(clip.clip_id) if self.labels is not None else -1

    def clips(self) -> Iterator[tuple[SkeletonClip, ShardInfo]]:
        return iter_skeleton_clips(self.folder)


def dataset_splits(data: Path) -> list[Split]:
    """The splits of ``data``: a built dataset (``dataset.json``) or a folder of shards."""
    data = Path(data)
    if (data / DATASET_JSON).is_file():
        doc = json.loads((data / DATASET_JSON).read_text(encoding="utf-8"))
        classes = tuple(doc["classes"])
        return [
            Split(name, data / s.get("folder", name), classes, None, True) for name, s in doc.get("splits", {}).items()
        ]
    shards = list_shards(data, "skeletons")
    if not shards:
        raise ShardError(f"no skeletons shards (skeletons-*.parquet) under {data}")
    labels = resolve_labels("auto", data, shards)
    return [Split(data.name or "data", data, labels.classes if labels else (), labels, False)]


def _layout_of(split: Split) -> JointLayout:
    return read_shard_info(list_shards(split.folder, "skeletons")[0]).layout


def person_arrays(
    clip: SkeletonClip, src: JointLayout, dst: JointLayout, max_persons: int | None = None, coords: str = "2d"
) -> tuple[np.ndarray, np.ndarray]:
    """``(M, T, V, 2)`` float32 pixels (``coords="3d"``: ``(M, T, V, 3)`` of ``keypoints_3d``) and ``(M, T, V)``
    float32 scores of the clip's tracks, main person first (all tracks when ``max_persons`` is None; at least
    one, all zero, without any); missing joints are 0 with score 0."""
    M = max(1, len(clip.tracks) if max_persons is None else max_persons)
    D = 3 if coords == "3d" else 2
    arr = clip.to_array(max_persons=M, with_scores=True, coords=coords).transpose(3, 1, 2, 0)  # (M, T, V, D + 1)
    if arr.shape[2] == 0:
        arr = np.full((M, clip.num_frames, src.num_joints, D + 1), np.nan, np.float32)
    kp, sc = convert_keypoints(arr[..., :D], arr[..., D], src, dst)
    missing = np.isnan(kp).any(-1) | np.isnan(sc)
    kp = np.where(missing[..., None], 0.0, kp).astype(np.float32)
    sc = np.where(missing, 0.0, sc).astype(np.float32)
    return kp, sc


PYSKL_GRAPHS = {"coco17": "coco", "ntu25": "nturgb+d", "openpose18": "openpose"}
"""posekit layouts that MMAction2 / pyskl skeleton graphs know, and their ``layout=`` / ``dataset=`` name."""
BOX_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
"""The ``box_thr`` values of MMAction2's ``PoseDataset``: ``valid`` counts frames per threshold."""


@dataclass(frozen=True)
class PysklOptions:
    """How ``posekit export pyskl`` writes the MMAction2 / pyskl 2D skeleton pickle."""

    layout: str | None = field(
        default=None,
        metadata={"help": "Convert joints to this layout (default: the shards'); their 2D graphs know coco17."},
    )
    max_persons: int | None = field(
        default=None, metadata={"help": "Keep the M main persons, main first (default: all).", "min": 1}
    )
    split_prefix: str = field(default="", metadata={"help": "Prefix of split names, e.g. xsub_ -> xsub_train."})
    any_layout: bool = field(
        default=False,
        metadata={"help": "Export a layout MMAction2/pyskl graphs do not know (their graph would misread it)."},
    )
    allow_unlabelled: bool = field(
        default=False, metadata={"help": "Export clips without a class as label -1 (training on them fails)."}
    )
    coords: Literal["2d", "3d"] = field(
        default="2d",
        metadata={"help": "2d: keypoint (M, T, V, 2) pixels; 3d: (M, T, V, 3) of keypoints_3d, no keypoint_score."},
    )

    def __post_init__(self) -> None:
        check_bounds(self)
        check_layout_option(self.layout, "--layout")


@dataclass(frozen=True)
class NtuOptions:
    """How ``posekit export ntu`` writes the ``(N, C, T, V, M)`` arrays."""

    layout: str = field(
        default="auto",
        metadata={
            "help": "Joint layout of the arrays (auto: the shards' own when its bones form a tree, else posetics17)."
        },
    )
    frames: int | None = field(
        default=None, metadata={"help": "T of every split (default: the longest clip of all splits).", "min": 1}
    )
    max_persons: int = field(default=2, metadata={"help": "M, the main persons kept, main first.", "min": 1})
    channels: int = field(
        default=3, metadata={"help": "2D: 3 = x, y, score; 2 = x, y (3D: always x, y, z).", "min": 2, "max": 3}
    )
    coords: Literal["auto", "screen", "pixels", "3d"] = field(
        default="auto",
        metadata={
            "help": "screen ([-1, 1] keeping the aspect ratio, thesis 3.7.1), pixels, 3d (keypoints_3d), or auto "
            "(3d when the clips carry 3D joints, as NTU imports do, else screen)."
        },
    )
    pad: Literal["zero", "loop"] = field(default="zero", metadata={"help": "Short clips: zero or loop (replay)."})
    normalise: Literal["none", "unik"] = field(
        default="none",
        metadata={
            "help": "unik: the UNIK authors' pre-normalisation, written as their data_gen writes "
            "(SPLIT_data_joint.npy, SPLIT_label.pkl)."
        },
    )
    allow_unlabelled: bool = field(
        default=False, metadata={"help": "Export clips without a class as label -1 (training on them fails)."}
    )

    def __post_init__(self) -> None:
        check_bounds(self)
        if self.layout != "auto":
            check_layout_option(self.layout, "--layout")
        two_d = self.coords in ("screen", "pixels")
        if self.normalise == "unik" and two_d and (self.coords == "pixels" or self.channels == 3):
            raise ConfigError(
                "--normalise unik writes coordinates only, as the authors' data_gen: use --coords 3d, "
                "or --coords screen --channels 2"
            )

    @property
    def num_channels(self) -> int:
        """``C`` of the arrays."""
        return 3 if self.coords == "3d" else self.channels


def unlabelled_clips(split: Split) -> list[str]:
    """Clip ids of ``split`` that have no class (label -1), read from the id and label columns only."""
    missing = []
    for shard in list_shards(split.folder, "skeletons"):
        columns = ["clip_id", "label"] if split.use_column and "label" in pq.read_schema(shard).names else ["clip_id"]
        table = pq.read_table(shard, columns=columns)
        names = table.column("label").to_pylist() if len(columns) == 2 else [None] * table.num_rows
        for clip_id, name in zip(table.column("clip_id").to_pylist(), names):
            known = name in split.classes if split.use_column else split.labels and split.labels.label_of(clip_id) >= 0
            if not known:
                missing.append(clip_id)
    return missing


def _refuse_unlabelled(splits: list[Split]) -> None:
    """Refuse, in one line, a dataset with clips a trainer cannot take (label -1)."""
    missing = [c for split in splits for c in unlabelled_clips(split)]
    if missing:
        raise ConfigError(
            f"{len(missing)} clip(s) have no class (first: {missing[0]}), and training on label -1 fails; "
            "export a dataset built by posekit build-dataset (or with a labels sidecar), or pass --allow-unlabelled"
        )


def box_score_array(clip: SkeletonClip, max_persons: int | None = None) -> np.ndarray:
    """``(M, T)`` float32 person-box scores in the person order of :func:`person_arrays`; 0 where absent."""
    M = max(1, len(clip.tracks) if max_persons is None else max_persons)
    out = np.zeros((M, clip.num_frames), np.float32)
    for m, track in enumerate(clip.main_persons(M)):
        out[m, track.t] = np.nan_to_num(track.box_scores)
    return out


def frame_dirs(clip_ids: list[str]) -> list[str]:
    """MMAction2 ``frame_dir`` of each clip: the file stem (``walking/vtest.mp4`` -> ``vtest``), or the path
    without extension joined by ``_`` where stems repeat (``walking_a``, ``running_a``)."""
    stems = [PurePosixPath(c).stem for c in clip_ids]
    repeated = {s for s, n in Counter(stems).items() if n > 1}
    names = [
        PurePosixPath(c).with_suffix("").as_posix().replace("/", "_") if s in repeated else s
        for c, s in zip(clip_ids, stems)
    ]
    twice = [n for n, k in Counter(names).items() if k > 1]
    if twice:
        raise ConfigError(f"clips {twice[0]!r} appear twice in the dataset; give every clip its own path")
    return names


PLAIN_SPLIT = "all"
"""The pyskl split name of a folder of skeletons shards that is not a built dataset (``--split-prefix`` applies)."""


def export_pyskl(data: Path, out: Path, options: PysklOptions | None = None) -> Path:
    """Write the MMAction2 / pyskl skeleton pickle of ``data`` to ``out`` (a ``.pkl`` file).

    Per clip: ``frame_dir`` (the file stem), ``filename`` (the clip's relative path, which their video loaders
    join to ``data_prefix``; split lists name clips by it, as ``PoseDataset`` then does), ``label``,
    ``img_shape``, ``original_shape``, ``total_frames``, ``keypoint`` ``(M, T, V, 2)`` float32 pixels (with
    ``coords="3d"``: ``(M, T, V, 3)`` of ``keypoints_3d`` and no ``keypoint_score``, as their 3D pickles,
    which MMAction2's NTU pipeline refuses with scores),
    ``keypoint_score`` ``(M, T, V)``, ``box_score`` ``(M, T)`` and ``valid`` (frames with a box scored at
    least each of :data:`BOX_THRESHOLDS`, for ``valid_ratio``); ``layout`` records the joints and the graph name.
    """
    options = options or PysklOptions()
    out = Path(out)
    splits: dict[str, list[str]] = {}
    annotations = []
    dst: JointLayout | None = get_layout(options.layout) if options.layout else None
    splits_in = dataset_splits(data)
    if not options.allow_unlabelled:
        _refuse_unlabelled(splits_in)
    built = (Path(data) / DATASET_JSON).is_file()
    for split in splits_in:
        names = splits.setdefault(options.split_prefix + (split.name if built else PLAIN_SPLIT), [])
        for clip, info in split.clips():
            dst = dst or info.layout
            if dst.name not in PYSKL_GRAPHS and not options.any_layout:
                raise ConfigError(
                    f"layout {dst.name} is not one MMAction2/pyskl skeleton graphs know "
                    f"({', '.join(PYSKL_GRAPHS)}); pass --layout coco17 to convert, or --any-layout to keep it"
                )
            kp, sc = person_arrays(clip, info.layout, dst, options.max_persons, options.coords)
            boxes = box_score_array(clip, options.max_persons)
            names.append(clip.clip_id)
            annotations.append(
                {
                    "frame_dir": clip.clip_id,
                    "filename": clip.clip_id,
                    "label": split.label(clip),
                    "img_shape": (int(clip.height), int(clip.width)),
                    "original_shape": (int(clip.height), int(clip.width)),
                    "total_frames": int(clip.num_frames),
                    "keypoint": kp,
                    **({} if options.coords == "3d" else {"keypoint_score": sc}),
                    "box_score": boxes,
                    "valid": {thr: int((boxes >= thr).any(0).sum()) for thr in BOX_THRESHOLDS},
                }
            )
    for ann, name in zip(annotations, frame_dirs([a["filename"] for a in annotations])):
        ann["frame_dir"] = name
    layout = dst or get_layout("coco17")
    doc = {
        "split": splits,
        "annotations": annotations,
        "layout": {
            "name": layout.name,
            "graph": PYSKL_GRAPHS.get(layout.name),
            "joints": list(layout.joints),
            "edges": [list(e) for e in layout.edges],
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, pickle.dumps(doc, protocol=4))
    return out


def ntu_item(clip: SkeletonClip, src: JointLayout, dst: JointLayout, T: int, options: NtuOptions) -> np.ndarray:
    """``(C, T, V, M)`` float32 array of one clip as :func:`export_ntu` writes it; 0 = missing joint."""
    C, M = options.num_channels, options.max_persons
    if options.coords == "3d" or options.normalise == "unik":
        x = clip_joints(clip, src, dst, M, coords="3d" if options.coords == "3d" else "2d")
        if options.normalise == "unik":
            return np.nan_to_num(unik_normalise(x, T), nan=0.0)
    else:
        kp, sc = person_arrays(clip, src, dst, M)  # (M, T', V, 2), (M, T', V)
        if options.coords == "screen":
            missing = (sc == 0) & (kp == 0).all(-1)
            kp = np.where(missing[..., None], 0.0, normalise_screen(kp, clip.width, clip.height))
        x = np.concatenate([kp, sc[..., None]], axis=-1)[..., :C].transpose(3, 1, 2, 0)  # (C, T', V, M)
    idx = window_indices(clip.num_frames, T, 0, options.pad)
    item = x[:, np.clip(idx, 0, None)] if clip.num_frames else np.zeros((C, T, dst.num_joints, M))
    item[:, idx < 0] = 0.0
    return np.nan_to_num(item, nan=0.0)


def sample_name(clip: SkeletonClip) -> str:
    """The name of a clip in the authors' ``{split}_label.pkl``: its NTU ``.skeleton`` file's name for imported
    NTU clips (as their data_gen names samples), else its clip id."""
    name = PurePosixPath(clip.video_path).name
    return name if name.endswith(".skeleton") else clip.clip_id


def export_ntu(data: Path, out_dir: Path, options: NtuOptions | None = None) -> dict[str, Path]:
    """Write NTU-style ``(N, C, T, V, M)`` arrays per split into ``out_dir``; return the data files.

    Every split has the same T: ``options.frames``, or the longest clip of all splits; longer clips keep
    their first T frames, shorter ones are padded (``zero`` or ``loop``, the thesis' replaying; with
    ``normalise="unik"`` the authors' replay of empty frames). ``coords``: ``screen`` ([-1, 1] keeping the
    aspect ratio, thesis 3.7.1), ``pixels`` or ``3d`` (the tracks' 3D joints, in the shards' 3D unit).
    """
    options = options or NtuOptions()
    out_dir = Path(out_dir)
    splits = dataset_splits(data)
    if not options.allow_unlabelled:
        _refuse_unlabelled(splits)
    stored = _layout_of(splits[0])
    dst = item_layout(options.layout, stored, data)
    if options.coords == "auto":
        first = next(splits[0].clips(), None)
        options = dataclasses.replace(options, coords="3d" if first is not None and first[0].has_3d else "screen")
    lengths = {
        split.name: [
            n
            for s in list_shards(split.folder, "skeletons")
            for n in pq.read_table(s, columns=["num_frames"]).column(0).to_pylist()
        ]
        for split in splits
    }
    T = options.frames or max((n for ns in lengths.values() for n in ns), default=1)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {
        split.name: _write_ntu_split(split, out_dir, dst, T, len(lengths[split.name]), options) for split in splits
    }
    classes = next((split.classes for split in splits if split.classes), ())
    (out_dir / "classes.txt").write_text("".join(f"{c}\n" for c in classes), encoding="utf-8")
    (out_dir / "layout.json").write_text(dst.to_json(), encoding="utf-8")
    return written


def _write_ntu_split(split: Split, out_dir: Path, dst: JointLayout, T: int, N: int, options: NtuOptions) -> Path:
    """One split's files (see :func:`export_ntu`); the data array goes through a memory map and a rename."""
    unik = options.normalise == "unik"
    path = out_dir / f"{split.name}_data{'_joint' if unik else ''}.npy"
    shape = (N, options.num_channels, T, dst.num_joints, options.max_persons)
    labels = np.full(N, -1, np.int64)
    num_frames = np.zeros(N, np.int64)
    ids, names = [], []
    with atomic_path(path) as tmp:
        data_mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
        for n, (clip, info) in enumerate(split.clips()):
            data_mm[n] = ntu_item(clip, info.layout, dst, T, options)
            labels[n], num_frames[n] = split.label(clip), clip.num_frames
            ids.append(clip.clip_id)
            names.append(sample_name(clip))
        data_mm.flush()
        del data_mm
    np.save(out_dir / f"{split.name}_label.npy", labels)
    np.save(out_dir / f"{split.name}_num_frames.npy", num_frames)
    (out_dir / f"{split.name}_clip_ids.txt").write_text("".join(f"{c}\n" for c in ids), encoding="utf-8")
    if unik:
        atomic_write_bytes(out_dir / f"{split.name}_label.pkl", pickle.dumps((names, labels.tolist())))
    return path


def annotation_box(boxes: np.ndarray, keypoints: np.ndarray, k: int) -> np.ndarray:
    """The xyxy pixel box of a person's frame ``k`` for a COCO annotation, of zero area only without any joint.

    ``boxes`` is the track's ``(n, 4)`` xyxy pixels (NaN or empty where it has none), ``keypoints`` its
    ``(n, V, 2)`` pixels (NaN = missing). The track's box when it has one; else the frame's joint extent,
    widened where it is smaller to the nearest tracked box of the track, or without any to the track's median
    joint extent (one joint spans no area, and OKS divides by the area).
    """

    def usable(b: np.ndarray) -> np.ndarray:
        return np.isfinite(b).all(-1) & (b[..., 2] > b[..., 0]) & (b[..., 3] > b[..., 1])

    box = boxes[k].astype(np.float64)
    if usable(box):
        return box
    joints = keypoints[k][np.isfinite(keypoints[k]).all(-1)].astype(np.float64)
    if len(joints) == 0:
        return np.zeros(4)
    low, high = joints.min(0), joints.max(0)
    tracked = np.flatnonzero(usable(boxes))
    if len(tracked):
        nearest = boxes[tracked[np.argmin(np.abs(tracked - k))]].astype(np.float64)
        typical = nearest[2:] - nearest[:2]
    else:
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            spread = np.isfinite(keypoints).all(-1).sum(-1) >= 2
            extent = np.nanmax(keypoints[spread], axis=1) - np.nanmin(keypoints[spread], axis=1)
            typical = np.nan_to_num(np.nanmedian(extent, axis=0)) if len(extent) else np.zeros(2)
    size = np.maximum(high - low, typical)
    centre = (low + high) / 2
    return np.r_[centre - size / 2, centre + size / 2]


def export_coco(data: Path, out_dir: Path, layout: str | None = None) -> dict[str, Path]:
    """Write COCO-keypoints JSON (one image per frame) per split into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for split in dataset_splits(data):
        dst = get_layout(layout) if layout else _layout_of(split)
        images, annotations, videos = [], [], []
        for clip, info in split.clips():
            video_id = len(videos) + 1
            label = split.label(clip)
            videos.append(
                {
                    "id": video_id,
                    "clip_id": clip.clip_id,
                    "video_path": clip.video_path,
                    "label": label,
                    "label_name": split.classes[label] if label >= 0 else None,
                }
            )
            stem = Path(clip.clip_id).with_suffix("").as_posix()
            first_image = len(images) + 1
            for t in range(clip.num_frames):
                images.append(
                    {
                        "id": first_image + t,
                        "file_name": f"{stem}/{int(clip.frame_index[t]):06d}.jpg",
                        "width": int(clip.width),
                        "height": int(clip.height),
                        "video_id": video_id,
                        "clip_id": clip.clip_id,
                        "frame_index": int(clip.frame_index[t]),
                        "timestamp": float(clip.timestamp[t]),
                    }
                )
            for track in clip.tracks:
                kp, sc = convert_keypoints(track.keypoints, track.joint_scores, info.layout, dst)
                for k, t in enumerate(track.t):
                    present = np.isfinite(kp[k]).all(-1) & np.isfinite(sc[k])
                    xyv = np.zeros((dst.num_joints, 3), np.float64)
                    xyv[present, :2] = kp[k][present]
                    xyv[present, 2] = 2
                    x1, y1, x2, y2 = (float(v) for v in annotation_box(track.boxes, kp, k))
                    annotations.append(
                        {
                            "id": len(annotations) + 1,
                            "image_id": first_image + int(t),
                            "category_id": 1,
                            "keypoints": [round(float(v), 2) for v in xyv.reshape(-1)],
                            "num_keypoints": int(present.sum()),
                            "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "area": max(0.0, (x2 - x1) * (y2 - y1)),
                            "iscrowd": 0,
                            "track_id": int(track.track_id),
                            "score": float(np.nan_to_num(track.box_scores[k])),
                        }
                    )
        doc = {
            "info": {"description": f"posekit export of {Path(data).name}/{split.name}", "layout": dst.name},
            "categories": [
                {
                    "id": 1,
                    "name": "person",
                    "supercategory": "person",
                    "keypoints": list(dst.joints),
                    "skeleton": [[a + 1, b + 1] for a, b in dst.edges],
                }
            ],
            "classes": list(split.classes),
            "videos": videos,
            "images": images,
            "annotations": annotations,
        }
        path = out_dir / f"{split.name}.json"
        atomic_write_bytes(path, json.dumps(doc).encode("utf-8"))
        written[split.name] = path
    return written


def export_coco_results(data: Path, gt: Path, out: Path, images: Path | None = None) -> tuple[Path, int]:
    """Write the pycocotools results list of the skeletons under ``data`` on the images of ``gt`` to ``out``.

    Images are matched to shard frames as :func:`posekit.eval.coco.score_shards` does; each
    ``image_id`` is the ground-truth file's own. Returns the path and the number of results.
    """
    from posekit.eval.coco import collect_predictions
    from posekit.eval.gt_formats import load_ground_truth
    from posekit.eval.oks import results_list

    scored, predictions, _, _ = collect_predictions(load_ground_truth(gt, images), Path(data))
    results = results_list(predictions, [image.image_id for image in scored])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, json.dumps(results).encode("utf-8"))
    return out, len(results)
