"""``posekit import penn-action``: Penn Action's ``labels/*.mat`` under its standard train/test split."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from posekit.core.errors import InputFileError
from posekit.io.formats import penn_action
from posekit.skeleton.layouts import check_layout_option, get_layout
from posekit.workflows.datasets.build.write import Dropped
from posekit.workflows.datasets.imports.plan import ImportPlan, ImportResult, Item, files_in, read_error, write_import


@dataclass(frozen=True)
class PennActionImportOptions:
    """How ``posekit import penn-action`` reads Penn Action's ``.mat`` labels."""

    layout: str = field(
        default="posetics17",
        metadata={"help": "Joint layout of the shards (posetics17: the 13 joints completed to 17 as the thesis does)."},
    )

    def __post_init__(self) -> None:
        check_layout_option(self.layout, "--layout")


def import_penn_action(folder: Path, out: Path, options: PennActionImportOptions) -> ImportResult:
    """Import Penn Action's ``labels/*.mat`` under its standard train/test split."""
    root = Path(folder)
    labels_dir = root / "labels" if (root / "labels").is_dir() else root
    files = files_in(labels_dir, ".mat", "DIR")
    parsed: list[Item] = []
    for path in files:
        try:
            clip, action, split = penn_action.penn_clip(path)
        except InputFileError as exc:
            parsed.append(read_error(path, "", exc))
            continue
        clip.label = action
        parsed.append((split, clip))
    classes = sorted({item[1].label for item in parsed if not isinstance(item, Dropped)})
    plan = ImportPlan(
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
    return write_import(plan, parsed, out)
