"""What an export reads: the splits of a built dataset or of a folder of skeletons shards, with their classes
and labels, and the refusal of clips without a class (label -1, which no trainer takes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from posekit.core.errors import ConfigError, ShardError
from posekit.io.samples import DATASET_JSON, LabelMap, resolve_labels
from posekit.io.schema import ShardInfo
from posekit.io.shards import iter_skeleton_clips, list_shards, read_shard_info
from posekit.skeleton.layouts import JointLayout
from posekit.skeleton.records import SkeletonClip


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


def layout_of(split: Split) -> JointLayout:
    """The joint layout of ``split``'s shards (its first shard's)."""
    return read_shard_info(list_shards(split.folder, "skeletons")[0]).layout


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


def refuse_unlabelled(splits: list[Split]) -> None:
    """Refuse, in one line, a dataset with clips a trainer cannot take (label -1)."""
    missing = [c for split in splits for c in unlabelled_clips(split)]
    if missing:
        raise ConfigError(
            f"{len(missing)} clip(s) have no class (first: {missing[0]}), and training on label -1 fails; "
            "export a dataset built by posekit build-dataset (or with a labels sidecar), or pass --allow-unlabelled"
        )
