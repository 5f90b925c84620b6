"""``posekit import ntu``: NTU RGB+D 60/120 ``.skeleton`` files under an official benchmark's split."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from posekit.core.errors import InputFileError
from posekit.core.options import check_bounds
from posekit.io.formats import ntu
from posekit.skeleton.layouts import check_layout_option, get_layout
from posekit.workflows.datasets.build.write import Dropped
from posekit.workflows.datasets.imports.plan import ImportPlan, ImportResult, Item, files_in, read_error, write_import


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


_NTU_RULES = {
    "xsub": "NTU 60 cross-subject: performers 1, 2, 4, 5, 8, 9, 13-19, 25, 27, 28, 31, 34, 35, 38 train",
    "xview": "NTU 60 cross-view: cameras 2 and 3 train, camera 1 val",
    "xsub120": "NTU 120 cross-subject: the 53 training performers of Liu et al. 2019 train",
    "xset120": "NTU 120 cross-setup: even setup ids train, odd val",
}


def import_ntu(skeleton_dir: Path, out: Path, options: NtuImportOptions) -> ImportResult:
    """Import NTU RGB+D ``.skeleton`` files under the official ``options.benchmark`` split."""
    files = files_in(skeleton_dir, ".skeleton", "SKELETON_DIR")
    missing = ntu.read_missing_list(Path(options.missing)) if options.missing else set()
    plan = ImportPlan(
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
                yield read_error(path, sample.label, exc)
                continue
            if not clip.tracks:
                yield Dropped(sample.name, sample.label, "empty", "no body in any frame")
                continue
            plan.tally["bodies_left_out"] += left_out
            clip.label = sample.label
            yield split, clip

    return write_import(plan, items(), out)
