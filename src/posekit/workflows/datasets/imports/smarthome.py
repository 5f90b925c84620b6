"""``posekit import smarthome``: Toyota Smarthome's pose JSON under an official protocol."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from posekit.core.errors import InputFileError
from posekit.io.formats import smarthome
from posekit.skeleton.layouts import check_layout_option, get_layout
from posekit.workflows.datasets.build.write import Dropped
from posekit.workflows.datasets.imports.plan import ImportPlan, ImportResult, Item, files_in, read_error, write_import


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


_SMARTHOME_RULES = {
    "cs": "cross-subject: subjects 3, 4, 6, 7, 9, 12, 13, 15, 17, 19, 25 train, the others val (31 classes)",
    "cv1": "cross-view 1: camera 1 train, camera 2 val (19 classes; other cameras left out)",
    "cv2": "cross-view 2: cameras 1, 3, 4, 6, 7 train, camera 2 val (19 classes; camera 5 left out)",
}


def import_smarthome(folder: Path, out: Path, options: SmarthomeImportOptions) -> ImportResult:
    """Import Toyota Smarthome pose JSON under the official ``options.benchmark`` protocol."""
    files = files_in(folder, ".json", "DIR")
    plan = ImportPlan(
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
                yield read_error(path, sample.action, exc)
                continue
            if not clip.tracks:
                yield Dropped(sample.name, sample.action, "empty", "no person in any frame")
                continue
            clip.label = sample.action
            yield split, clip

    return write_import(plan, items(), out)
