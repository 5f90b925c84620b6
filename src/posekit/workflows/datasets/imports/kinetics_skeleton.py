"""``posekit import kinetics-skeleton``: ST-GCN's Kinetics-skeleton JSON, one folder per split with its label file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from posekit.core.errors import ConfigError, InputFileError
from posekit.io.formats import kinetics_skeleton
from posekit.skeleton.layouts import check_layout_option, get_layout
from posekit.workflows.datasets.build.write import Dropped
from posekit.workflows.datasets.imports.plan import ImportPlan, ImportResult, Item, files_in, read_error, write_import


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
    files = [files_in(folder, ".json", "DIR") for folder in folders]
    labels = []
    for path in label_files:
        try:
            labels.append(kinetics_skeleton.read_labels(path))
        except InputFileError as exc:
            raise ConfigError(str(exc)) from None
    names = {index: label for found in labels for label, index, _ in found.values()}
    classes = [names.get(i, f"class_{i}") for i in range(max(names, default=-1) + 1)]
    width, height = options.frame_size
    plan = ImportPlan(
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
                    yield read_error(path, label, exc)
                    continue
                if not clip.tracks:
                    yield Dropped(path.stem, label, "empty", "no person in any frame")
                    continue
                clip.label = classes[index]
                yield split, clip

    return write_import(plan, items(), out)
