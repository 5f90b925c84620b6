"""``posekit import``: the skeleton files other datasets ship -> a posekit dataset.

Each importer reads the files as the dataset's users have them (parsing in :mod:`posekit.io.formats`),
labels every clip, puts it in the official split of the chosen benchmark and writes the dataset the
way ``posekit build-dataset`` does (:func:`posekit.workflows.datasets.build.write.write_split_shards`):
``OUT/<split>/skeletons-*.parquet`` with a ``label`` column, ``dataset.json`` (classes, counts, split
rule, dropped files) and the dataset card. A file that cannot be read is one logged line, recorded in
``dataset.json`` and the card, and the other files are imported. Clips keep the source order (no
shuffling), so an import is reproducible file for file.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from posekit.core.errors import ConfigError, InputFileError
from posekit.core.options import check_bounds
from posekit.io.formats import kinetics_skeleton, ntu, penn_action, pyskl, smarthome
from posekit.io.outputs import check_output_dir
from posekit.io.schema import COORDINATES_3D, ShardInfo
from posekit.skeleton.convert import convert_keypoints
from posekit.skeleton.layouts import JointLayout, check_layout_option, get_layout
from posekit.skeleton.records import SkeletonClip, SkeletonTrack
from posekit.workflows.datasets.build.options import BuildOptions
from posekit.workflows.datasets.build.write import Dropped, dataset_doc, finish_dataset, write_split_shards

log = logging.getLogger(__name__)

IMPORT_WRITE = BuildOptions(shuffle_clips=1)
"""Shard and row-group sizes of imported datasets (build-dataset's defaults), clips in source order."""
PYSKL_LAYOUTS = {17: "coco17", 25: "ntu25"}
"""The layout of a pyskl pickle by its joint count, when ``--layout`` does not name it."""


@dataclass(frozen=True)
class NtuImportOptions:
    """How ``posekit import ntu`` reads NTU RGB+D 60/120 ``.skeleton`` files."""

    benchmark: Literal["xsub", "xview", "xsub120", "xset120"] = field(
        default="xsub",
        metadata={"help": "Official split: xsub, xview (NTU 60: S001-S017, A001-A060), xsub120, xset120 (NTU 120)."},
    )
    missing: str | None = field(
        default=None,
        metadata={"help": "The dataset's list of samples with missing skeletons (one name per line); skipped."},
    )
    max_bodies: int = field(
        default=2,
        metadata={
            "help": "Kinect bodies kept per sample, by motion energy (thesis authors).",
            "min": 1,
            "max": 4,
        },
    )
    layout: str = field(
        default="ntu25", metadata={"help": "Joint layout of the shards (posetics17: the 17 main joints for transfer)."}
    )

    def __post_init__(self) -> None:
        check_bounds(self)
        check_layout_option(self.layout, "--layout")


@dataclass(frozen=True)
class PysklImportOptions:
    """How ``posekit import pyskl`` reads a pyskl / MMAction2 skeleton pickle."""

    split: str | None = field(
        default=None,
        metadata={
            "help": "Splits to import: a split name, or a prefix (xsub -> xsub_train, xsub_val as train/, val/); "
            "default: every split."
        },
    )
    layout: str | None = field(
        default=None,
        metadata={"help": "Layout of the pickle's joints (default: coco17 for 17 joints, ntu25 for 25)."},
    )
    classes: str | None = field(
        default=None,
        metadata={"help": "Text file of class names, line i = label i (default: 0, 1, ...)."},
    )

    def __post_init__(self) -> None:
        check_layout_option(self.layout, "--layout")


@dataclass(frozen=True)
class KineticsSkeletonImportOptions:
    """How ``posekit import kinetics-skeleton`` reads ST-GCN's Kinetics-skeleton JSON."""

    frame_size: tuple[int, ...] = field(
        default=kinetics_skeleton.FRAME_SIZE,
        metadata={"help": "Width,height the [0, 1] coordinates are scaled to (ST-GCN's videos: 340,256)."},
    )
    split: str | None = field(
        default=None,
        metadata={"help": "Split of a single DIR (default: val for a folder named like kinetics_val, else train)."},
    )
    layout: str = field(default="openpose18", metadata={"help": "Joint layout of the shards (coco17 converts)."})

    def __post_init__(self) -> None:
        if len(self.frame_size) != 2 or min(self.frame_size) < 1:
            raise ConfigError(f"--frame-size must be width,height in pixels like 340,256; got {self.frame_size}")
        check_layout_option(self.layout, "--layout")


@dataclass(frozen=True)
class SmarthomeImportOptions:
    """How ``posekit import smarthome`` reads Toyota Smarthome's pose JSON."""

    benchmark: Literal["cs", "cv1", "cv2"] = field(
        default="cs", metadata={"help": "Official protocol: cs (31 classes), cv1 or cv2 (19 classes, camera 2 tests)."}
    )
    layout: str = field(
        default="posetics17",
        metadata={"help": "Joint layout of the shards (posetics17: the 13 LCRNet joints completed to 17)."},
    )

    def __post_init__(self) -> None:
        check_layout_option(self.layout, "--layout")


@dataclass(frozen=True)
class PennActionImportOptions:
    """How ``posekit import penn-action`` reads Penn Action's ``.mat`` labels."""

    layout: str = field(
        default="posetics17",
        metadata={"help": "Joint layout of the shards (posetics17: the 13 joints completed to 17 as the thesis does)."},
    )

    def __post_init__(self) -> None:
        check_layout_option(self.layout, "--layout")


@dataclass
class ImportResult:
    """What an import wrote and left out."""

    out: Path
    classes: list[str]
    counts: dict[str, dict[str, int]]
    dropped: list[Dropped]
    excluded: int
    tally: dict[str, int]

    @property
    def failed(self) -> int:
        """Files that could not be read (the other drops are the dataset's own lists)."""
        return sum(d.stage == "read" for d in self.dropped)

    @property
    def kept(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())


@dataclass
class _Plan:
    """One import: what the source is, its classes and splits, and the layouts of its clips and shards."""

    kind: str
    command: str
    format: str
    source: Path
    classes: list[str]
    split_names: list[str]
    layout: JointLayout
    target: JointLayout
    experts: tuple[str, ...]
    split_rule: str
    notes: list[str]
    options: Any
    coordinates_3d: str | None = None
    excluded: int = 0
    tally: Counter[str] = field(default_factory=Counter)


Item = tuple[str, SkeletonClip] | Dropped


def _run(plan: _Plan, items: Iterable[Item], out: Path) -> ImportResult:
    """Write the clips of ``items`` (``(split, clip)`` with ``clip.label`` set, or a :class:`Dropped`) as a
    dataset in ``out``; every drop is logged as one line and recorded."""
    out = check_output_dir(Path(out), "--out")
    dropped: list[Dropped] = []

    def clips() -> Iterator[tuple[str, SkeletonClip]]:
        for item in items:
            if isinstance(item, Dropped):
                log.log(logging.WARNING if item.stage == "read" else logging.INFO, "%s: %s", item.clip_id, item.reason)
                dropped.append(item)
                continue
            split, clip = item
            if plan.target != plan.layout:
                clip.tracks = [_track_to_layout(tr, plan.layout, plan.target) for tr in clip.tracks]
            yield split, clip

    info = ShardInfo(
        "skeletons",
        plan.target,
        plan.experts,
        coordinates_3d=plan.coordinates_3d or COORDINATES_3D,
        extra=json.dumps({"dataset": plan.kind, "imported_from": plan.format}),
        columns=("label",),
    )
    written = write_split_shards(out, clips(), plan.split_names, info, IMPORT_WRITE)
    if not written.names:
        reasons = Counter(d.reason for d in dropped).most_common(1)
        raise ConfigError(
            f"no clip imported from {plan.source} ({len(dropped)} dropped"
            + (f", most often: {reasons[0][0]}" if reasons else "")
            + f", {plan.excluded} outside the benchmark); check the path and the options"
        )
    tally = {"outside_benchmark": plan.excluded, **plan.tally}
    counted = "Counts: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in tally.items()) + "."
    doc = {
        **dataset_doc(out, plan.kind, plan.classes, written, info, dropped),
        **({"coordinates_3d": plan.coordinates_3d} if plan.coordinates_3d else {}),
        "import": {
            "command": plan.command,
            "format": plan.format,
            "source": str(plan.source),
            "source_layout": plan.layout.name,
            "notes": [*plan.notes, counted],
            "tally": tally,
        },
        "split": {"method": "official", "rule": plan.split_rule},
        "options": asdict(plan.options),
    }
    finish_dataset(out, doc, written)
    return ImportResult(out, plan.classes, doc["counts"], dropped, plan.excluded, tally)


def _track_to_layout(track: SkeletonTrack, src: JointLayout, dst: JointLayout) -> SkeletonTrack:
    """``track`` with its 2D and 3D joints mapped to ``dst`` (:func:`convert_keypoints`)."""
    kp, sc = convert_keypoints(track.keypoints, track.joint_scores, src, dst)
    kp3, sc3 = (None, None)
    if track.keypoints_3d is not None:
        kp3, sc3 = convert_keypoints(track.keypoints_3d, track.joint_scores_3d, src, dst)
    source = np.where(np.isfinite(kp).all(-1), 0, -1).astype(np.int8)
    return replace(track, keypoints=kp, joint_scores=sc, joint_source=source, keypoints_3d=kp3, joint_scores_3d=sc3)


def _files(folder: Path, suffix: str, flag: str) -> list[Path]:
    if not Path(folder).is_dir():
        raise ConfigError(f"{flag} {folder} is not a folder; give the folder holding the *{suffix} files")
    files = sorted(p for p in Path(folder).iterdir() if p.suffix == suffix and p.is_file())
    if not files:
        raise ConfigError(f"no *{suffix} files in {folder}; give the folder that holds them")
    return files


def _read_error(path: Path, label: str, exc: InputFileError) -> Dropped:
    return Dropped(path.stem, label, "read", str(exc))


# ---------------------------------------------------------------------------------------------
# NTU RGB+D


def import_ntu(skeleton_dir: Path, out: Path, options: NtuImportOptions) -> ImportResult:
    """Import NTU RGB+D ``.skeleton`` files under the official ``options.benchmark`` split."""
    files = _files(skeleton_dir, ".skeleton", "SKELETON_DIR")
    missing = ntu.read_missing_list(Path(options.missing)) if options.missing else set()
    plan = _Plan(
        kind="ntu",
        command=f"posekit import ntu --benchmark {options.benchmark}",
        format="NTU RGB+D .skeleton files (Kinect v2)",
        source=Path(skeleton_dir),
        classes=ntu.ntu_classes(options.benchmark),
        split_names=["train", "val"],
        layout=get_layout("ntu25"),
        target=get_layout(options.layout),
        experts=("kinect-v2",),
        split_rule=_NTU_RULES[options.benchmark],
        notes=[
            f"Bodies: the {options.max_bodies} of up to 4 Kinect bodies with the most motion energy (sum of the "
            "x, y, z standard deviations), as the thesis authors' ntu_gendata keeps them.",
            "keypoints: colour-frame pixels (1920 x 1080); keypoints_3d: camera space, metres; joint scores: "
            "Kinect tracking state (tracked 1, inferred 0.5, not tracked 0).",
            f"Samples with missing skeletons: {options.missing or 'no list given'}.",
        ],
        options=options,
        coordinates_3d=ntu.COORDINATES_3D,
    )

    def items() -> Iterator[Item]:
        for path in files:
            sample = ntu.NtuSample.parse(path.stem)
            if sample is None:
                yield Dropped(path.stem, "", "read", f"{path}: not an NTU sample name (SsssCcccPpppRrrrAaaa)")
                continue
            split = ntu.ntu_split(sample, options.benchmark)
            if split is None:
                plan.excluded += 1
                continue
            if sample.name in missing:
                yield Dropped(sample.name, sample.label, "missing", f"listed in --missing {options.missing}")
                continue
            try:
                clip, left_out = ntu.ntu_clip(path, options.max_bodies)
            except InputFileError as exc:
                yield _read_error(path, sample.label, exc)
                continue
            if not clip.tracks:
                yield Dropped(sample.name, sample.label, "empty", "no body in any frame")
                continue
            plan.tally["bodies_left_out"] += left_out
            clip.label = sample.label
            yield split, clip

    return _run(plan, items(), out)


_NTU_RULES = {
    "xsub": "NTU 60 cross-subject: performers 1, 2, 4, 5, 8, 9, 13-19, 25, 27, 28, 31, 34, 35, 38 train",
    "xview": "NTU 60 cross-view: cameras 2 and 3 train, camera 1 val",
    "xsub120": "NTU 120 cross-subject: the 53 training performers of Liu et al. 2019 train",
    "xset120": "NTU 120 cross-setup: even setup ids train, odd val",
}


# ---------------------------------------------------------------------------------------------
# pyskl / MMAction2


def _pyskl_splits(doc: dict, wanted: str | None) -> dict[str, tuple[str, list[str]]]:
    """Posekit split folder -> (pickle split name, sample names), for the splits ``--split`` selects."""
    splits = doc.get("split") or {}
    if not splits:
        return {"all": ("all", [str(a.get("frame_dir")) for a in doc["annotations"]])}
    if wanted is None:
        chosen = {name: (name, list(names)) for name, names in splits.items()}
    elif wanted in splits:
        chosen = {wanted: (wanted, list(splits[wanted]))}
    else:
        prefix = wanted.rstrip("_") + "_"
        chosen = {n[len(prefix) :]: (n, list(v)) for n, v in splits.items() if n.startswith(prefix)}
        if not chosen:
            raise ConfigError(f"--split {wanted}: the pickle's splits are {', '.join(splits)}; name one or a prefix")
    seen: dict[str, str] = {}
    for name, (_, names) in chosen.items():
        for sample in names:
            if sample in seen and seen[sample] != name:
                prefixes = sorted({n.rsplit("_", 1)[0] for n in splits if "_" in n})
                raise ConfigError(
                    f"sample {sample!r} is in splits {seen[sample]} and {name}; import one benchmark with --split "
                    + (f"({', '.join(prefixes)})" if prefixes else "NAME")
                )
            seen[sample] = name
    return chosen


def _class_names(path: str | None, labels: list[int]) -> list[str]:
    if path is None:
        return [str(i) for i in range(max(labels, default=-1) + 1)]
    try:
        names = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        raise ConfigError(f"--classes {path}: cannot read it ({exc.strerror or exc})") from None
    if labels and max(labels) >= len(names):
        raise ConfigError(f"--classes {path} names {len(names)} classes but the pickle has label {max(labels)}")
    return names


def import_pyskl(pickle_path: Path, out: Path, options: PysklImportOptions) -> ImportResult:
    """Import a pyskl / MMAction2 skeleton pickle (2D into ``keypoints``, 3D into ``keypoints_3d``)."""
    try:
        doc = pyskl.load_pyskl(Path(pickle_path))
    except InputFileError as exc:
        raise ConfigError(str(exc)) from None
    annotations = {str(a.get("frame_dir")): a for a in doc["annotations"] if isinstance(a, dict)}
    if not annotations:
        raise ConfigError(f"{pickle_path}: no annotations with a frame_dir")
    first = next(iter(annotations.values()))
    shape = np.shape(first.get("keypoint"))
    if len(shape) != 4:
        raise ConfigError(f"{pickle_path}: keypoint of {first.get('frame_dir')!r} has shape {shape}, not (M, T, V, C)")
    V, C = shape[2], shape[3]
    name = options.layout or PYSKL_LAYOUTS.get(V)
    if name is None:
        raise ConfigError(f"{pickle_path}: {V} joints per person; name their layout with --layout NAME or FILE")
    layout = get_layout(name)
    if layout.num_joints != V:
        raise ConfigError(f"--layout {layout.name} has {layout.num_joints} joints but the pickle has {V}")
    splits = _pyskl_splits(doc, options.split)
    labels = [int(a.get("label", -1)) for a in annotations.values()]
    plan = _Plan(
        kind="pyskl",
        command="posekit import pyskl" + (f" --split {options.split}" if options.split else ""),
        format=f"a pyskl / MMAction2 {'3D' if C == 3 else '2D'} skeleton pickle",
        source=Path(pickle_path),
        classes=_class_names(options.classes, labels),
        split_names=list(splits),
        layout=layout,
        target=layout,
        experts=("pyskl",),
        split_rule="the pickle's own split lists ("
        + ", ".join(f"{src} -> {dst}/" for dst, (src, _) in splits.items())
        + ")",
        notes=[
            f"keypoint (M, T, V, {C}) into {'keypoints_3d (2D keypoints NaN)' if C == 3 else 'keypoints (pixels)'}; "
            "every person slot kept in pickle order; a joint at the origin with score 0 is missing.",
        ],
        options=options,
        coordinates_3d="the pickle's 3D keypoints as given (pyskl's NTU RGB+D pickles: Kinect camera space, metres)"
        if C == 3
        else None,
    )
    used = {sample for _, names in splits.values() for sample in names}
    plan.excluded = sum(sample not in used for sample in annotations)

    def items() -> Iterator[Item]:
        for split, (_, names) in splits.items():
            for sample in names:
                ann = annotations.get(sample)
                if ann is None:
                    yield Dropped(sample, "", "read", f"split {split} names {sample!r}, which has no annotation")
                    continue
                label = int(ann.get("label", -1))
                if not 0 <= label < len(plan.classes):
                    yield Dropped(sample, str(label), "label", f"label {label} is not a class index")
                    continue
                try:
                    clip = pyskl.annotation_clip(ann)
                except InputFileError as exc:
                    yield Dropped(sample, str(label), "read", f"{pickle_path}: {exc}")
                    continue
                clip.label = plan.classes[label]
                yield split, clip

    return _run(plan, items(), out)


# ---------------------------------------------------------------------------------------------
# Kinetics-skeleton (ST-GCN)


def import_kinetics_skeleton(
    folders: list[Path], label_files: list[Path], out: Path, options: KineticsSkeletonImportOptions
) -> ImportResult:
    """Import folders of ST-GCN Kinetics-skeleton JSON, each labelled by its label file (paired in order) and
    written as one split (``kinetics_train`` -> train, ``kinetics_val`` -> val, or ``options.split``)."""
    folders, label_files = [Path(f) for f in folders], [Path(f) for f in label_files]
    if len(folders) != len(label_files):
        raise ConfigError(f"{len(folders)} folder(s) but {len(label_files)} --labels file(s); give one per folder")
    if options.split is not None and len(folders) > 1:
        raise ConfigError("--split names the split of a single folder; with several, each folder's name gives it")
    splits = [options.split or ("val" if "val" in f.name.lower() else "train") for f in folders]
    if len(set(splits)) != len(splits):
        raise ConfigError(f"folders {', '.join(map(str, folders))} would share a split; import them one at a time")
    files = [_files(folder, ".json", "DIR") for folder in folders]
    labels = []
    for path in label_files:
        try:
            labels.append(kinetics_skeleton.read_labels(path))
        except InputFileError as exc:
            raise ConfigError(str(exc)) from None
    names = {index: label for found in labels for label, index, _ in found.values()}
    classes = [names.get(i, f"class_{i}") for i in range(max(names, default=-1) + 1)]
    width, height = options.frame_size
    plan = _Plan(
        kind="kinetics-skeleton",
        command="posekit import kinetics-skeleton",
        format="ST-GCN Kinetics-skeleton JSON (OpenPose-18)",
        source=folders[0].parent,
        classes=classes,
        split_names=splits,
        layout=get_layout("openpose18"),
        target=get_layout(options.layout),
        experts=("openpose",),
        split_rule=", ".join(f"{f.name} -> {s}/ (labels {lf.name})" for f, s, lf in zip(folders, splits, label_files)),
        notes=[
            f"Coordinates: [0, 1] scaled to {width} x {height} pixels; a joint at (0, 0) with score 0 is missing.",
            "Persons: ranked per frame by summed joint score (as ST-GCN's loader), rank m in track m.",
        ],
        options=options,
    )

    def items() -> Iterator[Item]:
        for split, paths, found, label_file in zip(splits, files, labels, label_files):
            for path in paths:
                entry = found.get(path.stem)
                if entry is None:
                    yield Dropped(path.stem, "", "label", f"not in --labels {label_file.name}")
                    continue
                label, index, has_skeleton = entry
                if not has_skeleton:
                    yield Dropped(path.stem, label, "empty", "the label file says it has no skeleton")
                    continue
                try:
                    clip = kinetics_skeleton.kinetics_clip(path, (width, height))
                except InputFileError as exc:
                    yield _read_error(path, label, exc)
                    continue
                if not clip.tracks:
                    yield Dropped(path.stem, label, "empty", "no person in any frame")
                    continue
                clip.label = classes[index]
                yield split, clip

    return _run(plan, items(), out)


# ---------------------------------------------------------------------------------------------
# Toyota Smarthome


def import_smarthome(folder: Path, out: Path, options: SmarthomeImportOptions) -> ImportResult:
    """Import Toyota Smarthome pose JSON under the official ``options.benchmark`` protocol."""
    files = _files(folder, ".json", "DIR")
    plan = _Plan(
        kind="smarthome",
        command=f"posekit import smarthome --benchmark {options.benchmark}",
        format="Toyota Smarthome pose JSON (LCRNet++ 13 joints)",
        source=Path(folder),
        classes=smarthome.smarthome_classes(options.benchmark),
        split_names=["train", "val"],
        layout=get_layout("lcrnet13"),
        target=get_layout(options.layout),
        experts=("lcrnet",),
        split_rule=_SMARTHOME_RULES[options.benchmark],
        notes=[
            "Persons: the person at position m of each frame in track m, as the thesis authors read them.",
            "Coordinates: pixels of the 640 x 480 videos; pose3d (when the files have it) into keypoints_3d.",
        ],
        options=options,
        coordinates_3d=smarthome.COORDINATES_3D,
    )

    def items() -> Iterator[Item]:
        for path in files:
            sample = smarthome.SmarthomeSample.parse(path.stem)
            if sample is None:
                yield Dropped(path.stem, "", "read", f"{path}: not a Smarthome sample name (Action_pSS_rRR_vVV_cCC)")
                continue
            split = smarthome.smarthome_split(sample, options.benchmark)
            if split is None:
                plan.excluded += 1
                continue
            if sample.action not in plan.classes:
                yield Dropped(sample.name, sample.action, "label", f"{sample.action!r} is not a Smarthome class")
                continue
            try:
                clip = smarthome.smarthome_clip(path)
            except InputFileError as exc:
                yield _read_error(path, sample.action, exc)
                continue
            if not clip.tracks:
                yield Dropped(sample.name, sample.action, "empty", "no person in any frame")
                continue
            clip.label = sample.action
            yield split, clip

    return _run(plan, items(), out)


_SMARTHOME_RULES = {
    "cs": "cross-subject: subjects 3, 4, 6, 7, 9, 12, 13, 15, 17, 19, 25 train, the others val (31 classes)",
    "cv1": "cross-view 1: camera 1 train, camera 2 val (19 classes; other cameras left out)",
    "cv2": "cross-view 2: cameras 1, 3, 4, 6, 7 train, camera 2 val (19 classes; camera 5 left out)",
}


# ---------------------------------------------------------------------------------------------
# Penn Action


def import_penn_action(folder: Path, out: Path, options: PennActionImportOptions) -> ImportResult:
    """Import Penn Action's ``labels/*.mat`` under its standard train/test split."""
    root = Path(folder)
    labels_dir = root / "labels" if (root / "labels").is_dir() else root
    files = _files(labels_dir, ".mat", "DIR")
    parsed: list[Item] = []
    for path in files:
        try:
            clip, action, split = penn_action.penn_clip(path)
        except InputFileError as exc:
            parsed.append(_read_error(path, "", exc))
            continue
        clip.label = action
        parsed.append((split, clip))
    classes = sorted({item[1].label for item in parsed if not isinstance(item, Dropped)})
    plan = _Plan(
        kind="penn-action",
        command="posekit import penn-action",
        format="Penn Action .mat labels (13 joints + visibility)",
        source=labels_dir,
        classes=classes,
        split_names=["train", "val"],
        layout=get_layout("penn13"),
        target=get_layout(options.layout),
        experts=("penn-action-labels",),
        split_rule="the labels' train flag: 1 train, -1 (test) val",
        notes=[
            "Joint scores: the visibility flag (an invisible joint keeps its annotated position with score 0).",
            "To 17 joints (posetics17) as the thesis does: nose = head, mouth half-way head-neck, neck, chest and "
            "mid-hip interpolated.",
        ],
        options=options,
    )
    return _run(plan, parsed, out)


__all__ = [
    "ImportResult",
    "KineticsSkeletonImportOptions",
    "NtuImportOptions",
    "PennActionImportOptions",
    "PysklImportOptions",
    "SmarthomeImportOptions",
    "import_kinetics_skeleton",
    "import_ntu",
    "import_penn_action",
    "import_pyskl",
    "import_smarthome",
]
