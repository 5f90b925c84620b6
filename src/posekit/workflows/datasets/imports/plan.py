"""What every import shares: its plan (source, classes, splits, layouts, how it was made), the clips or drops
an importer yields, and :func:`write_import`, which writes them as a dataset through the build's writer."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from posekit.core.errors import ConfigError, InputFileError
from posekit.io.outputs import check_output_dir
from posekit.io.schema import COORDINATES_3D, ShardInfo
from posekit.skeleton.convert import convert_keypoints
from posekit.skeleton.layouts import JointLayout
from posekit.skeleton.records import SkeletonClip, SkeletonTrack
from posekit.workflows.datasets.build.options import BuildOptions
from posekit.workflows.datasets.build.write import Dropped, dataset_doc, finish_dataset, write_split_shards

log = logging.getLogger(__name__)

IMPORT_WRITE = BuildOptions(shuffle_clips=1)
"""Shard and row-group sizes of imported datasets (build-dataset's defaults), clips in source order."""


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
class ImportPlan:
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


def files_in(folder: Path, suffix: str, flag: str) -> list[Path]:
    """The ``*suffix`` files of ``folder`` (the importer's ``flag``), sorted; ConfigError naming the fix when none."""
    if not Path(folder).is_dir():
        raise ConfigError(f"{flag} {folder} is not a folder; give the folder holding the *{suffix} files")
    files = sorted(p for p in Path(folder).iterdir() if p.suffix == suffix and p.is_file())
    if not files:
        raise ConfigError(f"no *{suffix} files in {folder}; give the folder that holds them")
    return files


def read_error(path: Path, label: str, exc: InputFileError) -> Dropped:
    """The drop of a file that cannot be read, with the reader's message."""
    return Dropped(path.stem, label, "read", str(exc))


def _track_to_layout(track: SkeletonTrack, src: JointLayout, dst: JointLayout) -> SkeletonTrack:
    """``track`` with its 2D and 3D joints mapped to ``dst`` (:func:`convert_keypoints`)."""
    kp, sc = convert_keypoints(track.keypoints, track.joint_scores, src, dst)
    kp3, sc3 = (None, None)
    if track.keypoints_3d is not None:
        kp3, sc3 = convert_keypoints(track.keypoints_3d, track.joint_scores_3d, src, dst)
    source = np.where(np.isfinite(kp).all(-1), 0, -1).astype(np.int8)
    return replace(track, keypoints=kp, joint_scores=sc, joint_source=source, keypoints_3d=kp3, joint_scores_3d=sc3)


def write_import(plan: ImportPlan, items: Iterable[Item], out: Path) -> ImportResult:
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
