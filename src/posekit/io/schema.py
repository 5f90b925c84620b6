"""The two Parquet shard kinds, their Arrow schemas and file metadata.

*skeletons*: one row per clip; every person track of the clip nested inside.
*proposals*: one row per (clip, expert, frame); every person that expert saw nested inside.

Both store keypoints as ``FixedSizeList<FixedSizeList<float32, 2>, V>`` (pixels, origin at
the frame's top-left corner, x right, y down) with NaN for missing joints, so pyarrow,
pandas, polars and DuckDB read them as plain nested arrays. See ``docs/shards.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa

from posekit import __version__
from posekit.core.errors import ShardError
from posekit.skeleton.layouts import JointLayout

SCHEMA_VERSION = "1"
COORDINATES = "pixels; origin top-left of the frame; x right, y down; NaN = missing joint"
KINDS = ("skeletons", "proposals")


def keypoints_type(num_joints: int) -> pa.DataType:
    return pa.list_(pa.list_(pa.float32(), 2), num_joints)


def keypoints_3d_type(num_joints: int) -> pa.DataType:
    """The (empty for now) 3D slot of dataset shards: per track, ``(n, V, 3)`` metres."""
    V = num_joints
    return pa.list_(
        pa.struct(
            [
                pa.field("track_id", pa.int32()),
                pa.field("t", pa.list_(pa.int32())),
                pa.field("keypoints", pa.list_(pa.list_(pa.list_(pa.float32(), 3), V))),
            ]
        )
    )


OPTIONAL_COLUMNS: dict[str, str] = {
    "label": "class name after the dataset's label map (datasets built by posekit build-dataset)",
    "source_label": "the label as the annotations gave it, before the label map",
    "text": "a textual description of the action (PoseCap)",
    "keypoints_3d": "3D skeletons per track (PoseCap slot; null until a 3D lifter fills it)",
}
"""Columns a skeletons shard may carry after ``tracks`` (schema version 1, additive): readers
that do not know them ignore them. ``ShardInfo.columns`` names the ones a shard has."""


def optional_column_type(name: str, num_joints: int) -> pa.DataType:
    if name not in OPTIONAL_COLUMNS:
        raise ValueError(f"unknown optional column {name!r}; known: {', '.join(OPTIONAL_COLUMNS)}")
    return keypoints_3d_type(num_joints) if name == "keypoints_3d" else pa.string()


def skeletons_schema(num_joints: int, columns: tuple[str, ...] = ()) -> pa.Schema:
    """Arrow schema of a skeletons shard; ``columns`` adds optional columns (``OPTIONAL_COLUMNS``)."""
    V = num_joints
    track = pa.struct(
        [
            pa.field("track_id", pa.int32(), nullable=False),
            pa.field("t", pa.list_(pa.int32())),
            pa.field("keypoints", pa.list_(keypoints_type(V))),
            pa.field("joint_scores", pa.list_(pa.list_(pa.float32(), V))),
            pa.field("joint_source", pa.list_(pa.list_(pa.int8(), V))),
            pa.field("boxes", pa.list_(pa.list_(pa.float32(), 4))),
            pa.field("box_scores", pa.list_(pa.float32())),
            pa.field("confidence", pa.list_(pa.float32())),
            pa.field("normaliser", pa.list_(pa.int8())),
        ]
    )
    return pa.schema(
        [
            *_clip_fields(),
            pa.field("num_frames", pa.int32()),
            pa.field("frame_index", pa.list_(pa.int32())),
            pa.field("timestamp", pa.list_(pa.float64())),
            pa.field("tracks", pa.list_(track)),
            *[pa.field(name, optional_column_type(name, V)) for name in OPTIONAL_COLUMNS if name in columns],
        ]
    )


def _clip_fields() -> list[pa.Field]:
    """The columns every shard row starts with: which clip, from which file, at what size and rate."""
    return [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("video_path", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("fps", pa.float64()),
    ]


def proposals_schema(num_joints: int) -> pa.Schema:
    V = num_joints
    return pa.schema(
        [
            *_clip_fields(),
            pa.field("expert", pa.string(), nullable=False),
            pa.field("t", pa.int32(), nullable=False),
            pa.field("frame_index", pa.int32()),
            pa.field("timestamp", pa.float64()),
            pa.field("track_ids", pa.list_(pa.int32())),
            pa.field("keypoints", pa.list_(keypoints_type(V))),
            pa.field("joint_scores", pa.list_(pa.list_(pa.float32(), V))),
            pa.field("boxes", pa.list_(pa.list_(pa.float32(), 4))),
            pa.field("box_scores", pa.list_(pa.float32())),
        ]
    )


@dataclass(frozen=True)
class ShardInfo:
    """What a shard says about itself in its Parquet key-value metadata."""

    kind: str
    layout: JointLayout
    experts: tuple[str, ...]
    schema_version: str = SCHEMA_VERSION
    posekit_version: str = __version__
    coordinates: str = COORDINATES
    extra: str = "{}"
    columns: tuple[str, ...] = ()

    def to_metadata(self) -> dict[bytes, bytes]:
        md = {
            b"posekit.kind": self.kind.encode(),
            b"posekit.schema_version": self.schema_version.encode(),
            b"posekit.version": self.posekit_version.encode(),
            b"posekit.layout": self.layout.to_json().encode(),
            b"posekit.experts": json.dumps(list(self.experts)).encode(),
            b"posekit.coordinates": self.coordinates.encode(),
            b"posekit.extra": self.extra.encode(),
        }
        if self.columns:
            md[b"posekit.columns"] = json.dumps(list(self.columns)).encode()
        return md

    @classmethod
    def from_metadata(cls, metadata: dict[bytes, bytes] | None, where: str) -> ShardInfo:
        md = metadata or {}
        if b"posekit.kind" not in md:
            raise ShardError(f"{where} is a Parquet file but not a posekit shard (no posekit metadata)")
        version = md[b"posekit.schema_version"].decode()
        if version != SCHEMA_VERSION:
            raise ShardError(f"{where} has shard schema version {version}; this posekit reads version {SCHEMA_VERSION}")
        return cls(
            kind=md[b"posekit.kind"].decode(),
            layout=JointLayout.from_json(md[b"posekit.layout"].decode()),
            experts=tuple(json.loads(md[b"posekit.experts"].decode())),
            schema_version=version,
            posekit_version=md[b"posekit.version"].decode(),
            coordinates=md[b"posekit.coordinates"].decode(),
            extra=md.get(b"posekit.extra", b"{}").decode(),
            columns=tuple(json.loads(md.get(b"posekit.columns", b"[]").decode())),
        )

    def schema(self) -> pa.Schema:
        if self.kind not in KINDS:
            raise ValueError(f"unknown shard kind {self.kind!r}; kinds: {KINDS}")
        if self.kind == "skeletons":
            schema = skeletons_schema(self.layout.num_joints, self.columns)
        else:
            schema = proposals_schema(self.layout.num_joints)
        return schema.with_metadata(self.to_metadata())
