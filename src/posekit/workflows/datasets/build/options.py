"""The options of ``posekit build-dataset``: what decides the assembled dataset (recorded in ``dataset.json``).

``posekit import`` writes with the shard sizes declared here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from posekit.core.options import check_bounds


@dataclass(frozen=True)
class BuildOptions:
    """What decides the assembled dataset (recorded in ``dataset.json``); ``kind`` and ``captions`` come from the
    command (``posecap`` adds a ``text`` column, from the captions file or label templates)."""

    kind: Literal["posetics", "posecap"] = field(default="posetics", metadata={"cli": False})
    min_pose_frames: float = field(
        default=0.5,
        metadata={"help": "Keep clips with a pose in at least this share of frames (thesis 3.5).", "min": 0, "max": 1},
    )
    label_map: str | None = field(
        default="auto",
        metadata={
            "help": "auto (kinetics400-posetics for a Kinetics CSV, else none), none, kinetics400-posetics, "
            "or a JSON/CSV file of label -> class."
        },
    )
    split: Literal["auto", "official", "stratified"] = field(
        default="auto",
        metadata={"help": "official (from the annotations), stratified, or auto (official when every clip has one)."},
    )
    val_fraction: float = field(
        default=0.1,
        metadata={
            "help": "Share of the clips in val (stratified split): round(clips x fraction), spread over the classes.",
            "min": 0,
            "max": 1,
            "max_open": True,
        },
    )
    val_every_class: bool = field(
        default=False,
        metadata={
            "help": "Stratified split: give every class of two or more clips at least one val and one train clip, "
            "even beyond round(clips x fraction)."
        },
    )
    seed: int = field(default=0, metadata={"help": "Seed of the split, the shuffling into shards and the templates."})
    shard_clips: int = field(default=256, metadata={"help": "Clips per output shard.", "min": 1})
    row_group_clips: int = field(
        default=16, metadata={"help": "Clips per Parquet row group (what random access decodes).", "min": 1}
    )
    shuffle_clips: int = field(
        default=2048, metadata={"help": "Clips held in memory and shuffled together before writing.", "min": 1}
    )
    captions: str | None = field(default=None, metadata={"cli": False})
    allow_incomplete: bool = field(
        default=False, metadata={"help": "Assemble even if some extraction parts have not finished."}
    )

    def __post_init__(self) -> None:
        check_bounds(self)

    @property
    def columns(self) -> tuple[str, ...]:
        extra = ("text",) if self.kind == "posecap" else ()
        return ("label", "source_label", *extra)
