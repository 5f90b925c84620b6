"""``posekit import pyskl``: a pyskl / MMAction2 skeleton pickle, 2D or 3D, with its own split lists."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posekit.core.errors import ConfigError, InputFileError
from posekit.io.formats import pyskl
from posekit.skeleton.layouts import check_layout_option, get_layout
from posekit.workflows.datasets.build.write import Dropped
from posekit.workflows.datasets.imports.plan import ImportPlan, ImportResult, Item, write_import

PYSKL_LAYOUTS = {17: "coco17", 25: "ntu25"}
"""The layout of a pyskl pickle by its joint count, when ``--layout`` does not name it."""


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
    plan = ImportPlan(
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

    return write_import(plan, items(), out)
